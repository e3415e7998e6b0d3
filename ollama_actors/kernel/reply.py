"""The reply-to protocol: how an answer travels back to whoever asked.

As in OTP, a request message carries its reply-to. The kernel knows only this
protocol; the bridge implements it for trio callers (``bridge.TrioReply``), the
kernel implements it for actor callers (``ActorReply``) and for blocking kernel
start/stop code and tests (``BlockingReply``).

Invariant: a reply is settled at most once; later ``set``/``fail`` calls are
ignored, so an actor can never raise while answering.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import pykka

T = TypeVar("T")

__all__ = ["ActorReply", "BlockingReply", "Replied", "ReplyTo"]


@runtime_checkable
class ReplyTo(Protocol):
    """Where an answer goes. Callable from any thread; never raises; set once."""

    @property
    def done(self) -> bool:
        """True once the reply has been settled (or its receiver has gone)."""
        ...

    def set(self, value: Any) -> None:  # Any: the value type is the request's
        """Settle the reply with a value. Ignored if already settled."""
        ...

    def fail(self, error: BaseException) -> None:
        """Settle the reply with an error. Ignored if already settled."""
        ...


@dataclass(frozen=True)
class Replied:
    """Info message an ``ActorReply`` delivers: the answer to the request tagged ``tag``."""

    tag: object
    value: object = None
    error: BaseException | None = None


class ActorReply:
    """Reply-to that delivers the answer to an actor's mailbox as a ``Replied`` info message.

    The receiving actor must route ``Replied`` in its ``handle_info`` table.
    """

    def __init__(self, ref: pykka.ActorRef[Any], tag: object) -> None:
        self._ref = ref
        self._tag = tag
        self._lock = threading.Lock()
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def _settle(self, message: Replied) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        try:
            self._ref.tell(_info(message))
        except pykka.ActorDeadError:
            pass  # the asker is gone: nobody to answer

    def set(self, value: object) -> None:
        self._settle(Replied(self._tag, value=value))

    def fail(self, error: BaseException) -> None:
        self._settle(Replied(self._tag, error=error))


class BlockingReply(Generic[T]):
    """Reply-to that a plain thread waits on, with a deadline. For kernel start/stop
    code and tests only; never use it on the trio thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._value: object = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def set(self, value: object) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._error = error
            self._event.set()

    def wait(self, timeout: float) -> T:
        """Block until settled; raise the error it was failed with, or TimeoutError."""
        if not self._event.wait(timeout):
            raise TimeoutError(f"no reply within {timeout}s")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def _info(message: object) -> object:
    # Imported late: messages.py defines the envelopes and imports nothing from here.
    from ollama_actors.kernel.messages import Info

    return Info(message)
