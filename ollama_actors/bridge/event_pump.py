"""Reading runner processes' event sockets on the trio thread.

A runner process writes one frame per decode step. Read by a thread of its own,
each step wakes that thread and then the trio thread (to write the chunks out):
two wake-ups per step, and on a small machine every wake-up is CPU taken from
llama.cpp's threads. Read here, on the trio thread that writes the HTTP chunks
anyway, a step costs one wake-up. The runner adapter hands the socket over with
``watch`` (from any thread); a system task reads it until the runner process
closes it, and calls ``on_frames`` with every complete frame, on the trio thread.

``on_frames`` must not block (it pushes onto token streams); an exception in it
is logged and ends the watch, never the trio run.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

import structlog
import trio

__all__ = ["TrioEventPump"]

FrameHandler = Callable[[Sequence[Any]], None]  # Any: the frames' types are the caller's
Decoder = Callable[[bytes], Sequence[Any]]


class TrioEventPump:
    """The runner's ``EventPump`` port on the trio run whose token it holds."""

    READ_SIZE = 65536

    def __init__(self, token: trio.lowlevel.TrioToken | None = None) -> None:
        self._token = token if token is not None else trio.lowlevel.current_trio_token()

    def watch(self, sock: socket.socket, decode: Decoder, on_frames: FrameHandler, on_end: Callable[[], None]) -> None:
        sock.setblocking(False)
        try:
            self._token.run_sync_soon(
                lambda: trio.lowlevel.spawn_system_task(self._read, sock, decode, on_frames, on_end)
            )
        except trio.RunFinishedError:
            sock.close()
            on_end()

    async def _read(self, sock: socket.socket, decode: Decoder, on_frames: FrameHandler,
                    on_end: Callable[[], None]) -> None:
        try:
            while True:
                await trio.lowlevel.wait_readable(sock)
                try:
                    data = sock.recv(self.READ_SIZE)
                except BlockingIOError:
                    continue
                if not data:
                    return
                frames = decode(data)
                if frames:
                    on_frames(frames)
        except (OSError, EOFError):
            return
        except Exception:  # a bug in a handler must not end the trio run
            structlog.get_logger().exception("event_pump_failed")
        finally:
            sock.close()
            try:
                on_end()
            except Exception:  # as above
                structlog.get_logger().exception("event_pump_failed")
