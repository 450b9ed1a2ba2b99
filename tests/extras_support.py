"""The `extra` marker: a test that needs an optional extra skips only in nox's core-install session."""

from __future__ import annotations

import os

import pytest

from mlgate.extras import missing_module

# Set by noxfile.py's `core` session (no extras installed). Anywhere else a missing extra fails the test:
# the repository's venv and CI install every extra, so a skip there would hide a broken install.
CORE_SESSION = os.environ.get("NOX_CORE_SESSION") == "1"
# The extras this environment installs: noxfile.py's sessions say which (NOX_EXTRAS); everywhere else all of them.
INSTALLED_EXTRAS = os.environ["NOX_EXTRAS"].split(",") if "NOX_EXTRAS" in os.environ else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "extra(name): the test needs mlgate[name]; skipped in the core-install session")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not CORE_SESSION:
        return
    for marker in item.iter_markers("extra"):
        module = missing_module(marker.args[0])
        if module is not None:
            pytest.skip(f"core install: needs mlgate[{marker.args[0]}] ({module} is not installed)")


def skip_in_core_session(extra: str) -> None:
    """Inside a test: skip when this is the core-install session and ``extra`` is missing."""
    module = missing_module(extra)
    if CORE_SESSION and module is not None:
        pytest.skip(f"core install: needs mlgate[{extra}] ({module} is not installed)")
