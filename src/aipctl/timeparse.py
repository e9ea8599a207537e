"""Durations on the command line: ``3d``, ``12h``, ``1d12h``, ``90m``, ``1w``."""

from __future__ import annotations

import re

from aipctl._exceptions import UsageError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: '2d' -> 172800.0."""
    compact = text.replace(" ", "").lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise UsageError(f"cannot read duration {text!r}", hint="use e.g. 3d, 12h, 90m, 1d12h")
    return sum(float(n) * _UNITS[u] for n, u in parts)
