"""PartFile: a blob partial written in byte-range parts, with its progress sidecar.

The data stays in ``blobs/sha256-<hex>-partial`` (the file the ModelManager hands
out, so commit, discard and the start-up prune treat it as before), grown to the
blob's full size so each part writes at its own offset; the progress of every
part is kept next to it in ``sha256-<hex>-partial.parts`` (JSON). The sidecar
is written atomically (temp file, fsync, ``os.replace``) and only after the data
it counts was fsynced, so after a crash it may understate what is on disk, never
overstate it: a resume can re-fetch a few bytes, never skip missing ones.

A partial without a sidecar was written by a single stream from byte 0: its
length is its progress. ``collapse`` turns a parted partial back into that form
when the download has to go on as one stream (a registry that ignores Range).

Thread-safety: parts are fetched by several threads at once; ``write_at`` uses
``os.pwrite`` (no shared file position) and the progress is guarded by a lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from ollama_actors.management.domain.parts import Part, PartsState

__all__ = ["SIDECAR_SUFFIX", "PartFile", "sidecar_path"]

SIDECAR_SUFFIX = ".parts"
SAVE_INTERVAL_S = 1.0  # progress is saved at least this often while bytes flow


def sidecar_path(partial: Path) -> Path:
    """Where the part progress of ``partial`` is kept."""
    return partial.with_name(partial.name + SIDECAR_SUFFIX)


class PartFile:
    """An open parted partial; use as a context manager (saves progress and closes)."""

    def __init__(self, partial: Path, state: PartsState) -> None:
        self.path = partial
        self._state = state
        self._lock = threading.Lock()
        self._fd = os.open(partial, os.O_RDWR)
        self._last_save = time.monotonic()
        # The sidecar first, then the growth: a full-size file is never without one
        # (else its zeros would read as a finished single-stream prefix).
        self.save()
        os.ftruncate(self._fd, state.size)  # sparse: each part writes at its offset

    @classmethod
    def open(cls, partial: Path, plan: tuple[Part, ...]) -> PartFile:
        """Open ``partial`` for the parts of ``plan``, resuming what the sidecar records.

        No sidecar: the file is a single stream's prefix (or empty). A sidecar for
        another plan, or a partial longer than the blob: start over from nothing.
        """
        state = _recorded(partial, plan)
        if state is None:
            size = plan[-1].end if plan else 0
            prefix = partial.stat().st_size if partial.exists() else 0
            if prefix > size or sidecar_path(partial).exists():
                prefix = 0  # a parted file whose record cannot be trusted: its zeros prove nothing
                os.truncate(partial, 0)
            state = PartsState.from_prefix(plan, prefix)
        return cls(partial, state)

    @staticmethod
    def collapse(partial: Path, plan: tuple[Part, ...]) -> None:
        """Make a parted partial a single-stream one: keep the gap-free prefix, drop the sidecar."""
        sidecar = sidecar_path(partial)
        if not sidecar.exists():
            return
        state = _recorded(partial, plan)
        keep = state.contiguous_prefix() if state is not None else 0
        with partial.open("r+b") as out:
            out.truncate(keep)
        sidecar.unlink(missing_ok=True)

    @property
    def state(self) -> PartsState:
        with self._lock:
            return self._state

    def write_at(self, index: int, data: bytes) -> int:
        """Write the next bytes of part ``index`` and count them; the part's new ``done``."""
        with self._lock:
            part = self._state.parts[index]
        os.pwrite(self._fd, data, part.offset)
        with self._lock:
            self._state = self._state.advanced(index, part.done + len(data))
            return self._state.parts[index].done

    def save_if_due(self) -> None:
        """Save the progress when the last save is older than ``SAVE_INTERVAL_S``."""
        if time.monotonic() - self._last_save >= SAVE_INTERVAL_S:
            self.save()

    def save(self) -> None:
        """Persist the progress: data fsynced first, then the sidecar replaced atomically."""
        state = self.state  # taken before the fsync: it counts only bytes already written
        os.fsync(self._fd)
        self._last_save = time.monotonic()
        sidecar = sidecar_path(self.path)
        temp = sidecar.with_name(f"{sidecar.name}.{threading.get_ident()}.tmp")
        with temp.open("w", encoding="utf-8") as out:
            json.dump(state.to_json(), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, sidecar)

    def hexdigest(self) -> str:
        """SHA-256 of the whole file (parts arrive out of order, so it is hashed at the end)."""
        hasher = hashlib.sha256()
        with self.path.open("rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                hasher.update(block)
        return hasher.hexdigest()

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self.save()
        finally:
            self.close()


def _recorded(partial: Path, plan: tuple[Part, ...]) -> PartsState | None:
    """The sidecar's progress for ``plan``, or None when absent, damaged or for another plan."""
    try:
        data = json.loads(sidecar_path(partial).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    state = PartsState.from_json(data, plan)
    if state is None or not partial.exists() or partial.stat().st_size not in (state.size, 0):
        return None
    if partial.stat().st_size == 0 and state.completed:
        return None  # progress claimed for bytes that are not there
    return state
