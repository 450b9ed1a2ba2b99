"""One monitoring pass: read a window (or a batch file), compute every signal, evaluate rules, alert, report.

    result = run_pass(registry, "fraud", MonitorOptions(window_seconds=3600))
    result.signals    # flat {signal: value} that alert rules in alerts.yaml refer to
    result.checks     # each rule with its value and whether it fired
    result.report_path

Settings come from mlflow_config/monitor.yaml (all optional)::

    psi_threshold: 0.2
    tests: [ks, chi2]             # statistical tests on top of PSI
    report_dir: .mlgate/reports   # relative to the project root
    store_url: sqlite:///...      # the gateway's prediction record (default: beside the registry)
    cost: {...}                   # see mlgate/monitor/cost.py
    kpis: [...]                   # see mlgate/stats/kpi.py
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.alerts import Alert, AlertRouter
from mlgate.alerts.rules import evaluate, load_rules
from mlgate.config.files import check_keys, mapping, read_yaml
from mlgate.contracts import contract_of_version
from mlgate.exceptions import ConfigError, MlgateError, UsageError
from mlgate.monitor.cost import cost_of
from mlgate.monitor.drift import PSI_THRESHOLD
from mlgate.monitor.ground_truth import window_truth
from mlgate.monitor.health import service_health
from mlgate.monitor.kpi import kpi_signals
from mlgate.monitor.report import render_html
from mlgate.monitor.spark import is_spark_frame, spark_profile
from mlgate.monitor.stream import judge, plans_for, profile_frame, stream_batch
from mlgate.registry import mlflow_uris
from mlgate.serving.record import PredictionStore, default_store_url
from mlgate.stats.kpi import read_kpi
from mlgate.stats.profile import load_profile, prediction_frame

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.registry import Registry

log = logging.getLogger("mlgate.monitor")
MONITOR_FILE = "monitor.yaml"
_MONITOR_KEYS = ("psi_threshold", "tests", "report_dir", "store_url", "cost", "kpis", "labels")
_COST_KEYS = ("instance_cost_per_hour", "cost_per_request", "currency", "success_status_below")
_KPI_KEYS = ("name", "source", "baseline", "threshold", "direction")
_KPI_SOURCE_KEYS = {
    "csv": ("kind", "path", "column", "time_column"),
    "http": ("kind", "url", "field"),
    "sql": ("kind", "url", "query"),
}
REPORT_ARTIFACT_DIR = "mlgate/monitoring"
Progress = Callable[[int, int], None]  # (done, total) in rows (or bytes for CSV)
KEEP_ROWS = 1_000_000  # a batch up to this size is also held whole (labels, estimates); bigger ones only stream


@dataclass
class MonitorOptions:
    """What one pass looks at and where it writes."""

    window_seconds: float = 3600.0
    batch: str | Path | Any = None  # a CSV / Parquet file, or a pyspark DataFrame (mlgate.monitor.spark)
    version: str | None = None
    tests: tuple[str, ...] | None = None  # None: from monitor.yaml
    report_dir: str | Path | None = None
    log_report: bool = True
    alert: bool = True
    now: datetime | None = None
    progress: Progress | None = None
    score: bool = False  # a batch without predictions: score it with the version's model first


@dataclass
class PassResult:
    """Everything one pass found."""

    model: str
    version: str
    at: str
    source: str
    rows: int
    window_label: str
    drift: Any = None
    quality: Any = None
    health: Any = None
    kpis: list[Any] = field(default_factory=list)
    cost: Any = None
    truth: Any = None  # realized and estimated performance (mlgate.monitor.ground_truth)
    signals: dict[str, float | None] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    report_path: str | None = None

    @property
    def firing(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["breached"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "at": self.at,
            "source": self.source,
            "rows": self.rows,
            "window": self.window_label,
            "drift": self.drift.to_dict() if self.drift else None,
            "quality": self.quality.to_dict() if self.quality else None,
            "health": self.health.to_dict() if self.health else None,
            "kpis": [k.to_dict() for k in self.kpis],
            "cost": self.cost.to_dict() if self.cost else None,
            "ground_truth": self.truth.to_dict() if self.truth else None,
            "signals": self.signals,
            "checks": self.checks,
            "notifications": self.notifications,
            "notes": self.notes,
            "report_path": self.report_path,
        }


def load_monitor_config(settings: Any) -> dict[str, Any]:
    """monitor.yaml as a dict (empty when absent); an unknown key anywhere in it is an error naming file and key."""
    path = settings.config_file(MONITOR_FILE)
    if path is None:
        return {}
    data = read_yaml(path)
    check_keys(data, _MONITOR_KEYS, str(path))
    check_keys(mapping(data.get("cost"), f"{path}: cost"), _COST_KEYS, f"{path}: cost")
    check_keys(mapping(data.get("labels"), f"{path}: labels"), ("kind", "url", "query"), f"{path}: labels")
    kpis = data.get("kpis") or []
    if not isinstance(kpis, list):
        raise ConfigError(f"{path}: kpis must be a list of KPIs", "see mlgate/stats/kpi.py for their shape")
    for i, spec in enumerate(kpis):
        where = f"{path}: kpis[{i}]"
        check_keys(mapping(spec, where), _KPI_KEYS, where)
        source = mapping(spec.get("source"), f"{where}.source")
        if source.get("kind") not in _KPI_SOURCE_KEYS:
            kind = source.get("kind")
            raise ConfigError(f"{where}.source.kind: {kind!r}", f"use one of {', '.join(_KPI_SOURCE_KEYS)}")
        check_keys(source, _KPI_SOURCE_KEYS[source["kind"]], f"{where}.source")
    return data


def _resolve_version(registry: Registry, name: str, version: str | None) -> str:
    if version:
        return str(registry.version(name, version).version)
    production = registry.aliases(name).get(registry.settings.aliases.production)
    if production:
        return str(production)
    versions = registry.versions(name)
    if not versions:
        raise UsageError(f"{name} has no versions to monitor", "register one first")
    return str(max(int(v.version) for v in versions))


def compute(
    frame: pd.DataFrame,
    profile: dict[str, Any] | None,
    contract: Any,
    config: dict[str, Any],
    tests: tuple[str, ...],
    window_seconds: float | None,
    expected_rows: float | None = None,
) -> tuple[Any, Any, Any, Any]:
    """Drift, quality, health and cost of one in-memory frame (a gateway window), from its column sketches."""
    plans = plans_for(profile, contract)
    threshold = float(config.get("psi_threshold", PSI_THRESHOLD))
    drift_result, quality = judge(
        profile_frame(frame, plans), profile, contract, tests, threshold, expected_rows, plans
    )
    health = cost = None
    if {"status", "latency_ms"} <= set(frame.columns) and window_seconds:
        health = service_health(frame, window_seconds)
        cost = cost_of(config.get("cost"), health.requests, health.successes, window_seconds)
    return drift_result, quality, health, cost


def _signals(*parts: Any) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for part in parts:
        if part is not None:
            out.update(part.signals())
    return out


def run_pass(
    registry: Registry, name: str, options: MonitorOptions | None = None, router: AlertRouter | None = None
) -> PassResult:
    """One monitoring pass over the gateway's recent window (or ``options.batch``) of ``name``."""
    opts = options or MonitorOptions()
    settings = registry.settings
    config = load_monitor_config(settings)
    now = opts.now or datetime.now(UTC)
    version = _resolve_version(registry, name, opts.version)
    profile = load_profile(registry, name, version)
    notes = [] if profile else [f"{name} v{version} has no reference profile: drift is not computed"]
    contract = _contract(registry, name, version, notes)
    tests = tuple(opts.tests if opts.tests is not None else config.get("tests", ()))
    since = now - timedelta(seconds=opts.window_seconds)
    store = None
    expected = None
    if opts.batch is not None:
        scorer = _scorer(registry, name, version, profile, notes) if opts.score and profile is not None else None
        plans = plans_for(profile, contract)
        if is_spark_frame(opts.batch):  # counted where the table lives; only sketches reach this process
            profiled, batch_name = spark_profile(opts.batch, plans), "a Spark DataFrame"
        else:
            profiled = stream_batch(opts.batch, plans, opts.progress, scorer=scorer, keep_rows=KEEP_ROWS)
            batch_name = str(opts.batch)
        frame = profiled.frame  # None for a batch too big to hold: no labels or estimates from it
        threshold = float(config.get("psi_threshold", PSI_THRESHOLD))
        drift_result, quality = judge(profiled, profile, contract, tests, threshold, None, plans)
        health = cost = None
        rows, source, label = profiled.rows, f"batch {batch_name}", "batch"
    else:
        store = PredictionStore(str(config.get("store_url") or default_store_url(settings)))
        frame = store.window(name, version=version, since=since, until=now)
        previous = store.window(name, version=version, since=since - (now - since), until=since)
        expected = float(len(previous)) if len(previous) else None
        source, label, rows = "gateway record", f"{opts.window_seconds:.0f} s", len(frame)
        drift_result, quality, health, cost = compute(frame, profile, contract, config, tests, opts.window_seconds,
                                                      expected)  # fmt: skip
    truth = None
    if frame is not None:
        truth = window_truth(registry, name, version, frame, config, recorded=store is not None)
    elif profile is not None:
        notes.append(f"batch of {rows:,} rows is over {KEEP_ROWS:,}: streamed; labels and estimates not computed")
    kpis = [read_kpi(spec, since, now, base=_project_root(settings)) for spec in config.get("kpis") or []]
    result = PassResult(name, version, now.isoformat(timespec="seconds"), source, rows, label,
                        drift_result, quality, health, kpis, cost, notes=notes)  # fmt: skip
    result.truth = truth
    result.signals = {**_signals(drift_result, quality, health, cost, truth), **(kpi_signals(kpis) if kpis else {})}
    rules = load_rules(settings)
    per_window = {opts.window_seconds: result.signals}
    for rule in rules:
        if store is not None and rule.window_seconds not in per_window and rule.applies_to(name):
            start = now - timedelta(seconds=rule.window_seconds)
            other = store.window(name, version=version, since=start, until=now)
            per_window[rule.window_seconds] = _signals(
                *compute(other, profile, contract, config, tests, rule.window_seconds)
            )
    for rule in rules:
        if not rule.applies_to(name):
            continue
        signals = per_window.get(rule.window_seconds, result.signals)
        ((_, value, breached),) = evaluate([rule], name, {**result.signals, **signals})
        result.checks.append({"signal": rule.signal, "rule": rule.describe(value), "value": value, "breached": breached,
                              "severity": rule.severity, "threshold": rule.threshold})  # fmt: skip
    if store is not None:
        store.close()
    if opts.alert and rules:
        latest = _report_folder(registry, opts) / f"{result.model}-latest.html"  # written below; linked from alerts
        result.notifications = _alert(registry, router, result, str(latest))
    _write_report(registry, result, opts)
    return result


