"""The smoke test against a serving endpoint: wait for it to serve the version (nudging a reload), then probe it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlgate.release.smoke.checks import compute_expected, predictions_disagree, response_checks
from mlgate.release.smoke.reference import Expected, read_reference, record_reference
from mlgate.release.smoke.result import SmokeCheck, SmokeResult

if TYPE_CHECKING:
    from mlgate.registry import Registry


RELOAD_TIMEOUT_SECONDS = 2.0  # asking a gateway to reload is a nudge: on no answer, its poll still switches


VERSION_HEADER = "X-Mlgate-Model-Version"


ROUTE_HEADER = "X-Mlgate-Route"


ADMIN_HEADER = "X-Mlgate-Admin-Token"


def reload_endpoint(endpoint: str, admin_token: str, timeout: float = RELOAD_TIMEOUT_SECONDS) -> str:
    """Ask an mlgate gateway to read the registry now (``POST /admin/reload``); best effort.

    Returns what happened, in words that never include the token.
    """
    import requests

    try:
        answer = requests.post(
            endpoint.rstrip("/") + "/admin/reload", headers={ADMIN_HEADER: admin_token}, timeout=timeout
        )
    except requests.RequestException as exc:
        return f"asked it to reload: no answer within {timeout:g} s ({type(exc).__name__}), so waiting for its poll"
    if answer.ok:
        return "asked it to reload: done"
    why = {401: "the admin token was refused", 403: "its admin endpoint is disabled"}.get(answer.status_code, "")
    return f"asked it to reload: HTTP {answer.status_code}{f' ({why})' if why else ''}, so waiting for its poll"


def wait_for_version(
    endpoint: str, version: str, wait_seconds: float, nudge: Callable[[], str] | None = None
) -> tuple[SmokeCheck, str | None]:
    """Wait (bounded) until an mlgate gateway reports ``version``; returns the check and its route.

    ``nudge`` is called once, when the gateway first answers with another version (e.g. to ask
    it to reload now); what it returns goes into the check's detail.
    An endpoint without mlgate's ``/version`` JSON (``mlflow models serve``) cannot report
    what it serves: the check is skipped and says so.
    """
    import requests

    deadline = time.monotonic() + wait_seconds
    seen: Any = None
    nudged: str | None = None
    while True:
        try:
            answer = requests.get(endpoint.rstrip("/") + "/version", timeout=5)
            answered = answer.status_code < 500
            info = answer.json() if answer.ok else None
        except ValueError:  # before RequestException: requests' JSONDecodeError is both
            info = None  # answered, but not with mlgate's JSON (mlflow's /version is plain text)
        except requests.RequestException:
            answered, info = False, None
        if answered and not (isinstance(info, dict) and "production" in info):
            return SmokeCheck(
                "endpoint serves the version",
                True,
                "not an mlgate gateway (e.g. mlflow models serve): it cannot report its model version",
                skipped=True,
            ), None
        if isinstance(info, dict):
            seen = {"production": info.get("production"), "canary": info.get("canary")}
            for route in ("production", "canary"):
                if str(info.get(route)) == str(version):
                    waited = wait_seconds - max(deadline - time.monotonic(), 0)
                    also = f"; {nudged}" if nudged else ""
                    return SmokeCheck(
                        "endpoint serves the version", True, f"{route} is v{version} (after {waited:.1f} s{also})"
                    ), route
            if nudge is not None and nudged is None:
                nudged = nudge()
                continue  # look again at once: a gateway that reloaded serves it now
        if time.monotonic() >= deadline:
            what = f"it serves {seen}" if seen else "it did not answer"
            also = f"; {nudged}" if nudged else ""
            return SmokeCheck(
                "endpoint serves the version",
                False,
                f"after {wait_seconds:g} s {endpoint} still does not serve v{version}: {what}{also}",
            ), None
        time.sleep(0.1)


def smoke_endpoint(
    registry: Registry,
    name: str,
    version: str,
    endpoint: str,
    wait_seconds: float | None = None,
    admin_token: str | None = None,
) -> SmokeResult:
    """Send the version's logged serving input example to ``endpoint`` and check what comes back.

    Checks: status, response shape and types, the answering version (mlgate's header; an
    endpoint without it is said to be unchecked), the latency budget, and that the predictions
    equal the registry model's. Those come from the version's recorded smoke reference when it
    is valid (no model download); else the model is loaded and predicts here, in a background
    thread while the endpoint switches, and a passing test records them as the reference.
    With ``admin_token``, a gateway that does not serve the version yet is asked to reload now.
    """
    notes: list[str] = []
    expected, ignored = read_reference(registry, name, version)
    if ignored:
        notes.append(ignored)
    local = None if expected is not None else _in_background(compute_expected, registry, name, version)
    checks: list[SmokeCheck] = []
    route = None
    if wait_seconds is not None:
        nudge = None if not admin_token else (lambda: reload_endpoint(endpoint, admin_token))
        check, route = wait_for_version(endpoint, version, wait_seconds, nudge)
        checks.append(check)
        if not check.passed:
            if local is not None:
                with contextlib.suppress(Exception):
                    local()  # let the local load finish and clean up after itself; the verdict is made
            return SmokeResult(name, version, endpoint, checks, notes=notes)
    if expected is not None:
        result = _probe(registry, name, version, endpoint, route, expected, checks, notes)
        if not predictions_disagree(result):
            return result
        notes.append(
            f"the endpoint disagreed with the recorded smoke reference of {expected.computed_at}: "
            "loaded the model to compute its predictions now"
        )
    outcome = local() if local is not None else compute_expected(registry, name, version)
    if isinstance(outcome, SmokeCheck):
        return SmokeResult(name, version, endpoint, [*checks, outcome], notes=notes)
    result = _probe(registry, name, version, endpoint, route, outcome, checks, notes)
    if result.passed:
        notes.append(record_reference(registry, name, version, outcome, f"endpoint smoke of {endpoint}"))
    return result


def _in_background(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """Start ``fn(*args)`` in a thread; the returned function waits for its result (or raises its error)."""
    box: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            box.append((True, fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
            box.append((False, exc))

    thread = threading.Thread(target=run, name="mlgate-smoke-local", daemon=True)
    thread.start()

    def result() -> Any:
        thread.join()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    return result


def _probe(
    registry: Registry,
    name: str,
    version: str,
    endpoint: str,
    route: str | None,
    expected: Expected,
    checks: list[SmokeCheck],
    notes: list[str],
) -> SmokeResult:
    """Send the serving example once and check the answer against ``expected`` (after ``checks``)."""
    import requests

    checks = list(checks)
    headers = {"Content-Type": "application/json"}
    if route:
        headers[ROUTE_HEADER] = route
    start = time.perf_counter()
    try:
        answer = requests.post(
            endpoint.rstrip("/") + "/invocations", data=expected.payload, headers=headers, timeout=30
        )
    except requests.RequestException as exc:
        checks.append(SmokeCheck("endpoint answers", False, f"{endpoint}: {type(exc).__name__}: {str(exc)[:200]}"))
        return SmokeResult(name, version, endpoint, checks, notes=notes)
    latency = (time.perf_counter() - start) * 1000
    checks.append(
        SmokeCheck("status 200", answer.status_code == 200, f"HTTP {answer.status_code}" + _body_hint(answer))
    )
    checks.extend(response_checks(answer, expected, expected.origin(name, version)))
    served = answer.headers.get(VERSION_HEADER)
    if served is None:
        checks.append(
            SmokeCheck(
                "answering version",
                True,
                f"the endpoint does not name the version that answered (no {VERSION_HEADER} header, e.g. "
                "mlflow models serve): not checked",
                skipped=True,
            )
        )
    else:
        checks.append(
            SmokeCheck("answering version", served == str(version), f"v{served} answered, expected v{version}")
        )
    budget = registry.settings.smoke_latency_budget_ms
    checks.append(SmokeCheck("latency budget", latency <= budget, f"{latency:.1f} ms (budget {budget:g} ms)"))
    return SmokeResult(name, version, endpoint, checks, latency, notes)


def _body_hint(answer: Any) -> str:
    if answer.status_code == 200:
        return ""
    return ": " + answer.text[:200].replace("\n", " ")
