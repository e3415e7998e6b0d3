"""Byte-range parts of one large blob download (pure).

A blob larger than the minimum part size is fetched as several ``Range``
requests at once, as Ollama does (``server/download.go``: 16 parts of at least
100 MB and at most 1 GB). Each part remembers how many of its bytes are already
on disk, so an interrupted download (a cut connection, Ctrl-C, a daemon restart)
resumes with only the missing ranges. This module plans the parts and keeps
their progress as values; reading and writing the files is the adapter's job
(``management/adapters/part_file.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

__all__ = ["MAX_PARTS", "Part", "PartsState", "plan_parts"]

MAX_PARTS = 1024


@dataclass(frozen=True)
class Part:
    """Bytes ``[start, end)`` of the blob, of which the first ``done`` are written."""

    start: int
    end: int
    done: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def offset(self) -> int:
        """Where the next byte of this part goes (and where its Range request starts)."""
        return self.start + self.done

    @property
    def complete(self) -> bool:
        return self.done >= self.size


def plan_parts(size: int, *, min_part: int, max_part: int, count: int) -> tuple[Part, ...]:
    """Split ``size`` bytes into about ``count`` parts of ``min_part``..``max_part`` bytes.

    The last part takes the remainder; never more than ``MAX_PARTS`` parts. A blob no larger than ``min_part`` is one
    part (the caller then streams it in one request, hashing as it goes).
    """
    if size <= 0:
        return (Part(0, 0),)
    part = min(max(-(-size // max(count, 1)), min_part), max(max_part, min_part))
    part = max(part, -(-size // MAX_PARTS), 1)  # bounded however large the manifest says it is
    return tuple(Part(start, min(start + part, size)) for start in range(0, size, part))


@dataclass(frozen=True)
class PartsState:
    """The parts of one blob of ``size`` bytes and their progress; JSON-able for the sidecar."""

    size: int
    parts: tuple[Part, ...]

    @property
    def completed(self) -> int:
        """Bytes on disk, all parts together."""
        return sum(min(p.done, p.size) for p in self.parts)

    @property
    def complete(self) -> bool:
        return all(p.complete for p in self.parts)

    def missing(self) -> tuple[int, ...]:
        """Indexes of the parts still to fetch."""
        return tuple(i for i, p in enumerate(self.parts) if not p.complete)

    def advanced(self, index: int, done: int) -> PartsState:
        """This state with part ``index`` at ``done`` bytes (never past its size)."""
        part = self.parts[index]
        parts = list(self.parts)
        parts[index] = replace(part, done=max(0, min(done, part.size)))
        return PartsState(self.size, tuple(parts))

    def contiguous_prefix(self) -> int:
        """How many bytes from 0 on are written without a gap (a single stream resumes there)."""
        total = 0
        for part in self.parts:
            total += min(part.done, part.size)
            if not part.complete:
                break
        return total

    @classmethod
    def from_prefix(cls, plan: tuple[Part, ...], prefix: int) -> PartsState:
        """The state of a partial file written from byte 0 to ``prefix`` by a single stream."""
        parts = tuple(replace(p, done=max(0, min(prefix - p.start, p.size))) for p in plan)
        return cls(plan[-1].end if plan else 0, parts)

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "parts": [[p.start, p.end, p.done] for p in self.parts]}

    @classmethod
    def from_json(cls, data: object, plan: tuple[Part, ...]) -> PartsState | None:
        """The recorded progress if it describes exactly ``plan``; else None (start over).

        A sidecar from another plan (other part sizes) or a damaged one is not
        trusted: its ``done`` counts could claim bytes that were never written.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("parts"), list):
            return None
        recorded = data["parts"]
        if len(recorded) != len(plan):
            return None
        parts: list[Part] = []
        for entry, planned in zip(recorded, plan):
            if (not isinstance(entry, list) or len(entry) != 3
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in entry)):
                return None
            start, end, done = entry
            if (start, end) != (planned.start, planned.end) or not 0 <= done <= planned.size:
                return None
            parts.append(replace(planned, done=done))
        size = plan[-1].end if plan else 0
        if data.get("size") != size:
            return None
        return cls(size, tuple(parts))
