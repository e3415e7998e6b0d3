"""Ask an actor from trio without blocking the trio thread.

As in OTP, a request carries its reply-to: ``TrioReply`` is bound to the running
trio loop by its ``TrioToken``; the actor settles it from its own thread, which
hands the value to trio with ``run_sync_soon`` (never blocking the actor), and the
trio task awaits it under a deadline. pykka's own ``Future.__await__`` would call
the blocking ``get()``, so it is never used here.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import pykka
import trio

from ollama_actors.domain.errors import ActorTimeoutError
from ollama_actors.kernel.messages import call

__all__ = ["TrioReply", "ask"]


class TrioReply:
    """Set-once reply bound to the current trio run. ``set``/``fail`` are thread-safe,
    never raise, and are ignored once settled, abandoned, or after the run ended."""

    def __init__(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._event = trio.Event()
        self._lock = threading.Lock()
        self._done = False
        self._value: object = None
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._done

    def set(self, value: object) -> None:
        self._settle(value, None)

    def fail(self, error: BaseException) -> None:
        self._settle(None, error)

    def abandon(self) -> None:
        """The asker stopped waiting: later answers are dropped."""
        with self._lock:
            self._done = True

    def _settle(self, value: object, error: BaseException | None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            self._value, self._error = value, error
        try:
            # Event.set cannot raise, so this callback cannot take down the trio run.
            self._token.run_sync_soon(self._event.set)
        except trio.RunFinishedError:
            pass

    async def wait(self) -> Any:  # Any: the value type depends on the request
        """Wait for the answer; raise the error it was failed with."""
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value


async def ask(ref: pykka.ActorRef, message: object, *, timeout: float) -> Any:  # Any: see above
    """Call ``ref`` with ``message`` and await the reply for at most ``timeout`` seconds.

    Raises whatever the actor failed the reply with, ``ActorTimeoutError`` when no
    answer came in time (the actor may have died with the message in its mailbox),
    or ``ServiceUnavailableError`` when the actor is not running.
    """
    reply = TrioReply()
    call(ref, message, reply)
    try:
        with trio.fail_after(timeout if math.isfinite(timeout) else 1e9):
            return await reply.wait()
    except trio.TooSlowError:
        raise ActorTimeoutError(f"no answer from {type(message).__name__} within {timeout:g}s") from None
    finally:
        reply.abandon()
