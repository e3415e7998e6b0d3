"""What the HTTP edge needs from the running daemon: actor names and settings."""

from __future__ import annotations

from dataclasses import dataclass

import pykka

from ollama_actors.domain.errors import ServiceUnavailableError
from ollama_actors.kernel.names import Names
from ollama_actors.settings import Settings

__all__ = ["EdgeDeps"]


@dataclass(frozen=True)
class EdgeDeps:
    names: Names
    settings: Settings
    version: str

    def actor(self, name: str) -> pykka.ActorRef:
        """The current ActorRef registered as ``name`` (restarts give new refs)."""
        ref = self.names.whereis(name)
        if ref is None:
            raise ServiceUnavailableError(f"{name.replace('_', ' ')} is not running")
        return ref
