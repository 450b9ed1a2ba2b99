"""The one duration grammar of mlgate: config files, API arguments and CLI flags read "250ms", "30s", "10m", "1h", "2d".

A bare number (in YAML, or as a string such as "90") is seconds; decimals are fine ("1.5h").
Durations are never negative.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mlgate.exceptions import ConfigError, MlgateError

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
EXAMPLES = "250ms, 30s, 10m, 1h or 2d (a bare number is seconds)"
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")


def parse_duration(value: Any, what: str = "duration", *, error: type[MlgateError] = ConfigError) -> float:
    """Seconds in ``value``: a number of seconds, or a string such as ``"250ms"``, ``"30s"``, ``"10m"``, ``"1h"``.

    ``what`` names where the value was written (``"<file>: rules[0].window"``, ``"--window"``);
    a value that is not a duration raises ``error`` (ConfigError unless the caller says otherwise).
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
        if math.isnan(seconds) or math.isinf(seconds):
            raise error(f"{what}: {value!r} is not a duration", f"write it like {EXAMPLES}")
    else:
        match = _DURATION.fullmatch(str(value)) if isinstance(value, str) else None
        if match is None:
            raise error(f"{what}: cannot read {value!r} as a duration", f"write it like {EXAMPLES}")
        seconds = float(match.group(1)) * UNITS[match.group(2) or "s"]
    if seconds < 0:
        raise error(f"{what}: a duration cannot be negative, got {value!r}", f"write it like {EXAMPLES}")
    return seconds
