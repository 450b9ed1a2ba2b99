"""The smoke reference: a version's expected predictions of its serving input example, recorded with the version.

Computing them means downloading and loading the model; a smoke test that did so and passed
records them (the version's file ``smoke_reference.json``, keys.SMOKE_REFERENCE_ARTIFACT, off its
tags) so the next endpoint smoke test of the version loads nothing. A reference whose payload does
not match its digest is ignored. Versions written before kept it as JSON in the version tag
``mlgate.smoke.reference``: read when there is no file, moved by ``mlgate migrate``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.exceptions import MlgateError
from mlgate.registry import keys, utcnow, version_files

if TYPE_CHECKING:
    from mlgate.registry import Registry

REFERENCE_MAX_CHARS = 5_000_000  # a reference is read before every endpoint smoke test: past this, load the model


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
        raw, where = reference_text(registry, name, version)
    except MlgateError:
        return None, None  # loading the model says what is wrong
    if not raw:
        return None, None
    expected, why = parse_reference(raw, version)
    if expected is None:
        return None, f"the recorded smoke reference ({where}) was ignored: {why}"
    return expected, None


def reference_text(registry: Registry, name: str, version: str) -> tuple[str | None, str]:
    """The recorded reference as stored, and where: the version's file, else the old version tag.

    A file recorded for an earlier registration under the same name and number (a model deleted and
    registered again from the same run) is not this version's: it reads as absent."""
    mv = registry.version(name, version)
    text = version_files.read_text(registry, mv, keys.SMOKE_REFERENCE_ARTIFACT)
    if text is not None and version_files.same_registration(text, mv):
        return text, f"file {keys.SMOKE_REFERENCE_ARTIFACT}"
    return (mv.tags or {}).get(keys.SMOKE_REFERENCE), f"tag {keys.SMOKE_REFERENCE}"


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

    Skipped when the JSON would exceed REFERENCE_MAX_CHARS or the registry refuses the write (e.g. a
    READ-only user): the smoke test does not fail on it.
    """
    from importlib.metadata import version as package_version

    try:
        text = json.dumps(
            {
                "format": 1,
                "model": f"models:/{name}/{version}",
                "version": str(version),
                version_files.REGISTERED_AT: int(registry.version(name, version).creation_timestamp or 0),
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
            f"{REFERENCE_MAX_CHARS:,} a reference may take; endpoint smoke tests load the model each time"
        )
    try:
        version_files.write_text(registry, name, version, keys.SMOKE_REFERENCE_ARTIFACT, text)
    except Exception as exc:  # noqa: BLE001 - best effort: a READ-only user's smoke test still counts
        why = str(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
        if "403" in why or "ermission denied" in why:  # the artifact proxy answers 403 to a READ-only user
            why = f"the registry refused the write (no permission on the version's run): {why}"
        return f"smoke reference not recorded: {why[:300]}"
    where = keys.version_artifact(name, version, keys.SMOKE_REFERENCE_ARTIFACT)
    return f"recorded the expected predictions as the smoke reference (file {where} of the version's run)"


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
