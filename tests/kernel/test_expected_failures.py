"""A call handler that raises a typed domain error answers that call and carries on;
any other exception is a crash."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ollama_actors.domain.errors import InvalidRequestError
from ollama_actors.kernel import GenServer, handle_call
from ollama_actors.kernel.messages import call
from ollama_actors.kernel.reply import BlockingReply, ReplyTo


@dataclass(frozen=True)
class Check:
    value: int


class Checker(GenServer):
    @handle_call(Check)
    def _check(self, msg: Check, reply: ReplyTo) -> None:
        if msg.value < 0:
            raise InvalidRequestError("value must not be negative")
        if msg.value == 0:
            raise ZeroDivisionError("boom")
        reply.set(msg.value * 2)


def _ask(ref, value: int) -> int:  # noqa: ANN001 - test helper
    reply: BlockingReply[int] = BlockingReply()
    call(ref, Check(value), reply)
    return reply.wait(5)


def test_domain_error_answers_the_call_and_the_actor_lives_on() -> None:
    ref = Checker.start_link(None)
    try:
        with pytest.raises(InvalidRequestError, match="must not be negative"):
            _ask(ref, -1)
        assert ref.is_alive()
        assert _ask(ref, 4) == 8
    finally:
        ref.stop()


def test_unexpected_exception_crashes_the_actor_and_fails_the_call() -> None:
    ref = Checker.start_link(None)
    with pytest.raises(Exception):  # noqa: B017 - the kernel's crash error
        _ask(ref, 0)
    ref.actor_stopped.wait(5)
    assert not ref.is_alive()