def _scorer(
    registry: Registry, name: str, version: str, profile: dict[str, Any], notes: list[str]
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Chunk -> the model's predictions on it; a failure is noted once and the pass goes on without them."""
    import pandas as pd

    state: dict[str, Any] = {"model": None, "failed": False}

    def score(chunk: pd.DataFrame) -> pd.DataFrame:
        if state["failed"]:
            return pd.DataFrame(index=chunk.index)
        try:
            if state["model"] is None:
                import mlflow.pyfunc

                with mlflow_uris(registry.settings):
                    state["model"] = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
            inputs = chunk[[c for c in profile.get("features", {}) if c in chunk.columns]]
            return prediction_frame(state["model"].predict(inputs))
        except Exception as exc:  # noqa: BLE001 - scoring is optional evidence; the rest of the pass stands
            notes.append(f"batch not scored with {name} v{version}: {type(exc).__name__}: {str(exc)[:300]}")
            state["failed"] = True
            return pd.DataFrame(index=chunk.index)

    return score


def _contract(registry: Registry, name: str, version: str, notes: list[str]) -> Any:
    try:
        return contract_of_version(registry, name, version)
    except MlgateError as exc:
        notes.append(f"contract not read: {exc.message}")
        return None


def _project_root(settings: Any) -> Path:
    return settings.config_dir.parent if settings.config_dir is not None else Path.cwd()


def _alert(registry: Registry, router: AlertRouter | None, result: PassResult, report: str) -> list[dict[str, Any]]:
    """Fire breached rules, resolve cleared ones, retry old failures; a failure here never stops the pass."""
    notes = []
    try:
        router = router or AlertRouter(registry.settings, registry=registry)
        router.flush()
        for check in result.checks:
            if check["value"] is None:
                continue
            if check["breached"]:
                alert = Alert(
                    model=result.model, signal=check["signal"], severity=check["severity"],
                    summary=f"{result.model} v{result.version}: {check['rule']}", version=result.version,
                    value=check["value"], threshold=check["threshold"],
                    details={"source": result.source, "report": report},
                )  # fmt: skip
                notes.append(router.fire(alert).to_dict())
            elif f"{result.model}::{check['signal']}" in router.firing():
                notes.append(router.resolve(result.model, check["signal"]).to_dict())
    except Exception as exc:  # noqa: BLE001 - alerting problems are reported, monitoring goes on
        log.warning("alerting failed: %s", exc)
        result.notes.append(f"alerting failed: {type(exc).__name__}: {exc}")
    return notes


def _report_folder(registry: Registry, opts: MonitorOptions) -> Path:
    config = load_monitor_config(registry.settings)
    root = _project_root(registry.settings)
    folder = Path(opts.report_dir or config.get("report_dir") or root / ".mlgate" / "reports")
    return folder if folder.is_absolute() else root / folder


def _write_report(registry: Registry, result: PassResult, opts: MonitorOptions) -> None:
    folder = _report_folder(registry, opts)
    folder.mkdir(parents=True, exist_ok=True)
    history_file = folder / f"{result.model}.history.jsonl"
    history = []
    if history_file.exists():
        lines = history_file.read_text().splitlines()[-50:]
        history = [json.loads(line) for line in lines if line.strip()]
    stamp = result.at.replace(":", "").replace("-", "")[:15]
    path = folder / f"{result.model}-v{result.version}-{stamp}.html"
    path.write_text(render_html(result, history, _project_root(registry.settings)))
    (folder / f"{result.model}-latest.html").write_text(path.read_text())
    with history_file.open("a") as handle:
        handle.write(json.dumps({"at": result.at, "signals": result.signals}, default=str) + "\n")
    result.report_path = str(path)
    if opts.log_report:
        try:
            registry.log_version_artifact(result.model, result.version, path, REPORT_ARTIFACT_DIR)
        except MlgateError as exc:
            result.notes.append(f"report not logged to MLflow: {exc.message}")
