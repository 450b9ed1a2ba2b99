"""The one grammar for a moment in time (``--at``): ISO-8601 (UTC unless a zone is given) or "2h ago" / "now".

``2025-03-04T03:12:00``, ``2025-03-04 03:12``, ``2025-03-04`` (midnight UTC), ``2025-03-04T03:12:00+01:00``,
``...Z``; relative: ``90s ago``, ``2h ago``, ``3 days ago`` (the duration grammar of mlgate.config.durations), ``now``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from mlgate.config.durations import parse_duration
from mlgate.exceptions import MlgateError, UsageError

EXAMPLES = '2025-03-04T03:12:00 (UTC unless it ends with a zone such as +01:00 or Z), "2h ago" or "now"'
FUTURE_SLACK_SECONDS = 60.0  # clocks of different machines disagree a little
_WORDS = {
    f"{word}{plural}": unit
    for word, unit in (("second", "s"), ("sec", "s"), ("minute", "m"), ("min", "m"), ("hour", "h"), ("day", "d"))
    for plural in ("", "s")
}  # "2 hours ago" reads as "2h ago"


def parse_moment(
    value: str | float | datetime,
    what: str = "--at",
    *,
    now: float | None = None,
    error: type[MlgateError] = UsageError,
) -> float:
    """Epoch seconds of ``value``: a datetime (naive = UTC), epoch seconds, or text in the grammar above.

    A moment in the future, or text that is none of these, raises ``error`` naming ``what``.
    """
    now = time.time() if now is None else now
    if isinstance(value, datetime):
        moment = _epoch(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = float(value)
    else:
        moment = _parse_text(str(value).strip(), what, now, error)
    if moment > now + FUTURE_SLACK_SECONDS:
        shown = datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
        raise error(f"{_prefix(what)}{shown} is in the future", f"give a moment up to now, e.g. {EXAMPLES}")
    return moment


def _parse_text(text: str, what: str, now: float, error: type[MlgateError]) -> float:
    lowered = text.lower()
    if lowered == "now":
        return now
    if lowered.endswith(" ago"):
        amount = lowered[: -len(" ago")].strip()
        number, _, unit = amount.partition(" ")
        amount = number + _WORDS.get(unit.strip(), unit.strip()) if unit else amount
        try:
            return now - parse_duration(amount, what, error=error)
        except MlgateError:
            raise error(f"{_prefix(what)}cannot read {text!r} as a moment", f"write it like {EXAMPLES}") from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise error(f"{_prefix(what)}cannot read {text!r} as a moment", f"write it like {EXAMPLES}") from None
    return _epoch(parsed)


def _prefix(what: str) -> str:
    return f"{what}: " if what else ""


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def iso(moment: float) -> str:
    """``moment`` (epoch seconds) as ISO-8601 UTC with milliseconds, as every mlgate record writes times."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
