"""Kernel envelopes and exit reasons: the only message shapes the kernel itself reads.

Every message sent to a ``GenServer`` travels in one of three envelopes, as in
OTP's gen_server: ``Call`` (expects an answer through its reply-to), ``Cast``
(fire and forget), ``Info`` (timers, child reports, process exits, replies from
other actors). Pure data: no threads, no I/O.

Each envelope also carries the sender's ``TraceContext`` (request id and, when
tracing is on, the span context), captured when the envelope is built in the
sender's thread; the ``GenServer`` binds it while it handles the message
(``kernel.trace``). It is ``None`` when the sender had nothing bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pykka

from ollama_actors.kernel.reply import ReplyTo
from ollama_actors.kernel.specs import ChildKind, ChildSpec, Restart
from ollama_actors.kernel.trace import TraceContext, capture_trace

__all__ = [
    "Call",
    "Cast",
    "ChildExited",
    "ChildInfo",
    "ExitKind",
    "ExitReason",
    "Info",
    "StartChild",
    "TerminateChild",
    "WhichChildren",
    "call",
    "cast",
    "send_info",
]


@dataclass(frozen=True)
class Call:
    """A request that must be answered through ``reply`` (set once, or failed)."""

    message: object
    reply: ReplyTo
    trace: TraceContext | None = field(default_factory=capture_trace, compare=False, repr=False)


@dataclass(frozen=True)
class Cast:
    """A request with no answer."""

    message: object
    trace: TraceContext | None = field(default_factory=capture_trace, compare=False, repr=False)


@dataclass(frozen=True)
class Info:
    """Anything that is not a call or a cast: timers, child exits, replies."""

    message: object
    trace: TraceContext | None = field(default_factory=capture_trace, compare=False, repr=False)


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


@dataclass(frozen=True)
class StartChild:
    """Call to a supervisor: start ``spec`` now and keep it. Replies the child's
    ``ActorRef``; fails with ``DuplicateChildError`` if the id is taken, or with
    ``StartError`` if the child did not start."""

    spec: ChildSpec


@dataclass(frozen=True)
class TerminateChild:
    """Call to a supervisor: stop ``child_id`` within its shutdown deadline and
    forget it. Replies None; fails with ``ChildNotFoundError`` for an unknown id."""

    child_id: str


@dataclass(frozen=True)
class WhichChildren:
    """Call to a supervisor: reply a ``tuple[ChildInfo, ...]`` in start order."""


@dataclass(frozen=True)
class ChildInfo:
    """One child as its supervisor sees it (the reply to ``WhichChildren``).

    ``ref`` is None while the child is not running (a transient child that ended
    normally, or one whose restart has not succeeded yet); ``restarts`` counts
    starts after the first; ``last_exit`` describes its latest exit, if any.
    """

    id: str
    # Any: the child's actor class is not the supervisor's business.
    ref: pykka.ActorRef[Any] | None
    kind: ChildKind
    restart: Restart
    restarts: int
    last_exit: str | None
    alive: bool


def call(ref: pykka.ActorRef[Any], message: object, reply: ReplyTo) -> None:
    """Send ``message`` as a call; a dead actor fails the reply at once."""
    try:
        ref.tell(Call(message, reply))
    except pykka.ActorDeadError:
        from ollama_actors.domain.errors import ServiceUnavailableError

        reply.fail(ServiceUnavailableError(f"actor {ref} is not running"))


def cast(ref: pykka.ActorRef[Any], message: object) -> bool:
    """Send ``message`` as a cast; returns False if the actor is already dead."""
    try:
        ref.tell(Cast(message))
    except pykka.ActorDeadError:
        return False
    return True


def send_info(ref: pykka.ActorRef[Any], message: object) -> bool:
    """Send ``message`` as info; returns False if the actor is already dead."""
    try:
        ref.tell(Info(message))
    except pykka.ActorDeadError:
        return False
    return True
