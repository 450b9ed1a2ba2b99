"""The MLflow version matrix: the oldest supported MLflow, the newest installable one, and the core install.

Each session installs mlgate into its own venv under a pinned constraint set in ci/ and runs the lifecycle,
gate and gateway tests (.ci/run runs the whole suite on the default pins of constraints.txt first):

    nox                 # all three (uv makes the venvs when it is installed, else virtualenv)
    nox -s oldest       # mlflow at the bottom of pyproject.toml's range, ci/constraints-oldest.txt
    nox -s newest       # the newest MLflow release, ci/constraints-newest.txt
    nox -s core         # no extras at all, ci/constraints-core.txt: tests needing an extra skip

Refresh a constraint set after changing the range: `nox -s oldest -- --freeze` writes the resolved venv back.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["oldest", "newest", "core"]
nox.options.error_on_missing_interpreters = True

CI = Path(__file__).parent / "ci"
TEST_DEPS = ["pytest", "pytest-timeout", "pytest-xdist", "hypothesis", "httpx", "junitparser"]
# Every extra but spark (its tests are not in the matrix's files; pyspark alone is ~450 MB).
EXTRAS = "contracts,serve,team,postgres,reports"
# The lifecycle, the gate and the gateway.
MATRIX_TESTS = [
    "tests/test_lifecycle.py",
    "tests/test_cli.py",
    "tests/test_gate.py",
    "tests/test_serving.py",
    "tests/test_extras.py",
]
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def _run(session: nox.Session, point: str, extras: str, env: dict[str, str] | None = None) -> None:
    constraints = CI / f"constraints-{point}.txt"
    freeze = "--freeze" in session.posargs
    if freeze:  # resolve afresh within pyproject.toml's ranges, the point's MLflow pinned
        session.install(f".[{extras}]" if extras else ".", *TEST_DEPS, *_mlflow_pin(point))
        command = ["uv", "pip", "freeze"] if session.venv_backend == "uv" else ["python", "-m", "pip", "freeze"]
        frozen = str(session.run(*command, silent=True, external=True))
        pins = [line for line in frozen.splitlines() if line and not line.startswith(("mlgate", "-e"))]
        header = f"# `nox -s {point} -- --freeze` wrote this: the pinned set of the {point} session"
        constraints.write_text("\n".join([header, *pins]) + "\n")
        return
    session.install("-c", str(constraints), f".[{extras}]" if extras else ".", *TEST_DEPS)
    session.run("python", "-c", "import mlflow; print('mlflow', mlflow.__version__)")
    args = [a for a in session.posargs if a != "--freeze"] or MATRIX_TESTS
    env = {**QUIET, "NOX_EXTRAS": extras, **(env or {})}
    workers = ["-n", "2", "--dist", "loadfile"]  # as make test: a file per worker at a time
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers, *args, env=env)


def _mlflow_pin(point: str) -> list[str]:
    if point == "oldest":
        return ["mlflow==" + _lowest_mlflow()]
    return []


def _lowest_mlflow() -> str:
    import tomllib

    project = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())["project"]
    line = next(d for d in project["dependencies"] if d.startswith("mlflow"))
    lowest = next(part for part in line[len("mlflow") :].split(",") if part.startswith(">="))
    return lowest[2:]


@nox.session
def oldest(session: nox.Session) -> None:
    """The lifecycle, gate and gateway tests on the oldest MLflow mlgate supports, every extra installed."""
    _run(session, "oldest", EXTRAS)


@nox.session
def newest(session: nox.Session) -> None:
    """The same tests on the newest MLflow release, every extra installed."""
    _run(session, "newest", EXTRAS)


@nox.session
def core(session: nox.Session) -> None:
    """The same tests on the core install (no extras): tests that need an extra skip, only here."""
    _run(session, "core", "", env={"NOX_CORE_SESSION": "1"})
