"""The smoke test's checks on predictions: in process from the registry, and of an answer against expectations."""

from __future__ import annotations

import math
import tempfile
import time
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import MlgateError
from mlgate.registry.package import load_package
from mlgate.release.smoke.reference import Expected, record_reference
from mlgate.release.smoke.result import SmokeCheck, SmokeResult

if TYPE_CHECKING:
    from mlgate.registry import Registry


def describe_local_smoke(name: str, version: str) -> str:
    """What the in-process smoke test does, for plans and runbooks."""
    return f"load models:/{name}/{version} from the registry and predict its logged input example"


def smoke_in_process(registry: Registry, name: str, version: str) -> SmokeResult:
    """Load the version from the registry and predict its logged input example.

    When it passes, the predictions of the serving input example are recorded on the version as
    its smoke reference (best effort), so a later endpoint smoke need not load the model.
    """

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


def compute_expected(registry: Registry, name: str, version: str) -> Expected | SmokeCheck:
    """Download and load the version and predict its input example: what an endpoint must answer.

    Returns the failed check instead when the model does not load, has no example or cannot predict.
    """

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


_PREDICTION_CHECKS = {"response shape", "prediction types", "predictions match the registry model"}


def predictions_disagree(result: SmokeResult) -> bool:
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


def _as_list(predictions: Any) -> list[Any]:
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return list(predictions.to_dict(orient="records"))
    if hasattr(predictions, "tolist"):
        return list(predictions.tolist())
    return list(predictions)


def response_checks(answer: Any, expected: Expected, origin: str) -> list[SmokeCheck]:
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
