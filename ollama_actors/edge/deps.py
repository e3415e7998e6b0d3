"""What the HTTP edge needs from the running daemon: actor names and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pykka

from ollama_actors.domain.errors import ServiceUnavailableError
from ollama_actors.edge.admission import Admission
from ollama_actors.kernel.names import Names
from ollama_actors.settings import Settings

if TYPE_CHECKING:
    from ollama_actors.edge.metrics import DaemonMetrics
    from ollama_actors.tracing import Tracing

__all__ = ["EdgeDeps"]


@dataclass(frozen=True)
class EdgeDeps:
    names: Names
    settings: Settings
    version: str
    # The daemon's metrics (edge.metrics.DaemonMetrics); create_app makes one if absent.
    metrics: DaemonMetrics | None = field(default=None, compare=False)
    # Set draining on shutdown: new requests get 503 (edge.admission).
    admission: Admission = field(default_factory=Admission, compare=False)
    # OpenTelemetry tracing (ollama_actors.tracing), None when off: no span is made.
    tracing: Tracing | None = field(default=None, compare=False)

    def actor(self, name: str) -> pykka.ActorRef:
        """The current ActorRef registered as ``name`` (restarts give new refs)."""
        ref = self.names.whereis(name)
        if ref is None:
            raise ServiceUnavailableError(f"{name.replace('_', ' ')} is not running")
        return ref
