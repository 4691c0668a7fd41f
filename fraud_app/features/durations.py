"""Duration strings in feature specs ("30s", "15m", "1h", "7d", "2w") -> seconds.

Owns only the parsing; it does not know about Spark or about which keys hold durations.
"""

from __future__ import annotations

import re

_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PATTERN = re.compile(r"^([1-9][0-9]{0,15})([smhdw])$")  # more digits: far beyond the maximum
# 100 years: longer than any history a model reads, and far inside Spark's window frames
# (microseconds in a long: 99999999999999999w stopped with a NumberFormatException from the
# JVM, after the spec had been accepted)
MAX_SECONDS = 36_500 * 86_400
DURATION_HINT = (
    "a duration like '1h' or '7d' (a positive integer followed by s, m, h, d or w), "
    "at most 36500d (100 years)"
)


def parse_duration(text: object) -> int:
    """Seconds in `text`; raise ValueError (with the expected form) on anything else."""
    match = _PATTERN.match(text) if isinstance(text, str) else None
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else None
    if seconds is None or seconds > MAX_SECONDS:
        raise ValueError(f"must be {DURATION_HINT}. Received: {text!r}")
    return seconds
