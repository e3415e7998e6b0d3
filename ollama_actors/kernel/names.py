"""Registered names, as OTP's ``register``/``whereis``, scoped to one tree.

A restarted actor has a new ``ActorRef``; peers find the current one by name at
send time instead of keeping a reference that may be stale. One ``Names`` object
per tree (no module-level registry, so several trees can live in one process,
as they do in the tests).
"""

from __future__ import annotations

import threading

import pykka

__all__ = ["Names"]


class Names:
    """Thread-safe name → ActorRef map. Actors register themselves in ``init``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: dict[str, pykka.ActorRef] = {}

    def register(self, name: str, ref: pykka.ActorRef) -> None:
        with self._lock:
            self._refs[name] = ref

    def unregister(self, name: str, ref: pykka.ActorRef) -> None:
        """Remove ``name`` only if it still points at ``ref`` (a successor may own it)."""
        with self._lock:
            if self._refs.get(name) is ref:
                del self._refs[name]

    def whereis(self, name: str) -> pykka.ActorRef | None:
        with self._lock:
            ref = self._refs.get(name)
        if ref is not None and not ref.is_alive():
            return None
        return ref
