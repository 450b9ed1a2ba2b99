"""Optional extras: ``require_extra`` turns a missing one into one line naming what to install."""

from __future__ import annotations

import importlib.util

from mlgate.exceptions import MissingExtraError

# extra -> (what it enables, the modules it brings); pyproject.toml's [project.optional-dependencies] installs them.
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "contracts": ("validating data with Great Expectations", ("great_expectations",)),
    "serve": ("the serving gateway", ("fastapi", "uvicorn", "prometheus_client")),
    "team": ("the team MLflow server and its webhook receiver", ("flask_wtf", "fastapi", "uvicorn")),
    "postgres": ("a PostgreSQL store", ("psycopg2",)),
    "reports": ("charts in reports", ("matplotlib",)),
    "spark": ("Spark data", ("pyspark",)),
}


def missing_module(extra: str, modules: tuple[str, ...] | None = None) -> str | None:
    """The first module of ``extra`` (or of ``modules``, part of it) that cannot be imported, else None."""
    for module in modules or EXTRAS[extra][1]:
        try:
            found = importlib.util.find_spec(module) is not None
        except ValueError:  # a module object without a spec (imported by hand): it is there
            found = True
        if not found:
            return module
    return None


def has_extra(extra: str) -> bool:
    """True when every module of ``extra`` is importable."""
    return missing_module(extra) is None


def require_extra(extra: str, feature: str | None = None, modules: tuple[str, ...] | None = None) -> None:
    """Raise MissingExtraError (one line: ``pip install 'mlgate[EXTRA]'``) unless ``extra`` is installed.

    ``modules``: the part of the extra this feature needs (default: all of it).
    """
    module = missing_module(extra, modules)
    if module is not None:
        raise MissingExtraError(extra, feature or EXTRAS[extra][0], module)
