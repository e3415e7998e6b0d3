"""Reading the few request headers the edge needs, in one pass.

``Headers.get`` scans the list and raises (then catches) a ``KeyError`` for a
header that is absent, which is most of them on most requests (``Origin``,
``X-Request-Id``, ``Authorization``, …); the edge looks at six per request.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["EDGE_HEADERS", "first_values"]

EDGE_HEADERS = frozenset({"origin", "host", "authorization", "content-length", "transfer-encoding", "x-request-id"})
"""The headers the edge's hooks read (lower case)."""


def first_values(headers: Iterable[tuple[str, str]], wanted: frozenset[str] = EDGE_HEADERS) -> dict[str, str]:
    """The first value of each ``wanted`` header present, by lower-case name,
    as ``Headers.get`` (case-insensitive, first one wins) would give it."""
    found: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in wanted and key not in found:
            found[key] = value
    return found
