"""Benchmark: a full release-gate run on a version with a 100k-row evaluation set (target <= 10 s).

Side by side in one run, medians of several runs:
  - `mlgate check` (api.check): every built-in check of the shipped production policy, against a
    production version, report stored (JSON + HTML + tags);
  - its quality part alone (quality_thresholds + no_regression: both models scored by mlgate);
  - what a user would otherwise run for that quality part: mlflow.models.evaluate on the candidate
    and on the production model over the same 100k rows, then mlflow.validate_evaluation_results.

Run: .venv/bin/python bench/bench_gate.py   (writes the "gate" section of bench/RESULTS.md)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import median, write_section  # noqa: E402

ROWS = 100_000
REPEATS = 3
TARGET_SECONDS = 10.0
OWNERS = """
targets:
  hook: {kind: json, url: http://127.0.0.1:9/alerts}
owners:
  ml-platform@example.com:
    business_hours: {person: alice@example.com, targets: [hook]}
"""


def setup(folder: Path) -> tuple[object, str, str]:
    """A registry with v1 in production and v2 to gate, each with a 100k-row evaluation set."""
    from mlgate import api
    from mlgate.registry import Registry
    from mlgate.testing import throwaway_settings
    from mlgate.testing.runs import record_training_run, register_recorded, train_iris

    config = folder / "mlflow_config"
    config.mkdir(parents=True)
    shutil.copy(ROOT / "mlflow_config" / "policy.yaml", config / "policy.yaml")
    (config / "owners.yaml").write_text(OWNERS)
    settings = throwaway_settings(folder / "store", config_dir=config)
    registry = Registry.from_settings(settings)
    contract = ROOT / "tests" / "data" / "iris_contract.yaml"
    production = record_training_run(settings, model=train_iris(), eval_rows=ROWS)
    candidate = record_training_run(settings, model=train_iris(seed=1, c=0.5), eval_rows=ROWS, seed=1)
    assert production.model_uri and candidate.model_uri
    v1 = register_recorded(registry, "bench", production.model_uri, contract=contract)
    api.promote("bench", v1, "production", force=True, reason="benchmark setup", registry=registry)
    v2 = register_recorded(registry, "bench", candidate.model_uri, contract=contract)
    return registry, v1, v2


def full_gate(registry: object, version: str) -> tuple[float, object]:
    from mlgate import api

    start = time.perf_counter()
    report = api.check("bench", version, "production", registry=registry)  # type: ignore[arg-type]
    return time.perf_counter() - start, report


def quality_only(registry: object, version: str) -> float:
    from mlgate.gate.engine import run_gate
    from mlgate.gate.policy import load_policy

    policy = load_policy(registry.settings, "bench")  # type: ignore[attr-defined]
    only = {
        "production": [c for c in policy.checks_for("production") if c.name in ("quality_thresholds", "no_regression")]
    }
    policy = type(policy)(policy.sha256, policy.sources, only)
    start = time.perf_counter()
    report = run_gate(registry, "bench", version, "production", policy)  # type: ignore[arg-type]
    assert len(report.results) == 2
    return time.perf_counter() - start


def mlflow_evaluate(registry: object, production: str, version: str) -> float:
    """The MLflow way: evaluate both models on the same data, then validate_evaluation_results."""
    import mlflow
    import pandas as pd
    from mlflow.models import MetricThreshold

    from mlgate.registry import keys, mlflow_uris

    settings = registry.settings  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp, mlflow_uris(settings):
        run_id = registry.version("bench", version).run_id  # type: ignore[attr-defined]
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=keys.EVALUATION_ARTIFACT, dst_path=tmp)
        data = pd.read_parquet(local)
        start = time.perf_counter()
        mlflow.set_experiment("bench-evaluate")
        results = []
        for v in (version, production):
            with mlflow.start_run():
                results.append(
                    mlflow.models.evaluate(
                        f"models:/bench/{v}", data, targets="target", model_type="classifier", evaluators=["default"]
                    )
                )
        thresholds = {
            "accuracy_score": MetricThreshold(threshold=0.9, greater_is_better=True),
            "f1_score": MetricThreshold(threshold=0.85, min_absolute_change=None, greater_is_better=True),
        }
        with contextlib.suppress(Exception):  # a failed validation is still a finished run
            mlflow.validate_evaluation_results(thresholds, results[0], results[1])
        return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-gate-") as tmp:
        registry, production, candidate = setup(Path(tmp))
        full, quality, evaluate = [], [], []
        report = None
        for _ in range(REPEATS):
            seconds, report = full_gate(registry, candidate)
            full.append(seconds)
            quality.append(quality_only(registry, candidate))
            evaluate.append(mlflow_evaluate(registry, production, candidate))
    assert report is not None
    verdicts = ", ".join(f"{r.name}={r.status}" for r in report.results)  # type: ignore[attr-defined]
    slowest = sorted(report.results, key=lambda r: r.seconds, reverse=True)[:3]  # type: ignore[attr-defined]
    m_full, m_quality, m_eval = median(full), median(quality), median(evaluate)
    q_ratio, e_ratio = m_quality / m_full, m_eval / m_full
    markdown = f"""## Release gate (`bench/bench_gate.py`)

A full `mlgate check NAME VERSION --stage production` (all {len(report.results)} checks of the shipped
`mlflow_config/policy.yaml`, against a production version, report stored as JSON + HTML + tags) on a
version whose evaluation set has {ROWS:,} rows. Medians of {REPEATS} runs, side by side in one process.

| what | median seconds | ratio |
|---|---:|---:|
| full gate, {len(report.results)} checks, report stored | {m_full:.2f} | 1.00 |
| its quality part: thresholds + no regression vs production, both scored by mlgate | {m_quality:.2f} | {q_ratio:.2f} |
| MLflow for that part: `mlflow.models.evaluate` x2 + `validate_evaluation_results` | {m_eval:.2f} | {e_ratio:.2f} |

Target: full gate <= {TARGET_SECONDS:.0f} s on this machine: **{"met" if m_full <= TARGET_SECONDS else "NOT met"}**
({m_full:.2f} s). mlgate's quality part is {m_eval / m_quality:.1f}x faster than the MLflow evaluate path on the
same rows; `evaluate` also computes every default classifier metric and logs its plots, and
`validate_evaluation_results` cannot express "no worse than production minus a tolerance".
Slowest checks: {", ".join(f"{r.name} {r.seconds:.2f} s" for r in slowest)}.
Verdicts: {verdicts}.
"""
    write_section("gate", markdown)
    print(markdown)
    return 0 if m_full <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
