"""Post-deploy smoke tests: the version's logged input example, in process or against an endpoint."""

from __future__ import annotations

import math
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
    skipped: bool = False  # the check could not be made here (it says why); it does not fail the test


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


def post_deploy_smoke(registry: Registry, name: str, version: str, endpoint: str | None = None) -> SmokeResult:
    """The smoke test that proves a deployment: against the endpoint (``endpoint`` or the configured
    one, after waiting for it to serve ``version``), else in-process."""
    target = endpoint or registry.settings.endpoint
    if not target:
        return smoke_in_process(registry, name, version)
    return smoke_endpoint(registry, name, version, target, wait_seconds=registry.settings.endpoint_wait_seconds)


def describe_post_deploy_smoke(registry: Registry, name: str, version: str) -> str:
    """What post_deploy_smoke will do, in words."""
    target = registry.settings.endpoint
    if not target:
        return describe_local_smoke(name, version)
    return (
        f"wait up to {registry.settings.endpoint_wait_seconds:g} s for {target} to serve v{version}, send the "
        f"logged serving input example, and check status, shape, types, answering version, latency "
        f"(<= {registry.settings.smoke_latency_budget_ms:g} ms) and predictions against models:/{name}/{version}"
    )


VERSION_HEADER = "X-Mlgate-Model-Version"
ROUTE_HEADER = "X-Mlgate-Route"


def wait_for_version(endpoint: str, version: str, wait_seconds: float) -> tuple[SmokeCheck, str | None]:
    """Wait (bounded) until an mlgate gateway reports ``version``; returns the check and its route.

    An endpoint without mlgate's ``/version`` JSON (``mlflow models serve``) cannot report
    what it serves: the check is skipped and says so.
    """
    import requests

    deadline = time.monotonic() + wait_seconds
    seen: Any = None
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
                    return SmokeCheck(
                        "endpoint serves the version", True, f"{route} is v{version} (after {waited:.1f} s)"
                    ), route
        if time.monotonic() >= deadline:
            what = f"it serves {seen}" if seen else "it did not answer"
            return SmokeCheck(
                "endpoint serves the version",
                False,
                f"after {wait_seconds:g} s {endpoint} still does not serve v{version}: {what}",
            ), None
        time.sleep(0.1)


def smoke_endpoint(
    registry: Registry, name: str, version: str, endpoint: str, wait_seconds: float | None = None
) -> SmokeResult:
    """Send the version's logged serving input example to ``endpoint`` and check what comes back.

    Checks: status, response shape and types, the answering version (mlgate's header; an
    endpoint without it is said to be unchecked), the latency budget, and that the predictions
    equal the registry model's predictions computed here.
    """
    import requests

    from mlgate.exceptions import MlgateError
    from mlgate.registry import load_package

    checks: list[SmokeCheck] = []
    route = None
    if wait_seconds is not None:
        check, route = wait_for_version(endpoint, version, wait_seconds)
        checks.append(check)
        if not check.passed:
            return SmokeResult(name, version, endpoint, checks)
    with tempfile.TemporaryDirectory(prefix="mlgate-smoke-") as tmp:
        try:
            package = load_package(registry, name, version, tmp)
        except MlgateError as exc:
            checks.append(SmokeCheck("model loads", False, exc.message))
            return SmokeResult(name, version, endpoint, checks)
        payload = _serving_example(package)
        if payload is None or package.input_example is None:
            checks.append(SmokeCheck("input example", False, "no input example was logged with the model"))
            return SmokeResult(name, version, endpoint, checks)
        rows = len(package.input_example)
        try:
            expected = _as_list(package.model.predict(package.input_example))
        except Exception as exc:  # noqa: BLE001 - a model that cannot predict locally is the verdict
            checks.append(SmokeCheck("predicts locally", False, f"{type(exc).__name__}: {str(exc)[:200]}"))
            return SmokeResult(name, version, endpoint, checks)
    headers = {"Content-Type": "application/json"}
    if route:
        headers[ROUTE_HEADER] = route
    start = time.perf_counter()
    try:
        answer = requests.post(endpoint.rstrip("/") + "/invocations", data=payload, headers=headers, timeout=30)
    except requests.RequestException as exc:
        checks.append(SmokeCheck("endpoint answers", False, f"{endpoint}: {type(exc).__name__}: {str(exc)[:200]}"))
        return SmokeResult(name, version, endpoint, checks)
    latency = (time.perf_counter() - start) * 1000
    checks.append(
        SmokeCheck("status 200", answer.status_code == 200, f"HTTP {answer.status_code}" + _body_hint(answer))
    )
    checks.extend(_response_checks(answer, rows, expected))
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
    return SmokeResult(name, version, endpoint, checks, latency)


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


def _response_checks(answer: Any, rows: int, expected: list[Any]) -> list[SmokeCheck]:
    if answer.status_code != 200:
        return []
    try:
        body = answer.json()
    except ValueError:
        return [SmokeCheck("response shape", False, f"the body is not JSON: {answer.text[:100]!r}")]
    got = body.get("predictions") if isinstance(body, dict) else body
    if not isinstance(got, list) or len(got) != rows:
        size = len(got) if isinstance(got, list) else type(got).__name__
        return [SmokeCheck("response shape", False, f"expected a list of {rows} predictions, got {size}")]
    checks = [SmokeCheck("response shape", True, f"{rows} prediction(s) for {rows} row(s)")]
    kinds_ok = all(_kind(a) == _kind(b) for a, b in zip(got, expected, strict=True))
    checks.append(
        SmokeCheck(
            "prediction types",
            kinds_ok,
            f"{sorted({_kind(v) for v in got})} (local model: {sorted({_kind(v) for v in expected})})",
        )
    )
    same = kinds_ok and all(_close(a, b) for a, b in zip(got, expected, strict=True))
    checks.append(
        SmokeCheck(
            "predictions match the registry model",
            same,
            "equal to models:/ predictions computed locally" if same else f"endpoint {got[:5]} vs local {expected[:5]}",
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
