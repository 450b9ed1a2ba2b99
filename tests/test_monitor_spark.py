"""The Spark pass: sketches computed by PySpark in local[2] reach the pandas pass's verdicts; a dead JVM is one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.contracts import parse_contract
from mlgate.monitor.run import MonitorOptions, compute, run_pass
from mlgate.monitor.spark import spark_profile, spark_session
from mlgate.monitor.stream import judge, plans_for
from mlgate.registry import Registry
from mlgate.stats.profile import build_profile, log_profile
from mlgate.testing import tiny_training_data
from tests.monitor_helpers import isolated_version
from tests.sketch_support import CONTRACT, shop, verdicts

pyspark = pytest.importorskip("pyspark", reason="pip install 'mlgate[spark]' (pyspark) to run the Spark tests")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("CI"):
            pytest.fail("java is missing in CI: .ci/run installs openjdk-17-jre-headless")
        pytest.skip("no Java runtime: apt-get install openjdk-17-jre-headless")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = spark_session(
        "local[2]", "mlgate-tests", spark__ui__enabled="false", spark__ui__showConsoleProgress="false",
        spark__sql__shuffle__partitions="2",
        spark__driver__host="127.0.0.1", spark__driver__bindAddress="127.0.0.1",
        spark__sql__execution__arrow__pyspark__enabled="true",
    )  # fmt: skip
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_sketches_reach_the_pandas_verdicts(spark: Any) -> None:
    reference = shop(20_000, 0, region=False, planted=True)
    profile = build_profile(reference.drop(columns="prediction"), reference["prediction"])
    contract = parse_contract(CONTRACT, "test")
    plans = plans_for(profile, contract)
    for drifted in (False, True):
        batch = shop(8_000, 1, drifted, region=False, planted=True)
        expected = compute(batch, profile, contract, {}, ("ks", "chi2"), None)[:2]
        profiled = spark_profile(spark.createDataFrame(batch), plans)
        found = judge(profiled, profile, contract, ("ks", "chi2"), plans=plans)
        assert profiled.rows == len(batch)
        assert verdicts(*found, signals=False) == verdicts(*expected, signals=False)
        assert set(found[0].drifted) == ({"amount", "wait", "channel"} if drifted else set())
        assert any("outside [0, 400]" in a for a in found[1].anomalies)
        assert any("phone" in a for a in found[1].anomalies)


def test_a_spark_dataframe_is_a_batch_of_a_whole_pass(
    spark: Any, registry: Registry, model_uri: str, tmp_path: Path
) -> None:
    version = isolated_version(registry, "iris", model_uri)
    x, y = tiny_training_data()
    log_profile(registry, "iris", version, build_profile(x, y))
    shifted = x.sample(1_000, replace=True, random_state=0).reset_index(drop=True)
    shifted["petal_width"] = shifted["petal_width"] + 1.0
    options = MonitorOptions(batch=spark.createDataFrame(shifted), version=version, alert=False, report_dir=tmp_path)
    result = run_pass(registry, "iris", options)
    assert result.rows == 1_000 and result.source == "batch a Spark DataFrame"
    assert "petal_width" in result.drift.drifted and result.signals["drift.max_psi"] > 0.2
    assert result.report_path and Path(result.report_path).exists()


def test_a_spark_session_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    """A JAVA_HOME without java: the JVM never starts, and the error is one line with what to do."""
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", _ONE_LINE], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    message, hint = done.stdout.strip().splitlines()
    assert message.startswith("Spark session cannot start: ") and "openjdk-17-jre-headless" in hint


_ONE_LINE = """
from mlgate.exceptions import MlgateError
from mlgate.monitor.spark import spark_session
try:
    spark_session('local[1]')
except MlgateError as exc:
    print(exc.message)
    print(exc.hint)
"""
