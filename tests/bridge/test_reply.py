"""Asking actors from trio: a set-once reply settled from any thread, and ``ask`` with a deadline."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pykka
import pytest
import trio
import trio.testing

from ollama_actors.bridge.reply import TrioReply, ask
from ollama_actors.domain.errors import ActorTimeoutError, ServiceUnavailableError
from ollama_actors.kernel import ActorCrashedError, GenServer, ReplyTo, handle_call

WAIT_S = 10.0


async def _in_thread(fn: object, *args: object) -> None:
    """Run ``fn(*args)`` on a plain thread (not trio's pool) and wait for it, bounded."""
    thread = threading.Thread(target=fn, args=args, daemon=True)  # type: ignore[arg-type]
    thread.start()
    await trio.to_thread.run_sync(thread.join, WAIT_S)
    assert not thread.is_alive()


async def test_a_reply_set_from_another_thread_wakes_the_awaiting_task() -> None:
    reply = TrioReply()
    got: list[object] = []

    async def wait() -> None:
        got.append(await reply.wait())

    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            await _in_thread(reply.set, {"answer": 42})
    assert got == [{"answer": 42}]
    assert reply.done


async def test_a_reply_failed_from_another_thread_raises_in_the_awaiting_task() -> None:
    reply = TrioReply()
    await _in_thread(reply.fail, LookupError("no such model"))
    with trio.fail_after(WAIT_S):
        with pytest.raises(LookupError, match="no such model"):
            await reply.wait()


async def test_a_reply_is_set_once_and_later_answers_are_ignored() -> None:
    reply = TrioReply()

    def answer_three_times() -> None:
        reply.set("first")
        reply.set("second")
        reply.fail(RuntimeError("third"))

    await _in_thread(answer_three_times)
    with trio.fail_after(WAIT_S):
        assert await reply.wait() == "first"


async def test_a_reply_after_abandon_is_ignored() -> None:
    reply = TrioReply()
    reply.abandon()
    assert reply.done
    await _in_thread(reply.set, "too late")
    finished: list[object] = []

    async def wait() -> None:
        finished.append(await reply.wait())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        assert finished == []  # the late answer never reached the waiter
        nursery.cancel_scope.cancel()


def test_a_reply_settled_after_its_trio_run_ended_does_not_raise() -> None:
    replies: list[TrioReply] = []

    async def make() -> None:
        replies.append(TrioReply())

    trio.run(make)
    replies[0].set("nobody is listening")
    assert replies[0].done


# ---- ask against a real GenServer ------------------------------------------------


@dataclass(frozen=True)
class Echo:
    value: object


@dataclass(frozen=True)
class Refuse:
    error: BaseException


@dataclass(frozen=True)
class Ignore:
    """A call the server holds and never answers."""


@dataclass(frozen=True)
class Explode:
    """A call whose handler raises, crashing the server."""


class EchoServer(GenServer):
    @handle_call(Echo)
    def on_echo(self, msg: Echo, reply: ReplyTo) -> None:
        reply.set(msg.value)

    @handle_call(Refuse)
    def on_refuse(self, msg: Refuse, reply: ReplyTo) -> None:
        reply.fail(msg.error)

    @handle_call(Ignore)
    def on_ignore(self, msg: Ignore, reply: ReplyTo) -> None:
        pass

    @handle_call(Explode)
    def on_explode(self, msg: Explode, reply: ReplyTo) -> None:
        raise RuntimeError("kaput")


@asynccontextmanager
async def running_server() -> AsyncIterator[pykka.ActorRef[EchoServer]]:
    ref = await trio.to_thread.run_sync(EchoServer.start_link, None)
    try:
        yield ref
    finally:
        await trio.to_thread.run_sync(lambda: ref.stop(block=True, timeout=WAIT_S))


async def test_ask_returns_the_value_the_actor_replied() -> None:
    async with running_server() as ref:
        with trio.fail_after(WAIT_S):
            assert await ask(ref, Echo({"models": []}), timeout=WAIT_S) == {"models": []}
            assert await ask(ref, Echo(None), timeout=WAIT_S) is None


async def test_ask_raises_the_error_the_actor_failed_the_reply_with() -> None:
    error = ValueError("model 'x:latest' not found")
    async with running_server() as ref:
        with trio.fail_after(WAIT_S):
            with pytest.raises(ValueError) as caught:
                await ask(ref, Refuse(error), timeout=WAIT_S)
    assert caught.value is error


async def test_ask_raises_actor_timeout_when_the_actor_never_answers() -> None:
    async with running_server() as ref:
        with trio.fail_after(WAIT_S):
            with pytest.raises(ActorTimeoutError, match=r"^no answer from Ignore within 0\.2s$") as caught:
                await ask(ref, Ignore(), timeout=0.2)
            assert caught.value.status == 504
            # the actor is still serving, and the late failure of the held reply is dropped
            assert await ask(ref, Echo("still here"), timeout=WAIT_S) == "still here"


async def test_ask_raises_actor_crashed_when_the_handler_crashes() -> None:
    async with running_server() as ref:
        with trio.fail_after(WAIT_S):
            with pytest.raises(ActorCrashedError, match="RuntimeError: kaput"):
                await ask(ref, Explode(), timeout=WAIT_S)


async def test_ask_to_a_stopped_actor_is_service_unavailable() -> None:
    async with running_server() as ref:
        pass
    with trio.fail_after(WAIT_S):
        with pytest.raises(ServiceUnavailableError):
            await ask(ref, Echo(1), timeout=WAIT_S)


async def test_many_concurrent_asks_each_get_their_own_answer() -> None:
    results: dict[int, object] = {}

    async def one(ref: pykka.ActorRef[EchoServer], i: int) -> None:
        results[i] = await ask(ref, Echo(i), timeout=WAIT_S)

    async with running_server() as ref:
        with trio.fail_after(WAIT_S):
            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(one, ref, i)
    assert results == {i: i for i in range(50)}
