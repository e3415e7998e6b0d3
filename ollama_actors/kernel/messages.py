"""Kernel envelopes and exit reasons: the only message shapes the kernel itself reads.

Every message sent to a ``GenServer`` travels in one of three envelopes, as in
OTP's gen_server: ``Call`` (expects an answer through its reply-to), ``Cast``
(fire and forget), ``Info`` (timers, child reports, process exits, replies from
other actors). Pure data: no threads, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import pykka

from ollama_actors.kernel.reply import ReplyTo

__all__ = [
    "Call",
    "Cast",
    "ChildExited",
    "ExitKind",
    "ExitReason",
    "Info",
    "call",
    "cast",
    "send_info",
]


@dataclass(frozen=True)
class Call:
    """A request that must be answered through ``reply`` (set once, or failed)."""

    message: object
    reply: ReplyTo


@dataclass(frozen=True)
class Cast:
    """A request with no answer."""

    message: object


@dataclass(frozen=True)
class Info:
    """Anything that is not a call or a cast: timers, child exits, replies."""

    message: object


class ExitKind(Enum):
    NORMAL = "normal"  # the actor stopped itself
    SHUTDOWN = "shutdown"  # its supervisor (or the tree) stopped it
    CRASH = "crash"  # an exception escaped a handler or init


@dataclass(frozen=True)
class ExitReason:
    kind: ExitKind
    error: BaseException | None = field(default=None, compare=False)

    @property
    def abnormal(self) -> bool:
        """OTP's notion: anything but normal/shutdown triggers a transient restart."""
        return self.kind is ExitKind.CRASH

    def describe(self) -> str:
        if self.error is None:
            return self.kind.value
        return f"{self.kind.value}: {type(self.error).__name__}: {self.error}"


@dataclass(frozen=True)
class ChildExited:
    """Info a child sends its supervisor when it stops, for any reason."""

    child_id: str
    actor_urn: str
    reason: ExitReason


def call(ref: pykka.ActorRef, message: object, reply: ReplyTo) -> None:
    """Send ``message`` as a call; a dead actor fails the reply at once."""
    try:
        ref.tell(Call(message, reply))
    except pykka.ActorDeadError:
        from ollama_actors.domain.errors import ServiceUnavailableError

        reply.fail(ServiceUnavailableError(f"actor {ref} is not running"))


def cast(ref: pykka.ActorRef, message: object) -> bool:
    """Send ``message`` as a cast; returns False if the actor is already dead."""
    try:
        ref.tell(Cast(message))
    except pykka.ActorDeadError:
        return False
    return True


def send_info(ref: pykka.ActorRef, message: object) -> bool:
    """Send ``message`` as info; returns False if the actor is already dead."""
    try:
        ref.tell(Info(message))
    except pykka.ActorDeadError:
        return False
    return True
