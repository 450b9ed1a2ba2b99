"""The smoke test that proves a deployment: against the configured endpoint, else in process; and in words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlgate.release.smoke.checks import describe_local_smoke, smoke_in_process
from mlgate.release.smoke.endpoint import smoke_endpoint
from mlgate.release.smoke.result import SmokeResult

if TYPE_CHECKING:
    from mlgate.registry import Registry


def post_deploy_smoke(registry: Registry, name: str, version: str, endpoint: str | None = None) -> SmokeResult:
    """The smoke test that proves a deployment: against the endpoint (``endpoint`` or the configured
    one, after waiting for it to serve ``version``, asking it to reload at once when an admin token is
    configured), else in-process."""
    target = endpoint or registry.settings.endpoint
    if not target:
        return smoke_in_process(registry, name, version)
    return smoke_endpoint(
        registry,
        name,
        version,
        target,
        wait_seconds=registry.settings.endpoint_wait_seconds,
        admin_token=registry.settings.admin_token,
    )


def describe_post_deploy_smoke(registry: Registry, name: str, version: str) -> str:
    """What post_deploy_smoke will do, in words."""
    settings = registry.settings
    target = settings.endpoint
    if not target:
        return describe_local_smoke(name, version)
    if settings.admin_token:
        switch = (
            f"ask {target} to reload now if it does not serve v{version} yet (POST /admin/reload with "
            f"MLGATE_ADMIN_TOKEN), wait up to {settings.endpoint_wait_seconds:g} s for it to serve v{version}"
        )
    else:
        switch = (
            f"wait up to {settings.endpoint_wait_seconds:g} s for {target} to serve v{version} (its next poll of "
            "the registry; set MLGATE_ADMIN_TOKEN to make it reload at once)"
        )
    return (
        f"{switch}, send the logged serving input example, and check status, shape, types, answering version, "
        f"latency (<= {settings.smoke_latency_budget_ms:g} ms) and predictions against models:/{name}/{version} "
        "(its recorded smoke reference, else computed locally while waiting)"
    )
