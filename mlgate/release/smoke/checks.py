"""Post-deploy smoke tests: the version's logged input example, in process or against an endpoint."""

from __future__ import annotations

import contextlib
import math
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlgate.release.smoke.reference import Expected, read_reference, record_reference

if TYPE_CHECKING:
    from mlgate.registry import Registry

RELOAD_TIMEOUT_SECONDS = 2.0  # asking a gateway to reload is a nudge: on no answer, its poll still switches


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


def describe_local_smoke(name: str, version: str) -> str:
    """What the in-process smoke test does, for plans and runbooks."""
    return f"load models:/{name}/{version} from the registry and predict its logged input example"


def smoke_in_process(registry: Registry, name: str, version: str) -> SmokeResult:
    """Load the version from the registry and predict its logged input example.

    When it passes, the predictions of the serving input example are recorded on the version as
    its smoke reference (best effort), so a later endpoint smoke need not load the model.
    """
    from mlgate.exceptions import MlgateError
    from mlgate.registry.package import load_package

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
        payload = _serving_example(package)
    result = SmokeResult(name, version, "in-process", checks, latency)
    if result.passed:
        if payload is None:
            result.notes.append("smoke reference not recorded: the input example cannot be sent as JSON")
        else:
            try:
                expected = Expected(payload, len(package.input_example), _as_list(predictions))
            except Exception as exc:  # noqa: BLE001 - predictions of an unusual type: nothing to record
                result.notes.append(f"smoke reference not recorded: predictions of type {type(exc).__name__}")
            else:
                result.notes.append(record_reference(registry, name, version, expected, "in-process smoke"))
    return result


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
        if not _predictions_disagree(result):
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


def compute_expected(registry: Registry, name: str, version: str) -> Expected | SmokeCheck:
    """Download and load the version and predict its input example: what an endpoint must answer.

    Returns the failed check instead when the model does not load, has no example or cannot predict.
    """
    from mlgate.exceptions import MlgateError
    from mlgate.registry.package import load_package

    with tempfile.TemporaryDirectory(prefix="mlgate-smoke-") as tmp:
        try:
            package = load_package(registry, name, version, tmp)
        except MlgateError as exc:
            return SmokeCheck("model loads", False, exc.message)
        payload = _serving_example(package)
        if payload is None or package.input_example is None:
            return SmokeCheck("input example", False, "no input example was logged with the model")
        try:
            predictions = _as_list(package.model.predict(package.input_example))
        except Exception as exc:  # noqa: BLE001 - a model that cannot predict locally is the verdict
            return SmokeCheck("predicts locally", False, f"{type(exc).__name__}: {str(exc)[:200]}")
        return Expected(payload, len(package.input_example), predictions)


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
    checks.extend(_response_checks(answer, expected, expected.origin(name, version)))
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


_PREDICTION_CHECKS = {"response shape", "prediction types", "predictions match the registry model"}


def _predictions_disagree(result: SmokeResult) -> bool:
    """Only the comparison with the expected predictions failed (a stale reference could be why)."""
    failed = {c.name for c in result.checks if not c.passed}
    return bool(failed) and failed <= _PREDICTION_CHECKS


def _serving_example(package: Any) -> str | None:
    path = package.path / "serving_input_example.json"
    if path.is_file():
        return str(path.read_text())
    if package.input_example is None or not hasattr(package.input_example, "to_json"):
        return None
    return '{"dataframe_split": ' + str(package.input_example.to_json(orient="split", index=False)) + "}"


def _body_hint(answer: Any) -> str:
    if answer.status_code == 200:
        return ""
    return ": " + answer.text[:200].replace("\n", " ")


def _as_list(predictions: Any) -> list[Any]:
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return list(predictions.to_dict(orient="records"))
    if hasattr(predictions, "tolist"):
        return list(predictions.tolist())
    return list(predictions)


def _response_checks(answer: Any, expected: Expected, origin: str) -> list[SmokeCheck]:
    if answer.status_code != 200:
        return []
    try:
        body = answer.json()
    except ValueError:
        return [SmokeCheck("response shape", False, f"the body is not JSON: {answer.text[:100]!r}")]
    rows, want = expected.rows, expected.predictions
    got = body.get("predictions") if isinstance(body, dict) else body
    if not isinstance(got, list) or len(got) != rows:
        size = len(got) if isinstance(got, list) else type(got).__name__
        return [SmokeCheck("response shape", False, f"expected a list of {rows} predictions, got {size}")]
    checks = [SmokeCheck("response shape", True, f"{rows} prediction(s) for {rows} row(s)")]
    kinds_ok = len(got) == len(want) and all(_kind(a) == _kind(b) for a, b in zip(got, want, strict=False))
    local = "recorded reference" if expected.computed_at else "local model"
    checks.append(
        SmokeCheck(
            "prediction types",
            kinds_ok,
            f"{sorted({_kind(v) for v in got})} ({local}: {sorted({_kind(v) for v in want})})",
        )
    )
    same = kinds_ok and all(_close(a, b) for a, b in zip(got, want, strict=True))
    checks.append(
        SmokeCheck(
            "predictions match the registry model",
            same,
            f"equal to {origin}" if same else f"endpoint {got[:5]} vs {origin}: {want[:5]}",
        )
    )
    return checks


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return bool(a == b)
