"""A whole monitoring pass: gateway record or batch, rules, alert to the owner, report in MLflow and Chromium."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from mlgate.cli import main
from mlgate.config import Settings
from mlgate.monitor.run import MonitorOptions, run_pass
from mlgate.registry import Registry, keys
from mlgate.serving.record import PredictionStore, Served, default_store_url
from mlgate.stats.profile import build_profile, log_profile
from mlgate.testing import tiny_training_data
from tests.alert_helpers import OWNER, Receiver, write_owners
from tests.browser import external_references, render_check, require_chromium, save_docs_screenshot
from tests.monitor_helpers import isolated_version

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture
def monitored(registry: Registry, model_uri: str, settings: Settings) -> str:
    """Version 1 of 'iris' with its reference profile, owned by OWNER, in production."""
    version = isolated_version(registry, "iris", model_uri, {keys.OWNER: OWNER})
    x, y = tiny_training_data()
    log_profile(registry, "iris", version, build_profile(x, y))
    registry.set_alias("iris", settings.aliases.production, version)
    assert settings.config_dir is not None
    (settings.config_dir / "alerts.yaml").write_text(yaml.safe_dump({"rules": [
        {"signal": "drift.max_psi", "threshold": 0.2, "severity": "critical", "window": "1h"},
        {"signal": "health.latency_p95_ms", "threshold": 250, "severity": "warning", "window": "1h"},
    ]}))  # fmt: skip
    (settings.config_dir / "monitor.yaml").write_text(yaml.safe_dump({"cost": {"cost_per_request": 0.001}}))
    return version


def served(version: str, rows: pd.DataFrame, end: datetime, latencies: np.ndarray) -> list[Served]:
    """One answered request per row, every 20 s up to ``end``, as the gateway hands them to its recorder."""
    return [
        Served((end - timedelta(seconds=3000 - 20 * i)).timestamp(), "iris", version, "production",
               f"req-{end:%H%M}-{i}", None, 200, float(latencies[i]), rows.iloc[[i]], [i % 3])
        for i in range(len(rows))
    ]  # fmt: skip


def batch(shift: float, n: int = 600, seed: int = 0) -> pd.DataFrame:
    x, _ = tiny_training_data()
    sample = x.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    sample["petal_width"] = sample["petal_width"] + shift
    return sample


def test_batch_pass_finds_drift_writes_a_report_and_logs_it(registry: Registry, monitored: str, tmp_path: Path) -> None:
    path = tmp_path / "today.parquet"
    batch(shift=1.0).to_parquet(path)
    seen: list[tuple[int, int]] = []
    result = run_pass(
        registry, "iris", MonitorOptions(batch=path, alert=False, progress=lambda d, t: seen.append((d, t)))
    )
    assert result.drift is not None and result.drift.drifted == ["petal_width"]
    assert [c["breached"] for c in result.checks] == [True, False] and result.checks[1]["value"] is None
    assert seen and seen[-1] == (600, 600)
    report = Path(result.report_path or "")
    assert report.is_file() and report.read_text().count("data:image/png;base64,") == 1  # the drifted column
    assert external_references(report) == []
    run_id = registry.record_run_id("iris", monitored)
    logged = registry.list_run_artifacts(run_id, "mlgate/monitoring")
    assert f"mlgate/monitoring/{report.name}" in logged

    csv = tmp_path / "same.csv"
    batch(shift=0.0, seed=1).to_csv(csv, index=False)
    calm = run_pass(registry, "iris", MonitorOptions(batch=csv, alert=False))
    assert calm.drift is not None and calm.drift.drifted == [] and not calm.firing
    assert "Metric timelines" in Path(calm.report_path or "").read_text()  # the second pass plots both


def test_gateway_window_pass_alerts_the_owner_then_resolves(
    registry: Registry, monitored: str, settings: Settings, receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    write_owners(settings, receiver.url, monkeypatch)
    store = PredictionStore(default_store_url(settings))
    now = datetime.now(UTC).replace(microsecond=0)
    rng = np.random.default_rng(0)
    drifted = batch(shift=1.5, n=120)
    latencies = rng.gamma(2.0, 40.0, 120)
    store.record_many(served(monitored, drifted, now, latencies))
    result = run_pass(registry, "iris", MonitorOptions(now=now + timedelta(seconds=1)))
    assert result.health is not None and result.health.requests == 120
    assert result.cost is not None and result.cost.per_inference == pytest.approx(0.001)
    assert result.signals["drift.max_psi"] > 0.2
    fired = [n for n in result.notifications if n["action"] == "sent"]
    assert fired and fired[0]["alert"] == "iris::drift.max_psi"
    assert any(json.loads(r["body"]).get("model") == "iris" or "iris" in json.loads(r["body"]).get("text", "")
               for r in receiver.received)  # fmt: skip
    sent = len(receiver.received)
    again = run_pass(registry, "iris", MonitorOptions(now=now + timedelta(seconds=2)))
    assert {n["action"] for n in again.notifications} <= {"deduplicated"} and len(receiver.received) == sent

    later = now + timedelta(hours=3)  # a calm window: the drifted traffic has aged out
    calm = batch(shift=0.0, n=120, seed=3)
    store.record_many(served(monitored, calm, later, np.full(120, 20.0)))
    cleared = run_pass(registry, "iris", MonitorOptions(now=later + timedelta(seconds=1)))
    assert [n["action"] for n in cleared.notifications] == ["resolved"]
    last = json.loads(receiver.received[-1]["body"])  # Slack by day, the signed pager out of hours
    assert last.get("event") == "alert.resolved" or "RESOLVED" in last.get("text", "")


def test_cli_monitor_json_and_report_renders_in_chromium(cli_env: Settings, registry: Registry, monitored: str,
                                                        tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "batch.csv"
    batch(shift=1.0).to_csv(path, index=False)
    args = ["monitor", "iris", "--batch", str(path), "--json", "--no-alert", "--test", "ks", "--score"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert set(data["drift"]["prediction"]) == {"prediction"}, data["notes"]  # scored with the model
    assert data["drift"]["drifted"] == ["petal_width"] and data["drift"]["features"]["petal_width"]["ks_p_value"] < 0.01
    text = CliRunner().invoke(main, ["monitor", "iris", "--batch", str(path), "--no-alert", "--fail-on-alert"])
    assert text.exit_code == 1 and "FIRING" in text.output and "drifted: petal_width" in text.output
    looped = CliRunner().invoke(main, ["monitor", "iris", "--batch", str(path), "--no-alert", "--every", "0.1s",
                                       "--max-passes", "2"])  # fmt: skip
    assert looped.exit_code == 0 and looped.output.count("drifted: petal_width") == 2
    missing = CliRunner().invoke(main, ["monitor", "iris", "--batch", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.output and "Traceback" not in missing.output

    chromium = require_chromium()
    seen = render_check(data["report_path"], ["h1", ".check", "figure", "img.plot", "table"], chromium)
    for selector in ("h1", ".check", "figure", "img.plot", "table"):
        assert seen[selector]["count"] > 0 and seen[selector]["visible"] == seen[selector]["count"], (selector, seen)
    save_docs_screenshot(data["report_path"], "monitoring-report", chromium)  # `make docs-screenshots`
