"""A streamed batch pass (Parquet or CSV in chunks, sketches merged) reaches the in-memory pass's verdicts exactly."""

from __future__ import annotations

from pathlib import Path

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
from tests.sketch_support import CONTRACT, shop, verdicts


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
        assert verdicts(*streamed) == verdicts(*in_memory)
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
