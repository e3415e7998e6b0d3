"""SequenceStream: one sequence's data path from engine events to a client stream.

A real TokenStream (bounded, consumed on trio) and a recording host: a full
stream pauses the sequence exactly once, draining it resumes the sequence, a
client gone cancels it, and only the end of the sequence is reported.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import trio

from ollama_actors.bridge.stream import StreamEnd, TokenStream
from ollama_actors.runner.actors.sequence_stream import SequenceStream
from ollama_actors.runner.ports import GenerationStats, SeqEvent


class RecordingHost:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def pause(self, seq: int) -> None:
        self.calls.append(("pause", seq))

    def resume(self, seq: int) -> None:
        self.calls.append(("resume", seq))

    def cancel(self, seq: int) -> None:
        self.calls.append(("cancel", seq))


def _sequence(stream: TokenStream[Any], host: RecordingHost, ends: list[Any]) -> SequenceStream:
    sequence = SequenceStream(
        seq=7, job=SimpleNamespace(stream=stream), host=host,  # type: ignore[arg-type]
        on_end=lambda s, event: ends.append(event),
    )
    stream.on_drain = sequence.resume
    return sequence


async def test_a_full_stream_pauses_the_sequence_once_and_draining_resumes_it() -> None:
    host, ends = RecordingHost(), []
    stream: TokenStream[Any] = TokenStream(capacity=3)
    sequence = _sequence(stream, host, ends)
    for word in ("a", "b", "c"):
        sequence.deliver(SeqEvent(7, word))
    assert host.calls == [("pause", 7)]  # the third push filled it
    batch = await stream.receive_batch()
    assert [chunk.text for chunk in batch] == ["a", "b", "c"]  # type: ignore[union-attr]
    assert host.calls == [("pause", 7), ("resume", 7)]
    done = SeqEvent(7, "d", done=True, done_reason="stop", stats=GenerationStats(1, 1, 4, 1))
    sequence.deliver(done)
    assert ends == [done] and sequence.pieces == ["a", "b", "c", "d"]
    sequence.resume()  # after the end: nothing more is sent
    assert host.calls == [("pause", 7), ("resume", 7)]


async def test_a_client_gone_cancels_the_sequence_and_reports_it_left() -> None:
    host, ends = RecordingHost(), []
    stream: TokenStream[Any] = TokenStream()
    sequence = _sequence(stream, host, ends)
    sequence.deliver(SeqEvent(7, "a"))
    stream.close()
    sequence.deliver(SeqEvent(7, "b"))
    sequence.deliver(SeqEvent(7, "c"))  # late events of a cancelled sequence are ignored
    assert host.calls == [("cancel", 7)]
    assert ends == [None]


async def test_a_refused_sequence_ends_with_its_error_and_pushes_nothing() -> None:
    host, ends = RecordingHost(), []
    stream: TokenStream[Any] = TokenStream()
    sequence = _sequence(stream, host, ends)
    refused = SeqEvent(7, done=True, error=ValueError("no"))  # type: ignore[arg-type]
    sequence.deliver(refused)
    assert ends == [refused] and host.calls == []
    stream.set("end")
    with trio.fail_after(5):
        got = await stream.receive_batch()
    assert isinstance(got, StreamEnd)
