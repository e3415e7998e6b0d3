"""TrioEventPump: a runner's event socket read on the trio thread; FrameDecoder."""

from __future__ import annotations

import pickle
import socket
import struct
import threading

import pytest
import trio

from ollama_actors.bridge.event_pump import TrioEventPump
from ollama_actors.runner.adapters.runner_protocol import FrameDecoder, write_frame


def test_the_decoder_gives_frames_whatever_the_chunk_boundaries() -> None:
    frames = [{"n": i, "pad": "x" * (i * 37)} for i in range(20)]
    wire = b"".join(struct.pack("!I", len(p)) + p for p in (pickle.dumps(f) for f in frames))
    for size in (1, 3, 7, 64, len(wire)):
        decoder, got = FrameDecoder(), []
        for start in range(0, len(wire), size):
            got.extend(decoder.feed(wire[start : start + size]))
        assert got == frames


def test_the_decoder_refuses_a_corrupt_header() -> None:
    with pytest.raises(EOFError, match="corrupt"):
        FrameDecoder().feed(b"\xff\xff\xff\xff")


async def test_frames_arrive_on_the_trio_thread_in_order_and_the_end_is_reported() -> None:
    ours, theirs = socket.socketpair()
    trio_thread = threading.get_ident()
    got: list[object] = []
    threads: set[int] = set()
    ended = trio.Event()

    def on_frames(frames: object) -> None:
        threads.add(threading.get_ident())
        got.extend(frames)  # type: ignore[arg-type]

    TrioEventPump().watch(ours, FrameDecoder().feed, on_frames, ended.set)

    def child() -> None:  # a runner process writing its steps, then exiting
        with theirs:
            for step in range(50):
                write_frame(theirs, ("step", step))

    writer = threading.Thread(target=child)
    writer.start()
    with trio.fail_after(10):
        await ended.wait()
    writer.join(10)
    assert got == [("step", step) for step in range(50)]
    assert threads == {trio_thread}
    assert ours.fileno() == -1  # the pump closed the socket it took over


async def test_a_failing_handler_ends_the_watch_not_the_run() -> None:
    ours, theirs = socket.socketpair()
    ended = trio.Event()

    def on_frames(frames: object) -> None:
        raise RuntimeError("a bug in a handler")

    TrioEventPump().watch(ours, FrameDecoder().feed, on_frames, ended.set)
    write_frame(theirs, "boom")
    with trio.fail_after(10):
        await ended.wait()
    theirs.close()
