"""Bounded per-request token streams from an actor thread to a trio task.

The producer (a runner, on its own thread) ``push``es items without ever
blocking: the answer says whether the item was taken, whether the buffer is full
(pause this sequence, ``on_drain`` will tell you when to go on), or whether the
consumer is gone (the client left: drop the sequence and free its slot;
``on_close`` says so at once, even when nothing is being pushed). The
consumer (an HTTP handler on trio) iterates with ``async for``; leaving the loop
for any reason (cancellation by a client disconnect included) closes the stream.

A stream is also a reply-to (``set``/``fail``/``done``), so the kernel can fail
it when the actor holding it crashes: the client then gets one error line.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

import trio

__all__ = ["PushResult", "StreamClosedError", "StreamEnd", "TokenStream"]

T = TypeVar("T")


class PushResult(enum.Enum):
    OK = "ok"
    FULL = "full"  # taken, but the buffer is now at capacity: pause until on_drain
    CLOSED = "closed"  # consumer gone (client left) or stream already finished


class StreamClosedError(Exception):
    """The stream ended without a final value (the producer dropped it)."""


class StreamEnd:
    """End marker: the final value or the error the stream finished with."""

    def __init__(self, value: object, error: BaseException | None) -> None:
        self.value, self.error = value, error


class TokenStream(Generic[T]):
    """Thread-safe bounded stream; one producer thread, one trio consumer."""

    def __init__(
        self,
        capacity: int = 256,
        *,
        on_drain: Callable[[], None] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._items: deque[T] = deque()
        self._end: StreamEnd | None = None
        self._consumer_gone = False
        self._was_full = False
        self._wakeup = trio.Event()
        self._wake_pending = False
        self.on_drain = on_drain
        self.on_close = on_close

    # ---- producer side (any thread) ----
    @property
    def done(self) -> bool:
        """True once finished, failed, or abandoned by the consumer."""
        return self._end is not None or self._consumer_gone

    @property
    def consumer_gone(self) -> bool:
        return self._consumer_gone

    def push(self, item: T) -> PushResult:
        """Hand over one item without blocking."""
        with self._lock:
            if self._consumer_gone or self._end is not None:
                return PushResult.CLOSED
            self._items.append(item)
            full = len(self._items) >= self._capacity
            self._was_full = self._was_full or full
        self._wake()
        return PushResult.FULL if full else PushResult.OK

    def set(self, value: object) -> None:
        """Finish the stream with a final value (the consumer receives it last)."""
        self._finish(StreamEnd(value, None))

    def fail(self, error: BaseException) -> None:
        """Finish the stream with an error (the consumer raises it after the items)."""
        self._finish(StreamEnd(None, error))

    def _finish(self, end: StreamEnd) -> None:
        with self._lock:
            if self._end is not None or self._consumer_gone:
                return
            self._end = end
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        try:
            self._token.run_sync_soon(self._on_wake)
        except trio.RunFinishedError:
            self._consumer_gone = True

    def _on_wake(self) -> None:  # runs on the trio thread; cannot raise
        with self._lock:
            self._wake_pending = False
        self._wakeup.set()

    # ---- consumer side (trio) ----
    def close(self) -> None:
        """The consumer leaves; the producer's next push answers CLOSED, and
        ``on_close`` tells it now if the stream had not finished (so a producer can
        free what the stream held, a sequence slot, without waiting for a push)."""
        with self._lock:
            abandoned = not self._consumer_gone and self._end is None
            self._consumer_gone = True
            self._items.clear()
        if abandoned and self.on_close is not None:
            self.on_close()

    async def receive_batch(self) -> list[T] | StreamEnd:
        """Wait for items; returns the buffered items, or the end marker once drained."""
        while True:
            with self._lock:
                if self._items:
                    batch = list(self._items)
                    self._items.clear()
                    drained, self._was_full = self._was_full, False
                elif self._end is not None:
                    return self._end
                else:
                    self._wakeup = trio.Event()
                    batch, drained = [], False
            if batch:
                if drained and self.on_drain is not None:
                    self.on_drain()
                return batch
            await self._wakeup.wait()

    async def iterate(self) -> AsyncIterator[T]:
        """Yield items in order; then return (or raise the error it failed with).

        The final value, if any, is available as ``final`` after the loop.
        """
        try:
            while True:
                got = await self.receive_batch()
                if isinstance(got, StreamEnd):
                    if got.error is not None:
                        raise got.error
                    self.final = got.value
                    return
                for item in got:
                    yield item
        finally:
            self.close()

    final: object = None
