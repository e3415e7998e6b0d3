"""Links: whom the kernel tells when an actor that started successfully exits.

pykka has no links; this is the kernel's replacement for OTP's link from a child
to its supervisor. A ``GenServer`` holds at most one link and calls its
``notify`` exactly once, from its own thread, after ``terminate`` ran and its
held replies were failed. An actor whose init() failed never notifies: its
starter learns of the failure from ``start_link`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pykka
import structlog

from ollama_actors.kernel.messages import ChildExited, ExitReason, send_info

__all__ = ["CallbackLink", "Link", "SupervisorLink"]


class Link(Protocol):
    """Receiver of one actor's exit. ``notify`` runs in the exiting actor's thread
    and must neither block nor raise."""

    def notify(self, actor_urn: str, reason: ExitReason) -> None:
        """Report that the actor ``actor_urn`` exited for ``reason``."""
        ...


@dataclass(frozen=True)
class SupervisorLink:
    """Reports the exit to a supervisor as ``Info(ChildExited(child_id, urn, reason))``."""

    # Any: the supervisor's class does not matter to the link.
    supervisor: pykka.ActorRef[Any]
    child_id: str

    def notify(self, actor_urn: str, reason: ExitReason) -> None:
        # A dead supervisor needs no report: it stopped (or abandoned) us itself.
        send_info(self.supervisor, ChildExited(self.child_id, actor_urn, reason))


@dataclass(frozen=True)
class CallbackLink:
    """Calls ``fn(reason)``: how the root tells the daemon that the tree is gone.

    ``fn`` runs in the exiting actor's thread; hand the news to your own loop
    (e.g. ``TrioToken.run_sync_soon``) rather than doing work there. An exception
    from ``fn`` is logged and swallowed: nothing is left to crash.
    """

    fn: Callable[[ExitReason], None]

    def notify(self, actor_urn: str, reason: ExitReason) -> None:
        try:
            self.fn(reason)
        except Exception:  # the actor is already gone; logging is all that is left
            structlog.get_logger().exception("exit_callback_failed", actor=actor_urn)
