"""Provenance of a training: full-content data digests, the environment, the code revision, seeds, test results.

The pieces ``mlgate.training`` records on a run and ``mlgate reproduce`` compares against.
"""

from __future__ import annotations

import contextlib
import importlib
import platform
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np

from mlgate.exceptions import TrainingError
from mlgate.stats.digest import dataset_sha256 as dataset_sha256
from mlgate.stats.digest import file_sha256 as file_sha256

#: Packages a scikit-learn model needs at inference, pinned exactly in its requirements.
DEFAULT_REQUIREMENTS = ("scikit-learn", "numpy", "scipy", "pandas", "skops")
ENVIRONMENT_FORMAT = 1
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_MAX_DIFF_BYTES = 2_000_000


# --- environment and code ---------------------------------------------------------------------------
def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages() -> dict[str, str]:
    """Every installed distribution (canonical name -> version) in this interpreter."""
    found: dict[str, str] = {}
    for dist in importlib_metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(_canonical(name), dist.version)
    return dict(sorted(found.items()))


def capture_environment(requirements: Sequence[str] = DEFAULT_REQUIREMENTS) -> dict[str, Any]:
    """The environment as a record: exact versions of the model's packages, every package, Python, platform.

    Raises TrainingError when a package the model needs is not installed (it could not be pinned).
    """
    packages = installed_packages()
    pinned: dict[str, str] = {}
    missing = []
    for requirement in requirements:
        name = _canonical(requirement)
        if name in packages:
            pinned[name] = packages[name]
        else:
            missing.append(requirement)
    if missing:
        raise TrainingError(
            f"cannot pin {', '.join(missing)}: not installed in {sys.executable}",
            "install them, or leave them out of track(requirements=...)",
        )
    return {
        "format": ENVIRONMENT_FORMAT,
        "captured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": platform.system(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "requirements": pinned,
        "packages": packages,
    }


def pip_requirements(environment: Mapping[str, Any]) -> list[str]:
    """The model's requirements pinned exactly (``name==version``) from a captured environment."""
    return [f"{name}=={version}" for name, version in environment["requirements"].items()]


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def code_revision(project_dir: str | Path = ".") -> str | None:
    """The git commit of ``project_dir``, with ``-dirty`` when tracked files have changes; None outside git."""
    cwd = Path(project_dir)
    head = _git(["rev-parse", "HEAD"], cwd)
    if not head:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return head.strip() + ("-dirty" if status and status.strip() else "")


def uncommitted_changes(project_dir: str | Path = ".") -> str | None:
    """``git diff HEAD`` of ``project_dir`` (the changes a ``-dirty`` revision carries), capped at 2 MB."""
    diff = _git(["diff", "HEAD"], Path(project_dir))
    return diff[:_MAX_DIFF_BYTES] if diff is not None else None


@contextlib.contextmanager
def fixed_seeds(seed: int) -> Iterator[np.random.Generator]:
    """Seed Python's and NumPy's global generators for the block, then restore their previous state.

    Yields a NumPy Generator seeded with ``seed`` for code that takes one.
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield np.random.default_rng(seed)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def resolve_entry_point(entry_point: str) -> Any:
    """Import ``module:function`` and return the function; TrainingError names what failed."""
    if not _ENTRY_POINT.match(entry_point):
        raise TrainingError(
            f"entry point {entry_point!r} is not of the form module:function", "e.g. pipelines.train:fit"
        )
    module_name, _, function_name = entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainingError(
            f"cannot import {module_name!r} for entry point {entry_point}: {exc}",
            "run from the project root (or pass the project folder) so the module is importable",
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise TrainingError(f"{module_name} has no function {function_name!r}", f"check the entry point {entry_point}")
    return function


# --- test results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestResults:
    """Counts from a JUnit XML report, and the names of what failed."""

    __test__ = False  # not a pytest test class

    tests: int
    failures: int
    errors: int
    skipped: int
    failed: tuple[str, ...] = ()
    path: str = ""

    @property
    def passed(self) -> bool:
        """True when at least one test ran and none failed or errored."""
        return self.tests - self.skipped > 0 and self.failures == 0 and self.errors == 0

    def summary(self) -> str:
        state = "passed" if self.passed else "FAILED"
        return f"{self.tests} tests, {self.failures} failures, {self.errors} errors, {self.skipped} skipped: {state}"


def parse_junit(path: str | Path) -> TestResults:
    """Read a JUnit XML file (as written by ``pytest --junitxml``)."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise TrainingError(f"cannot read JUnit XML {path}: {exc}", "pass the file pytest --junitxml wrote") from None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    failed = tuple(
        f"{case.get('classname', '')}::{case.get('name', '')}"
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    )
    return TestResults(failed=failed, path=str(path), **totals)


class PytestRun:
    """pytest running in a fresh interpreter in the background, writing JUnit XML; ``wait`` for the results."""

    def __init__(self, paths: Sequence[str | Path], cwd: str | Path = ".") -> None:
        self.paths = [str(p) for p in paths]
        self._folder = tempfile.TemporaryDirectory(prefix="mlgate-tests-")
        self.junit_path = Path(self._folder.name) / "junit.xml"
        command = [sys.executable, "-m", "pytest", *self.paths, f"--junitxml={self.junit_path}", "-q"]
        self._proc = subprocess.Popen(
            [*command, "-p", "no:cacheprovider"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def wait(self, timeout: float = 600) -> TestResults:
        """Wait for pytest and read its report; TrainingError when it wrote none."""
        try:
            output, _ = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TrainingError(
                f"pytest on {', '.join(self.paths)} took over {timeout:.0f} s", "speed them up"
            ) from None
        if not self.junit_path.is_file():
            tail = " | ".join((output or "").strip().splitlines()[-5:])
            raise TrainingError(
                f"pytest on {', '.join(self.paths)} wrote no report (exit {self._proc.returncode}): {tail}",
                "run the same pytest command yourself to see why",
            )
        return parse_junit(self.junit_path)

    def stop(self) -> None:
        """Kill pytest if it still runs and remove its report folder."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()
        self._folder.cleanup()


def run_pytest(paths: Sequence[str | Path], junit_path: str | Path, cwd: str | Path = ".") -> TestResults:
    """Run pytest on ``paths`` in a fresh interpreter and wait; the JUnit XML is copied to ``junit_path``."""
    background = PytestRun(paths, cwd)
    try:
        background.wait()
        Path(junit_path).write_bytes(background.junit_path.read_bytes())
        return parse_junit(junit_path)
    finally:
        background.stop()
