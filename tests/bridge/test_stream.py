"""Token streams: a producer thread pushes without blocking, a trio task consumes in order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import aclosing

import pytest
import trio
import trio.testing

from ollama_actors.bridge.stream import PushResult, StreamEnd, TokenStream

WAIT_S = 10.0


class Producer:
    """A producer thread that honours back-pressure: on FULL it waits for on_drain."""

    def __init__(self, items: list[object], *, finish: Callable[[TokenStream[object]], None] | None = None) -> None:
        self.items = items
        self.finish = finish
        self.drained = threading.Event()
        self.results: list[PushResult] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.stream: TokenStream[object] | None = None

    def start(self, stream: TokenStream[object]) -> None:
        self.stream = stream
        stream.on_drain = self.drained.set
        self.thread.start()

    def _run(self) -> None:
        assert self.stream is not None
        try:
            for item in self.items:
                result = self.stream.push(item)
                self.results.append(result)
                if result is PushResult.CLOSED:
                    return
                if result is PushResult.FULL:
                    if not self.drained.wait(WAIT_S):
                        raise AssertionError("on_drain was not called")
                    self.drained.clear()
            if self.finish is not None:
                self.finish(self.stream)
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    async def join(self) -> None:
        await trio.to_thread.run_sync(self.thread.join, WAIT_S)
        assert not self.thread.is_alive(), "producer thread did not finish"
        if self.error is not None:
            raise self.error


async def _consume_all(stream: TokenStream[object]) -> tuple[list[object], StreamEnd]:
    received: list[object] = []
    while True:
        got = await stream.receive_batch()
        if isinstance(got, StreamEnd):
            return received, got
        assert got, "receive_batch returned an empty batch"
        received.extend(got)


@pytest.mark.parametrize("capacity", [1, 4, 256])
async def test_items_pushed_from_a_thread_arrive_in_order_then_the_final_value(capacity: int) -> None:
    items = list(range(2000))
    stream: TokenStream[object] = TokenStream(capacity)
    producer = Producer(items, finish=lambda s: s.set({"done": True}))
    producer.start(stream)
    with trio.fail_after(WAIT_S):
        received, end = await _consume_all(stream)
    await producer.join()
    assert received == items
    assert end.value == {"done": True}
    assert end.error is None
    assert stream.done


async def test_iterate_yields_every_item_and_exposes_the_final_value() -> None:
    stream: TokenStream[object] = TokenStream(8)
    producer = Producer(list("abcdefghij" * 20), finish=lambda s: s.set("final"))
    producer.start(stream)
    received = []
    with trio.fail_after(WAIT_S):
        async for item in stream.iterate():
            received.append(item)
    await producer.join()
    assert "".join(received) == "abcdefghij" * 20  # type: ignore[arg-type]
    assert stream.final == "final"


async def test_push_answers_full_at_capacity_and_on_drain_runs_after_the_consumer_drains() -> None:
    drained = threading.Event()
    stream: TokenStream[int] = TokenStream(3, on_drain=drained.set)
    results = await trio.to_thread.run_sync(lambda: [stream.push(i) for i in (1, 2, 3)])
    assert results == [PushResult.OK, PushResult.OK, PushResult.FULL]
    assert not drained.is_set()
    with trio.fail_after(WAIT_S):
        batch = await stream.receive_batch()
    assert batch == [1, 2, 3]  # the item that filled the buffer was taken
    assert drained.is_set()
    assert await trio.to_thread.run_sync(stream.push, 4) is PushResult.OK


async def test_on_drain_is_not_called_when_the_buffer_never_filled() -> None:
    calls: list[None] = []
    stream: TokenStream[int] = TokenStream(3, on_drain=lambda: calls.append(None))
    await trio.to_thread.run_sync(lambda: [stream.push(i) for i in (1, 2)])
    with trio.fail_after(WAIT_S):
        assert await stream.receive_batch() == [1, 2]
    assert calls == []


async def test_a_waiting_consumer_is_woken_by_a_push_from_another_thread() -> None:
    stream: TokenStream[str] = TokenStream(4)
    got: list[object] = []

    async def consume() -> None:
        got.append(await stream.receive_batch())

    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            thread = threading.Thread(target=stream.push, args=("hello",))
            thread.start()
    thread.join(WAIT_S)
    assert got == [["hello"]]


async def test_after_the_consumer_closes_the_producers_next_push_is_closed_and_done_is_true() -> None:
    stream: TokenStream[int] = TokenStream(4)
    assert await trio.to_thread.run_sync(stream.push, 1) is PushResult.OK
    assert not stream.done
    stream.close()
    assert stream.done
    assert stream.consumer_gone
    assert await trio.to_thread.run_sync(stream.push, 2) is PushResult.CLOSED
    stream.set("ignored")  # finishing an abandoned stream is a no-op, not an error
    stream.fail(RuntimeError("ignored"))


async def test_a_producer_stops_when_the_consumer_leaves_mid_stream() -> None:
    stream: TokenStream[object] = TokenStream(2)
    producer = Producer(list(range(10_000)))
    producer.start(stream)
    received: list[object] = []
    with trio.fail_after(WAIT_S):
        async with aclosing(stream.iterate()) as items:
            async for item in items:
                received.append(item)
                if len(received) == 5:
                    break
        # a FULL producer waits for a drain that never comes; release it so it pushes again
        producer.drained.set()
        await producer.join()
    assert received == [0, 1, 2, 3, 4]
    assert stream.done
    assert producer.results[-1] is PushResult.CLOSED
    assert len(producer.results) < 10_000


async def test_fail_raises_the_error_after_the_items() -> None:
    stream: TokenStream[object] = TokenStream(4)
    producer = Producer([1, 2, 3], finish=lambda s: s.fail(ValueError("runner crashed")))
    producer.start(stream)
    received: list[object] = []
    with trio.fail_after(WAIT_S):
        with pytest.raises(ValueError, match="runner crashed"):
            async for item in stream.iterate():
                received.append(item)
    await producer.join()
    assert received == [1, 2, 3]
    assert stream.done


async def test_set_delivers_the_final_value_after_the_items() -> None:
    stream: TokenStream[object] = TokenStream(4)
    await trio.to_thread.run_sync(lambda: (stream.push("a"), stream.push("b"), stream.set(42)))
    with trio.fail_after(WAIT_S):
        assert await stream.receive_batch() == ["a", "b"]
        end = await stream.receive_batch()
    assert isinstance(end, StreamEnd)
    assert (end.value, end.error) == (42, None)


async def test_the_first_finish_wins_and_later_pushes_are_closed() -> None:
    stream: TokenStream[object] = TokenStream(4)

    def finish_twice() -> PushResult:
        stream.set("first")
        stream.fail(RuntimeError("second"))
        stream.set("third")
        return stream.push("late")

    assert await trio.to_thread.run_sync(finish_twice) is PushResult.CLOSED
    with trio.fail_after(WAIT_S):
        end = await stream.receive_batch()
    assert isinstance(end, StreamEnd)
    assert (end.value, end.error) == ("first", None)


def test_pushes_after_the_trio_run_ended_are_closed() -> None:
    """A stream whose trio run is gone (server stopped) refuses items instead of raising."""
    streams: list[TokenStream[int]] = []

    async def make() -> None:
        streams.append(TokenStream(4))

    trio.run(make)
    (stream,) = streams
    stream.push(1)  # taken, but waking the finished run fails: the consumer is gone
    assert stream.done
    assert stream.push(2) is PushResult.CLOSED
