"""What a smoke test found: one check per line, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SmokeCheck:
    """One assertion of a smoke test and what was seen."""

    name: str
    passed: bool
    detail: str
    skipped: bool = False  # the check could not be made here (it says why); it does not fail the test


@dataclass(frozen=True)
class SmokeResult:
    """The verdict of one smoke test run, with every check it made."""

    model: str
    version: str
    target: str  # "in-process" or the endpoint URL
    checks: list[SmokeCheck] = field(default_factory=list)
    latency_ms: float | None = None
    notes: list[str] = field(default_factory=list)  # what the test did besides its checks (reference, reload)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def summary(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        if not failed:
            skipped = [c.name for c in self.checks if c.skipped]
            note = f"; not checked: {', '.join(skipped)}" if skipped else ""
            made = len(self.checks) - len(skipped)
            return f"smoke test passed on {self.target} for v{self.version} ({made} checks{note})"
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
            "notes": self.notes,
        }
