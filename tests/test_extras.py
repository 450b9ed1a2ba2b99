"""Extras: the core install runs the lifecycle; a missing extra or an unsupported MLflow is one line naming the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.config import Settings
from mlgate.exceptions import MissingDependency, MissingExtraError
from mlgate.extras import EXTRAS, require_extra
from mlgate.registry.compat import check_mlflow, supported_range
from tests.extras_support import INSTALLED_EXTRAS

# What a core install (no extras) lacks; MLflow itself brings fastapi, uvicorn and matplotlib.
NOT_IN_CORE = ("great_expectations", "prometheus_client", "psycopg2", "flask_wtf", "uvloop", "httptools", "pyspark")
# What the lifecycle commands must never import, installed or not.
OPTIONAL = ("great_expectations", "fastapi", "matplotlib", "psycopg2", "prometheus_client", "pyspark")

# Runs in a subprocess whose interpreter cannot import NOT_IN_CORE, as on a core install.
LIFECYCLE = """
import importlib.abc, json, os, sys, traceback
for name in {blocked!r}:
    sys.modules[name] = None  # importlib then finds no such module, as when it is not installed
import mlgate
HERE = os.path.dirname(mlgate.__file__) + os.sep
by_mlgate = []  # optional packages an mlgate module imported itself (MLflow imports fastapi on its own)

class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {optional!r}:
            frames = [f.filename for f in traceback.extract_stack()[:-1] if not f.filename.startswith("<frozen")]
            if frames and frames[-1].startswith(HERE):
                by_mlgate.append(name + " <- " + frames[-1][len(HERE):])
        return None

sys.meta_path.insert(0, Watch())
from click.testing import CliRunner
from mlgate.cli import main

def run(*args):
    result = CliRunner().invoke(main, list(args))
    return [result.exit_code, result.output]

uri, card = sys.argv[1], sys.argv[2]
out = {{
    "register": [run("register", "m", "--model-uri", uri, "--card", card) for _ in range(2)],
    "check": run("check", "m", "1", "--stage", "production", "--json"),
    "promote": [run("promote", "m", v, "--to", "production", "--force", "--reason", "r") for v in ("1", "2")],
    "rollback": run("rollback", "m", "--reason", "drift"),
    "status": run("status", "m", "--json"),
    "history": run("history", "m"),
    "runbook": run("runbook", "m"),
}}
out["loaded"] = by_mlgate
out["serve"] = run("serve", "m")
print("RESULT " + json.dumps(out))
"""


def test_the_lifecycle_runs_without_any_extra_and_imports_none(
    cli_env: Settings, model_uri: str, card_path: Path
) -> None:
    assert cli_env.config_dir is not None
    policy = {"checks": {}, "stages": {"production": ["card_complete", "model_loads", "serves_input_example"]}}
    (cli_env.config_dir / "policy.yaml").write_text(json.dumps(policy))  # JSON is YAML
    code = LIFECYCLE.format(blocked=NOT_IN_CORE, optional=OPTIONAL)
    proc = subprocess.run(
        [sys.executable, "-c", code, model_uri, str(card_path)], capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert [code for code, _ in out["register"]] == [0, 0], out["register"]
    for command in ("promote",):
        assert [code for code, _ in out[command]] == [0, 0], out[command]
    for command in ("rollback", "status", "history", "runbook"):
        assert out[command][0] == 0, (command, out[command][1])
    assert json.loads(out["status"][1])["aliases"]["production"] == "1"
    assert "rollback" in out["history"][1]
    assert out["loaded"] == [], "mlgate's lifecycle imported optional packages"

    # The gate runs; the check that needs the serve extra reports it as its error, the others their verdicts.
    check_code, check_output = out["check"]
    assert check_code == 1 and "{" in check_output, check_output
    report, _ = json.JSONDecoder().raw_decode(check_output[check_output.index("{") :])
    results = {r["name"]: r for r in report["checks"]}
    serving = results["serves_input_example"]
    assert serving["status"] == "error"
    assert "pip install 'mlgate[serve]'" in serving["evidence"] + serving["action"]
    assert results["card_complete"]["status"] == "pass" and results["model_loads"]["status"] == "pass"

    # A feature whose extra is missing: one line naming what to install, exit 1, no stack trace.
    serve_code, serve_output = out["serve"]
    assert serve_code == 1
    assert serve_output.strip().splitlines() == [
        "error: mlgate serve needs the serve extra (prometheus_client is not installed): pip install 'mlgate[serve]'"
    ]


def test_importing_the_lifecycle_loads_no_optional_package() -> None:
    code = (
        "import sys\nimport mlgate.api, mlgate.cli.lifecycle, mlgate.cli.gate, mlgate.gate.builtin, mlgate.release\n"
        f"print(','.join(m for m in {OPTIONAL!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == ""


def test_a_missing_extra_is_one_line_naming_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for extra in EXTRAS if INSTALLED_EXTRAS is None else [e for e in INSTALLED_EXTRAS if e]:
        require_extra(extra)  # the repository's venv and CI install every extra; nox's sessions say which
    monkeypatch.setitem(sys.modules, "great_expectations", None)
    with pytest.raises(MissingExtraError) as raised:
        require_extra("contracts")
    assert str(raised.value) == (
        "validating data with Great Expectations needs the contracts extra "
        "(great_expectations is not installed): pip install 'mlgate[contracts]'"
    )
    assert isinstance(raised.value, MissingDependency) and raised.value.exit_code == 1


def test_an_mlflow_outside_the_supported_range_is_refused_with_the_range() -> None:
    wanted = supported_range()
    assert wanted.startswith(">=3.") and wanted.endswith(",<4")
    check_mlflow()  # the installed one is supported
    for outside in ("2.22.0", "4.0.0"):
        with pytest.raises(MissingDependency) as raised:
            check_mlflow(outside)
        message = str(raised.value)
        assert message == f"MLflow {outside} is installed, mlgate supports mlflow{wanted}: pip install 'mlflow{wanted}'"
        assert "\n" not in message


def test_every_extra_is_declared_in_pyproject() -> None:
    import tomllib

    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    extras = declared["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    assert set(EXTRAS) <= set(extras["all"][0].split("[", 1)[1].rstrip("]").split(","))
    assert not any(
        dep.startswith(("great-expectations", "fastapi", "psycopg2", "matplotlib")) for dep in declared["dependencies"]
    )
    assert [d for d in declared["dependencies"] if d.startswith("mlflow")] == [f"mlflow{supported_range()}"]
