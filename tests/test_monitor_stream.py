"""A streamed batch pass (Parquet or CSV in chunks, sketches merged) reaches the in-memory pass's verdicts exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlgate.cli import main
from mlgate.config import Settings
from mlgate.contracts import parse_contract
from mlgate.exceptions import UsageError
from mlgate.monitor.run import compute
from mlgate.monitor.stream import judge, plans_for, read_batch, stream_batch
from mlgate.registry import Registry
from mlgate.stats.profile import build_profile, log_profile
from mlgate.testing import tiny_training_data
from tests.monitor_helpers import isolated_version

CONTRACT = {
    "name": "shop",
    "version": "1.0.0",
    "defaults": {"on_invalid": "reject_row", "on_null": "reject_row"},
    "columns": [
        {"name": "amount", "type": "float", "nullable": True, "range": {"min": 0, "max": 400}},
        {"name": "items", "type": "int", "nullable": True},
        {"name": "channel", "type": "str", "nullable": False, "allowed": ["web", "app", "shop"]},
    ],
    "backfill": {"strategy": "forward_only", "description": "nothing to backfill in a test"},
}  # fmt: skip


def shop(n: int, seed: int, drifted: bool = False) -> pd.DataFrame:
    """Amount (normal, nulls), items (integers, ties), wait (skewed), channel and region (categories, nulls)."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(120 + (30 if drifted else 0), 60, n)
    amount[rng.random(n) < 0.03] = np.nan
    channel = rng.choice(np.array(["web", "app", "shop"]), n, p=[0.2, 0.3, 0.5] if drifted else [0.5, 0.3, 0.2])
    channel = channel.astype(object)
    channel[rng.random(n) < 0.01] = None
    region = rng.choice(np.array([f"r{k}" for k in range(12)]), n).astype(object)
    region[rng.random(n) < 0.05] = None
    return pd.DataFrame({
        "amount": amount,
        "items": rng.poisson(3, n).astype("float64"),
        "wait": rng.lognormal(0, 0.8 if not drifted else 1.2, n),
        "channel": pd.Series(channel, dtype="object"),
        "region": pd.Series(region, dtype="object"),
        "prediction": rng.choice([0, 1], n, p=[0.7, 0.3]),
    })  # fmt: skip


def summary(drift_result, quality) -> dict:  # type: ignore[no-untyped-def]
    columns = {**drift_result.features, **drift_result.prediction}
    return {
        "drifted": sorted(drift_result.drifted),
        "psi": {n: round(c.psi, 10) for n, c in columns.items()},
        "method": {n: c.method for n, c in columns.items()},
        "distance": {n: None if c.distance is None else round(c.distance, 10) for n, c in columns.items()},
        "anomalies": quality.anomalies,
        "signals": {k: round(v, 10) if v is not None else None for k, v in quality.signals().items()},
    }


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_streamed_verdicts_equal_the_in_memory_pass(tmp_path: Path, fmt: str) -> None:
    reference = shop(20_000, 0)
    profile = build_profile(reference.drop(columns="prediction"), reference["prediction"])
    contract = parse_contract(CONTRACT, "test")
    plans = plans_for(profile, contract)
    seen: list[tuple[int, int]] = []
    for drifted in (False, True):
        batch = shop(30_000, 1, drifted)
        batch.loc[:49, "amount"] = 900.0  # out of the contract's range
        batch.loc[50:59, "channel"] = "phone"  # not allowed
        path = tmp_path / f"batch-{drifted}.{fmt}"
        batch.to_parquet(path) if fmt == "parquet" else batch.to_csv(path, index=False)
        tests = ("ks", "chi2")
        frame = read_batch(path)
        in_memory = compute(frame, profile, contract, {}, tests, None)[:2]
        seen.clear()
        profiled = stream_batch(path, plans, lambda done, total: seen.append((done, total)), chunk_rows=4_000)
        streamed = judge(profiled, profile, contract, tests, plans=plans)
        assert profiled.rows == len(batch) and len(seen) >= 7 and seen[-1][0] == seen[-1][1]
        assert summary(*streamed) == summary(*in_memory)
        found = set(streamed[0].drifted)
        assert found == ({"amount", "wait", "channel"} if drifted else set()), found
        assert any("outside [0, 400]" in a for a in streamed[1].anomalies)
        assert any("phone" in a for a in streamed[1].anomalies)
        assert streamed[0].features["amount"].method == "psi + wasserstein"  # 30,000 rows: a distance


def test_a_batch_that_is_neither_parquet_nor_csv_is_one_line(tmp_path: Path) -> None:
    plans = plans_for(build_profile(shop(500, 0)))
    odd = tmp_path / "batch.json"
    odd.write_text("{}")
    with pytest.raises(UsageError, match="neither Parquet nor CSV"):
        stream_batch(odd, plans)
    fake = tmp_path / "batch.parquet"
    fake.write_bytes(b"not parquet at all")
    with pytest.raises(UsageError, match="not a Parquet file"):
        stream_batch(fake, plans)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\0" * 64)
    with pytest.raises(UsageError, match="cannot be read as parquet"):
        stream_batch(broken, plans)


def test_cli_streams_a_batch_with_progress_and_refuses_other_files(
    registry: Registry, model_uri: str, settings: Settings, cli_env: Settings, tmp_path: Path
) -> None:
    version = isolated_version(registry, "iris", model_uri)
    x, y = tiny_training_data()
    log_profile(registry, "iris", version, build_profile(x, y))
    path = tmp_path / "batch.parquet"
    x.sample(5_000, replace=True, random_state=0).reset_index(drop=True).to_parquet(path)
    runner = CliRunner()
    done = runner.invoke(main, ["monitor", "iris", "--version", version, "--batch", str(path), "--no-alert",
                                "--test", "ks", "--report-dir", str(tmp_path / "reports")])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "reading batch: 100%" in done.stderr and "reading batch" not in done.stdout
    assert "5000 rows from batch" in done.stdout and "psi + ks" in done.stdout  # 150 reference rows: a test
    odd = tmp_path / "batch.xlsx"
    odd.write_bytes(b"PK\x03\x04 a spreadsheet")
    refused = runner.invoke(main, ["monitor", "iris", "--version", version, "--batch", str(odd), "--no-alert"])
    assert refused.exit_code == 2 and "neither Parquet nor CSV" in refused.output
    assert "Traceback" not in refused.output and len(refused.stderr.strip().splitlines()) <= 2
