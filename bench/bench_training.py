"""Benchmark of reproducible training: the cost of a full-content dataset digest, and of one pipeline run.

    .venv/bin/python bench/bench_training.py

Digests of a 1M x 20 frame (15 numeric, 5 text columns), side by side in one run: mlgate's
``dataset_sha256`` (every value), MLflow's own dataset digest (first 10,000 rows only), sha256 of
``to_csv`` (the naive full-content digest) and sha256 of ``pd.util.hash_pandas_object`` (64-bit
row hashes). Then one run of the example pipeline (train, log, register) and of ``reproduce``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from bench.results import median, write_section  # noqa: E402
from mlgate.training import dataset_sha256  # noqa: E402

ROWS, REPEATS = 300_000, 3


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data = {f"x{i}": rng.normal(size=rows) for i in range(15)}
    data.update({f"s{i}": rng.choice(["alpha", "beta", "gamma", "delta"], size=rows) for i in range(5)})
    return pd.DataFrame(data)


def timed(fn, df: pd.DataFrame) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = fn(df)
        times.append(time.perf_counter() - start)
    return median(times), out


def mlflow_digest(df: pd.DataFrame) -> str:
    from mlflow.data.pandas_dataset import from_pandas

    return from_pandas(df).digest


def csv_digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()


def row_hash_digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()).hexdigest()


def pipeline_seconds() -> tuple[float, float]:
    from mlgate import api
    from mlgate.registry import Registry
    from mlgate.testing import throwaway_settings
    from pipelines import train

    with tempfile.TemporaryDirectory() as tmp:
        settings = throwaway_settings(tmp)
        start = time.perf_counter()
        outcome = train.train(settings, register_as="bench")
        trained = time.perf_counter() - start
        assert outcome.registration is not None
        start = time.perf_counter()
        report = api.reproduce(
            "bench", outcome.registration.version, project_dir=ROOT, registry=Registry.from_settings(settings)
        )
        assert report.reproduced, report.reason
        return trained, time.perf_counter() - start


def main() -> int:
    df = frame(ROWS)
    mlflow_digest(df.head(10))  # import MLflow outside the timings
    changed = df.copy()
    changed.loc[ROWS // 2, "x0"] += 1.0
    rows = []
    baseline = None
    for label, fn in (
        ("sha256 of to_csv (naive full content)", csv_digest),
        ("mlgate dataset_sha256 (full content)", dataset_sha256),
        ("sha256 of hash_pandas_object (64-bit row hashes)", row_hash_digest),
        ("MLflow from_pandas digest (first 10,000 rows)", mlflow_digest),
    ):
        seconds, digest = timed(fn, df)
        print(f"{label}: {seconds:.3f} s", flush=True)
        baseline = baseline or seconds
        sees_change = fn(changed) != digest
        rows.append(f"| {label} | {seconds:.3f} | {baseline / seconds:.1f}x | {'yes' if sees_change else 'NO'} |")
    trained, reproduced = pipeline_seconds()
    load = os.getloadavg()[0]
    markdown = "\n".join(
        [
            "## Reproducible training",
            "",
            f"Digest of a {ROWS:,} x 20 frame (15 float, 5 text columns), median of {REPEATS} runs; "
            f'"sees a change": a change in row {ROWS // 2:,} changes the digest.',
            "",
            "| digest | seconds | speed vs to_csv | sees a change after row 10,000 |",
            "|---|---|---|---|",
            *rows,
            "",
            f"One run of the example pipeline (GX validation, transform tests in the background, fit, "
            f"log with skops, register): {trained:.1f} s; `reproduce` of it (download, diff, re-run, "
            f"compare): {reproduced:.1f} s. Machine load average during the run: {load:.1f} on 2 cores.",
            "",
            "Reproduce with `.venv/bin/python bench/bench_training.py`.",
        ]
    )
    write_section("training", markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
