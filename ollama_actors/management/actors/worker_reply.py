"""Cancellation and WorkerReply: how a transfer job's worker thread waits on actors.

A transfer job (an actor) starts one worker thread for the registry I/O. That
thread is not an actor: blocking is its job (it waits on sockets for minutes),
so it may also wait for the ModelManager's answer to ``OpenBlobPartial`` or
``CommitBlobPartial``. The kernel's ``BlockingReply`` is reserved for start/stop
code and tests because nothing can interrupt its wait; a ``WorkerReply`` is the
same set-once reply-to with one difference that makes it fit here: it belongs
to the job's ``Cancellation``, and cancelling the job (its ``terminate``, or the
last client leaving) fails every reply the worker is waiting on at once. So a
stopping job never leaves its worker parked behind a long commit, and the
actor itself still never waits on another actor.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from ollama_actors.domain.errors import ActorTimeoutError, RequestCanceledError

__all__ = ["Cancellation", "WorkerReply"]

T = TypeVar("T")


class Cancellation:
    """A job's cancel switch, shared by the actor (which cancels) and its worker threads."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._pending: set[WorkerReply[object]] = set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Cancel: waits end now with ``RequestCanceledError``; later checks raise it. Any thread."""
        with self._lock:
            self._event.set()
            pending, self._pending = self._pending, set()
        for reply in pending:
            reply.fail(RequestCanceledError("transfer canceled"))

    def check(self) -> None:
        """Raise ``RequestCanceledError`` once cancelled (called between chunks)."""
        if self._event.is_set():
            raise RequestCanceledError("transfer canceled")

    def sleep(self, seconds: float) -> None:
        """A retry back-off that a cancel cuts short (then raises ``RequestCanceledError``)."""
        if self._event.wait(seconds):
            raise RequestCanceledError("transfer canceled")

    def reply(self) -> WorkerReply[T]:
        """A reply-to for one call from a worker thread, failed if the job is cancelled."""
        reply: WorkerReply[T] = WorkerReply(self)
        with self._lock:
            cancelled = self._event.is_set()
            if not cancelled:
                self._pending.add(reply)  # type: ignore[arg-type]
        if cancelled:  # outside the lock: settling a reply takes it again
            reply.fail(RequestCanceledError("transfer canceled"))
        return reply

    def _forget(self, reply: WorkerReply[T]) -> None:
        with self._lock:
            self._pending.discard(reply)  # type: ignore[arg-type]


class WorkerReply(Generic[T]):
    """Set once from an actor's thread; a worker thread waits on it with a deadline."""

    def __init__(self, owner: Cancellation) -> None:
        self._owner = owner
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._value: object = None
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def set(self, value: object) -> None:
        self._settle(value, None)

    def fail(self, error: BaseException) -> None:
        self._settle(None, error)

    def _settle(self, value: object, error: BaseException | None) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._value, self._error = value, error
            self._event.set()
        self._owner._forget(self)

    def wait(self, timeout: float) -> T:
        """The value, or raise what the reply was failed with (``RequestCanceledError``
        on cancel); ``ActorTimeoutError`` past ``timeout`` seconds."""
        if not self._event.wait(timeout):
            self._owner._forget(self)
            raise ActorTimeoutError(f"no answer within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
