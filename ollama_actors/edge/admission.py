"""Admission during shutdown: once the daemon is stopping, new requests get 503.

Streams already running go on within the grace period (Hypercorn's
``graceful_timeout``); a request that arrives on a kept-alive connection after
SIGTERM is answered ``503 {"error": "server is shutting down"}`` with
``Connection: close`` rather than starting work the daemon cannot finish.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import Quart, Response

from ollama_actors.domain.errors import ServiceUnavailableError
from ollama_actors.edge.errors import error_response

__all__ = ["Admission", "install_admission"]


@dataclass
class Admission:
    """Set by the daemon (trio thread), read by the edge: no lock needed."""

    draining: bool = False

    def refusal(self) -> Response | None:
        """The answer to a new request while draining; None otherwise."""
        if not self.draining:
            return None
        response = error_response(ServiceUnavailableError("server is shutting down"))
        response.headers["Connection"] = "close"
        response.headers["Retry-After"] = "5"
        return response


def install_admission(app: Quart, admission: Admission) -> None:
    """A ``before_request`` hook of its own (``create_app`` checks in its edge pipeline instead)."""

    @app.before_request
    async def _refuse_when_draining() -> Response | None:
        return admission.refusal()
