"""The supported MLflow range (pyproject.toml's, read from mlgate's metadata) and the check at first use."""

from __future__ import annotations

import functools
from importlib import metadata

from mlgate.exceptions import MissingDependency

# Used when mlgate runs from a source tree without being installed (no metadata to read the range from).
FALLBACK_RANGE = ">=3.9,<4"


@functools.cache
def supported_range() -> str:
    """The MLflow version range mlgate declares in pyproject.toml (e.g. ``>=3.4,<4``)."""
    from packaging.requirements import Requirement

    try:
        requirements = metadata.requires("mlgate") or []
    except metadata.PackageNotFoundError:
        return FALLBACK_RANGE
    for line in requirements:
        requirement = Requirement(line)
        if requirement.name == "mlflow" and requirement.marker is None:
            return ",".join(sorted(map(str, requirement.specifier), key=lambda s: not s.startswith(">")))
    return FALLBACK_RANGE


def check_mlflow(installed: str | None = None) -> None:
    """Raise MissingDependency (one line naming the range) unless the installed MLflow is in the supported range."""
    from packaging.specifiers import SpecifierSet

    if installed is None:
        installed = _installed()
    wanted = supported_range()
    if installed is None:
        raise MissingDependency(f"MLflow is not installed: mlgate needs mlflow{wanted}: pip install 'mlflow{wanted}'")
    if not SpecifierSet(wanted).contains(installed, prereleases=True):
        raise MissingDependency(
            f"MLflow {installed} is installed, mlgate supports mlflow{wanted}: pip install 'mlflow{wanted}'"
        )


@functools.cache
def _installed() -> str | None:
    try:
        return metadata.version("mlflow")
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def check_mlflow_once() -> None:
    """``check_mlflow`` for the installed MLflow, once per process (a failure is raised again on every call)."""
    check_mlflow()
