"""The smoke reference: a version's expected predictions of its serving input example, recorded on the version.

Computing them means downloading and loading the model; a smoke test that did so and passed
records them (model-version tag ``mlgate.smoke.reference``) so the next endpoint smoke test of
the version loads nothing. A reference whose payload does not match its digest is ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import MlgateError
from mlgate.registry import keys, utcnow

if TYPE_CHECKING:
    from mlgate.registry import Registry

REFERENCE_MAX_CHARS = 90_000  # MLflow caps a model-version tag value at 100,000 characters


@dataclass(frozen=True)
class Expected:
    """What the endpoint must answer for the version's serving input example, and when it was computed."""

    payload: str  # the serving input example, sent as the request body
    rows: int
    predictions: list[Any]
    computed_at: str | None = None  # set when read from the version's recorded smoke reference

    def origin(self, name: str, version: str) -> str:
        when = f"at {self.computed_at} (recorded reference)" if self.computed_at else "now"
        return f"models:/{name}/{version} predictions computed locally {when}"


def read_reference(registry: Registry, name: str, version: str) -> tuple[Expected | None, str | None]:
    """The version's recorded smoke reference if it is valid; else None and, if one was ignored, why."""
    try:
        raw = (registry.version(name, version).tags or {}).get(keys.SMOKE_REFERENCE)
    except MlgateError:
        return None, None  # loading the model says what is wrong
    if not raw:
        return None, None
    expected, why = parse_reference(raw, version)
    if expected is None:
        return None, f"the recorded smoke reference (tag {keys.SMOKE_REFERENCE}) was ignored: {why}"
    return expected, None


def parse_reference(text: str, version: str) -> tuple[Expected | None, str]:
    """Read a smoke reference; a tampered or stale one (digest mismatch, unparsable) gives None and why."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None, "it is not valid JSON"
    if not isinstance(data, dict):
        return None, "it is not a JSON object"
    payload, digest, rows = data.get("payload"), data.get("payload_sha256"), data.get("rows")
    predictions = data.get("predictions")
    if not (isinstance(payload, str) and isinstance(digest, str) and isinstance(predictions, list)):
        return None, "payload, payload_sha256 or predictions is missing"
    if not isinstance(rows, int) or isinstance(rows, bool) or rows != len(predictions):
        return None, f"rows {rows!r} does not match its {len(predictions)} prediction(s)"
    if str(data.get("version")) != str(version):
        return None, f"it was computed for version {data.get('version')!r}, not {version}"
    if hashlib.sha256(payload.encode()).hexdigest() != digest:
        return None, "its payload does not match its sha256 (edited, or stale)"
    return Expected(payload, rows, predictions, str(data.get("computed_at") or "an unknown time")), ""


def record_reference(registry: Registry, name: str, version: str, expected: Expected, how: str) -> str:
    """Record ``expected`` as the version's smoke reference, best effort; returns what happened, in words.

    Skipped when the JSON would exceed REFERENCE_MAX_CHARS (a registry tag holds at most 100,000)
    or the registry refuses the write (e.g. a READ-only user): the smoke test does not fail on it.
    """
    from importlib.metadata import version as package_version

    try:
        text = json.dumps(
            {
                "format": 1,
                "model": f"models:/{name}/{version}",
                "version": str(version),
                "payload": expected.payload,
                "payload_sha256": hashlib.sha256(expected.payload.encode()).hexdigest(),
                "rows": expected.rows,
                "predictions": expected.predictions,
                "computed_at": utcnow(),
                "computed_by": registry.settings.actor,
                "computed_with": f"{how}, mlgate {package_version('mlgate')}, mlflow {package_version('mlflow')}",
            },
            default=_plain,
        )
    except (TypeError, ValueError) as exc:
        return f"smoke reference not recorded: the predictions are not JSON ({str(exc)[:100]})"
    if len(text) > REFERENCE_MAX_CHARS:
        return (
            f"smoke reference not recorded: it would take {len(text):,} characters, over the "
            f"{REFERENCE_MAX_CHARS:,} a registry tag can hold; endpoint smoke tests load the model each time"
        )
    try:
        registry.set_version_tag(name, version, keys.SMOKE_REFERENCE, text)
    except Exception as exc:  # noqa: BLE001 - best effort: a READ-only user's smoke test still counts
        why = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        return f"smoke reference not recorded: {str(why)[:300]}"
    return f"recorded the expected predictions as the smoke reference (version tag {keys.SMOKE_REFERENCE})"


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
