"""Ollama's duration values (keep_alive, OLLAMA_KEEP_ALIVE, OLLAMA_LOAD_TIMEOUT).

A number is seconds; a string is Go's duration syntax (``"5m"``, ``"1h30m"``,
``"-1m"``, ``"500ms"``); a bare number inside a string is rejected as Go rejects
it. Negative means forever (``math.inf`` here). Pure functions.
"""

from __future__ import annotations

import math
import re

from ollama_actors.domain.errors import InvalidRequestError

__all__ = ["format_go_duration", "parse_go_duration", "parse_keep_alive"]

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# Go reads a unit up to the next digit or dot, so "5mx" has the unknown unit "mx".
_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)(?![^0-9.])")
_NUMBER_THEN_UNIT = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)([^0-9.]*)")


def parse_go_duration(text: str) -> float:
    """Parse Go's ``time.ParseDuration`` syntax into seconds (may be negative)."""
    raw = text
    sign = 1.0
    if text[:1] in ("+", "-"):  # not `in "+-"`: the empty string is in every string
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    if not text:
        raise InvalidRequestError(f'time: invalid duration "{raw}"')
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if not match:
            number = _NUMBER_THEN_UNIT.match(text, pos)
            if number and not number.group(1):
                raise InvalidRequestError(f'time: missing unit in duration "{raw}"')
            if number:
                raise InvalidRequestError(f'time: unknown unit "{number.group(1)}" in duration "{raw}"')
            raise InvalidRequestError(f'time: invalid duration "{raw}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def parse_keep_alive(value: object) -> float:
    """keep_alive as seconds; negative values mean forever (``math.inf``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidRequestError(f"Unsupported type: '{type(value).__name__}'")
    seconds = parse_go_duration(value.strip()) if isinstance(value, str) else float(value)
    if math.isnan(seconds):
        raise InvalidRequestError("keep_alive must be a number")
    return math.inf if seconds < 0 else seconds


def format_go_duration(seconds: float) -> str:
    """Go's ``Duration.String`` (``5m0s``, ``1h30m0s``, ``1.5s``, ``500ms``); forever is ``-1``."""
    if math.isinf(seconds):
        return "-1"
    nanos = round(seconds * 1_000_000_000)
    if nanos == 0:
        return "0s"
    sign, nanos = ("-" if nanos < 0 else ""), abs(nanos)
    if nanos < 1_000_000_000:  # below one second Go switches to ms, µs or ns
        unit, scale = next((u, k) for u, k in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)) if nanos >= k)
        return f"{sign}{_decimal(nanos, scale)}{unit}"
    total_minutes, second_nanos = divmod(nanos, 60 * 1_000_000_000)
    hours, minutes = divmod(total_minutes, 60)
    out = f"{_decimal(second_nanos, 1_000_000_000)}s"
    if total_minutes:
        out = f"{minutes}m{out}"
    if hours:
        out = f"{hours}h{out}"
    return sign + out


def _decimal(value: int, scale: int) -> str:
    """``value / scale`` written exactly, without trailing zeros (``1500, 1000`` → ``1.5``)."""
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")
