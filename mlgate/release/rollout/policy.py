"""The rollout policy: canary steps, bake time, analysis thresholds, and which changes need a canary.

It lives in ``mlflow_config/rollout.yaml``, beside the gate's policy.yaml but apart from it, so
tuning a bake time does not invalidate every gate report (their hash covers policy.yaml). Every
key is optional; ``models: {NAME: {...}}`` overrides any of them for one model::

    steps: [5, 25, 50, 100]       # percent of traffic to the canary at each step; may start with shadow
    bake: 10m                     # how long each step runs before it is judged
    min_requests: 200             # per route; fewer and the analysis is inconclusive (the step bakes again)
    max_inconclusive: 4           # consecutive inconclusive analyses, then pause (older: max_extensions: N = N+1)
    watch: 1h                     # after production changes, judge it against the previous version; 0: no watch
    shadow:                       # a plan's first step `shadow`: production requests mirrored to the candidate
      share: 100                      # percent of production requests mirrored
      min_agreement: 0.95             # classification: share of the same rows given the same answer
      max_error_p95: 0.1              # regression: p95 of |candidate - production| / mean |production|
      # max_error_rate_increase, max_p99_latency_ratio, max_prediction_psi: analysis's unless set here
    analysis:
      source: record                  # or prometheus, with url, timeout, queries, metrics (prom_policy.py)
      max_error_rate_increase: 0.01   # canary error rate minus production's (HTTP >= 400)
      max_p99_latency_ratio: 1.5      # canary p99 / production p99
      max_prediction_psi: 0.2         # PSI between the two prediction distributions
      kpi:                            # optional business KPI, per route, from SQL
        url: sqlite:///kpi.db
        query: SELECT AVG(converted) FROM outcomes WHERE route = :route AND ts >= :since AND ts < :until
        higher_is_better: true
        max_relative_drop: 0.05
    require_canary:                 # changes that may not go straight to production after staging
      contract_major_change: true   # a new major version of the data contract
      model_family_change: true     # another flavor or estimator class than production's
      max_metric_delta: 0.05        # relative change of any metric shared with production
    models:
      fraud-detector: {bake: 30m, analysis: {max_prediction_psi: 0.1}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlgate.config.durations import parse_duration
from mlgate.config.files import read_yaml
from mlgate.exceptions import PolicyError
from mlgate.release.rollout.prom_policy import PrometheusSpec, parse_source
from mlgate.release.rollout.realized import RealizedSpec, parse_realized

if TYPE_CHECKING:
    from mlgate.config import Settings

ROLLOUT_FILE = "rollout.yaml"
SHADOW = 0.0  # the shadow step in a plan (written `shadow`): no traffic, production requests mirrored


def parse_steps(raw: Any, what: str = "steps") -> tuple[float, ...]:
    """Canary weights in percent, strictly increasing, each in (0, 100], ending at 100; the first may be
    ``shadow`` (held as SHADOW, 0.0): the candidate then gets mirrored requests before any traffic."""
    if isinstance(raw, str):
        raw = [part for part in raw.replace(" ", "").split(",") if part]
    if not isinstance(raw, list | tuple) or not raw:
        raise PolicyError(f"{what}: must be a list of percentages such as 5,25,50,100", "fix the steps")
    shadows = [i for i, s in enumerate(raw) if str(s).strip().lower() == "shadow"]
    if shadows and shadows != [0]:
        raise PolicyError(
            f"{what}: {raw!r} has a shadow step that is not the first, or more than one",
            "a gateway mirrors to one candidate before it gets traffic: write it like shadow,5,25,100",
        )
    if shadows:
        return (SHADOW, *parse_steps(list(raw[1:]) or [100], what))
    try:
        steps = tuple(float(str(s).rstrip("%")) for s in raw)
    except ValueError:
        raise PolicyError(f"{what}: {raw!r} are not all numbers", "write them like 5,25,50,100") from None
    if any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(set(steps)):
        raise PolicyError(f"{what}: {raw!r} must increase strictly, each in (0, 100]", "write them like 5,25,50,100")
    if steps[-1] != 100:
        steps = (*steps, 100.0)
    return steps


@dataclass(frozen=True)
class KpiSpec:
    """A business KPI read per route through SQLAlchemy; bound parameters :model :version :route :since :until."""

    url: str
    query: str
    higher_is_better: bool = True
    max_relative_drop: float = 0.05


@dataclass(frozen=True)
class Thresholds:
    """Limits a canary must stay within, compared with production over the same window."""

    max_error_rate_increase: float = 0.01
    max_p99_latency_ratio: float = 1.5
    max_prediction_psi: float = 0.2
    kpi: KpiSpec | None = None
    realized: RealizedSpec | None = None  # a realized metric on labels that came back (release/rollout/realized.py)


@dataclass(frozen=True)
class ShadowPolicy:
    """A shadow step: the share of production requests mirrored, and the limits the candidate's answers to the
    same requests must stay within (None: the canary analysis's threshold)."""

    share: float = 100.0
    min_agreement: float = 0.95  # classification: rows where candidate and production answer the same
    max_error_p95: float = 0.1  # regression: p95 of |candidate - production| / mean |production|
    max_error_rate_increase: float | None = None
    max_p99_latency_ratio: float | None = None
    max_prediction_psi: float | None = None


@dataclass(frozen=True)
class CanaryRules:
    """Which changes need a canary before production."""

    contract_major_change: bool = True
    model_family_change: bool = True
    max_metric_delta: float | None = 0.05


@dataclass(frozen=True)
class RolloutPolicy:
    """The whole rollout section, with defaults for what the file leaves out."""

    steps: tuple[float, ...] = (5.0, 25.0, 50.0, 100.0)
    bake_seconds: float = 600.0
    min_requests: int = 200
    max_inconclusive: int = 4  # consecutive inconclusive analyses (a step, or the watch's looks), then pause
    watch_seconds: float = 0.0  # the post-promotion watch (release/rollout/watch.py); 0: none
    thresholds: Thresholds = field(default_factory=Thresholds)
    require_canary: CanaryRules = field(default_factory=CanaryRules)
    shadow: ShadowPolicy = field(default_factory=ShadowPolicy)
    source: str = "defaults"
    prometheus: PrometheusSpec | None = None  # analysis.source: prometheus; None: the gateway's record


def _section(data: Any, key: str, where: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: {key} must be a mapping", "see the rollout policy in README")
    return value


def _number(data: dict[str, Any], key: str, default: float, where: str) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PolicyError(f"{where}: {key} must be a non-negative number, got {value!r}", "fix the value")
    return float(value)


def _known(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(map(str, set(data) - allowed))  # YAML keys may be numbers
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(unknown)}", f"known: {', '.join(sorted(allowed))}")


_KEYS = {"steps", "bake", "min_requests", "max_inconclusive", "max_extensions", "analysis", "require_canary", "watch",
         "shadow"}  # fmt: skip
_SOURCE_KEYS = {"source", "url", "timeout", "queries", "metrics"}  # prom_policy.py


def _shadow_policy(data: dict[str, Any], where: str) -> ShadowPolicy:
    optional = ("max_error_rate_increase", "max_p99_latency_ratio", "max_prediction_psi")
    _known(data, {"share", "min_agreement", "max_error_p95", *optional}, where)
    base = ShadowPolicy()
    share = _number(data, "share", base.share, where)
    agreement = _number(data, "min_agreement", base.min_agreement, where)
    if not 0 < share <= 100 or agreement > 1:
        raise PolicyError(f"{where}: share must be in (0, 100] and min_agreement in [0, 1]", "fix the value")
    limits = {k: _number(data, k, 0, where) for k in optional if data.get(k) is not None}
    return ShadowPolicy(share, agreement, _number(data, "max_error_p95", base.max_error_p95, where), **limits)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_rollout_policy(data: Any, source: str = ROLLOUT_FILE, model: str | None = None) -> RolloutPolicy:
    """Build the rollout policy from the parsed rollout.yaml, with ``models.<model>`` merged over it."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: must be a mapping", "see the rollout policy in README")
    models = _section(data, "models", source)
    _known(data, _KEYS | {"models"}, source)
    section = {k: v for k, v in data.items() if k != "models"}
    where = source
    if model is not None and model in models:
        override = models[model]
        if not isinstance(override, dict):
            raise PolicyError(f"{source}: models.{model} must be a mapping", "see the rollout policy in README")
        _known(override, _KEYS, f"{source}: models.{model}")
        section = _merge(section, override)
        where = f"{source} (with models.{model})"
    analysis = _section(section, "analysis", where)
    limits = {"max_error_rate_increase", "max_p99_latency_ratio", "max_prediction_psi", "kpi", "realized"}
    _known(analysis, limits | _SOURCE_KEYS, where + ".analysis")
    kpi = None
    raw_kpi = _section(analysis, "kpi", where + ".analysis")
    if raw_kpi:
        kwhere = where + ".analysis.kpi"
        _known(raw_kpi, {"url", "query", "higher_is_better", "max_relative_drop"}, kwhere)
        if not isinstance(raw_kpi.get("url"), str) or not isinstance(raw_kpi.get("query"), str):
            raise PolicyError(f"{kwhere}: needs url (SQLAlchemy URL) and query (SQL text)", "add both")
        kpi = KpiSpec(
            url=raw_kpi["url"],
            query=raw_kpi["query"],
            higher_is_better=bool(raw_kpi.get("higher_is_better", True)),
            max_relative_drop=_number(raw_kpi, "max_relative_drop", 0.05, kwhere),
        )
    defaults = Thresholds()
    thresholds = Thresholds(
        max_error_rate_increase=_number(
            analysis, "max_error_rate_increase", defaults.max_error_rate_increase, where + ".analysis"
        ),
        max_p99_latency_ratio=_number(analysis, "max_p99_latency_ratio", defaults.max_p99_latency_ratio, where),
        max_prediction_psi=_number(analysis, "max_prediction_psi", defaults.max_prediction_psi, where),
        kpi=kpi,
        realized=parse_realized(analysis.get("realized"), where + ".analysis.realized"),
    )
    rules_raw = _section(section, "require_canary", where)
    _known(rules_raw, {"contract_major_change", "model_family_change", "max_metric_delta"}, where + ".require_canary")
    delta = rules_raw.get("max_metric_delta", CanaryRules.max_metric_delta)
    rules = CanaryRules(
        contract_major_change=bool(rules_raw.get("contract_major_change", True)),
        model_family_change=bool(rules_raw.get("model_family_change", True)),
        max_metric_delta=None if delta is None else _number(rules_raw, "max_metric_delta", 0.05, where),
    )
    base = RolloutPolicy()
    return RolloutPolicy(
        steps=parse_steps(section["steps"], where + ".steps") if "steps" in section else base.steps,
        bake_seconds=parse_duration(section.get("bake", base.bake_seconds), f"{where}: bake", error=PolicyError),
        min_requests=int(_number(section, "min_requests", base.min_requests, where)),
        max_inconclusive=_max_inconclusive(section, where),
        watch_seconds=parse_duration(section.get("watch", 0), f"{where}: watch", error=PolicyError),
        thresholds=thresholds,
        require_canary=rules,
        shadow=_shadow_policy(_section(section, "shadow", where), where + ".shadow"),
        source=source,
        prometheus=parse_source(analysis, where + ".analysis"),
    )


def _max_inconclusive(section: dict[str, Any], where: str) -> int:
    """``max_inconclusive`` (at least 1), or the older ``max_extensions`` (extra bake periods: N means N + 1)."""
    if "max_inconclusive" in section and "max_extensions" in section:
        raise PolicyError(
            f"{where}: both max_inconclusive and max_extensions", "keep max_inconclusive (max_extensions + 1)"
        )
    if "max_extensions" in section:
        return int(_number(section, "max_extensions", 3, where)) + 1
    value = int(_number(section, "max_inconclusive", RolloutPolicy.max_inconclusive, where))
    if value < 1:
        raise PolicyError(f"{where}: max_inconclusive must be at least 1, got {value}", "e.g. max_inconclusive: 3")
    return value


def load_rollout_policy(settings: Settings, model: str | None = None) -> RolloutPolicy:
    """The rollout policy for ``model`` from ``rollout.yaml`` in the config folder, or the defaults."""
    path = settings.config_file(ROLLOUT_FILE)
    if path is None:
        return RolloutPolicy()
    return parse_rollout_policy(read_yaml(path, error=PolicyError), str(path), model)
