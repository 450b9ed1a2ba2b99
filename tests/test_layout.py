"""The package's shape, as a newcomer relies on it: one job per module, imports one way, `python -m mlgate`."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import mlgate

PACKAGE = Path(mlgate.__file__).parent
TESTS = Path(__file__).parent
MAX_LINES = 400

# mlgate modules that may be imported inside a function, and why: each pulls a heavy third-party
# package on import that the importer's other users should not pay for.
LAZY_OK = {
    "mlgate.api": "MLflow, pandas, scikit-learn: the CLI loads it per command so `mlgate --help` stays fast",
    "mlgate.serving": "FastAPI and uvicorn (the CLI's serve command)",
    "mlgate.serving.app": "FastAPI and uvicorn, for users of mlgate.serving.record alone",
    "mlgate.contracts.gx": "Great Expectations (seconds to import)",
    "mlgate.contracts.fast": "pandas and numpy, for users of mlgate.contracts who only load contracts",
    "mlgate.contracts.checks": "pandas and numpy, for mlgate.contracts.store's readers of a contract",
    "mlgate.cli": "the command groups, each importing only when run",
}
# The command line imports the library inside each command: `mlgate --help` loads click and the CLI alone.
LAZY_IMPORTERS = ("mlgate.cli",)


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_opens_with_a_one_line_docstring_of_its_job() -> None:
    missing = []
    for path in _modules():
        doc = ast.get_docstring(ast.parse(path.read_text()), clean=False)
        if not doc or not doc.split("\n")[0].strip():
            missing.append(str(path.relative_to(PACKAGE.parent)))
    assert missing == []


def test_modules_stay_small() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these (more than {MAX_LINES} lines)"


def test_mlgate_imports_inside_functions_are_only_for_heavy_packages() -> None:
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for sub in ast.walk(node):
                targets: list[str] = []
                if isinstance(sub, ast.ImportFrom) and sub.module and sub.module.split(".")[0] == "mlgate":
                    targets = [sub.module] if sub.module != "mlgate" else [f"mlgate.{a.name}" for a in sub.names]
                elif isinstance(sub, ast.Import):
                    targets = [a.name for a in sub.names if a.name.split(".")[0] == "mlgate"]
                if _name(path).startswith(LAZY_IMPORTERS):
                    continue
                found += [f"{_name(path)}:{sub.lineno} -> {t}" for t in targets if t not in LAZY_OK]
    assert found == []


def test_tests_do_not_import_other_test_modules() -> None:
    offenders = []
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("tests.test_")]
    assert offenders == []


def test_python_dash_m_mlgate_is_the_command_line_and_its_help_imports_no_mlflow() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_"))}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlgate", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rollback" in done.stdout and "promote" in done.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert not imported & {"mlflow", "pandas", "sklearn", "great_expectations", "fastapi"}
