"""WorkerReply: a transfer worker's wait on an actor ends when its job is cancelled."""

from __future__ import annotations

import threading

import pytest

from ollama_actors.domain.errors import ActorTimeoutError, RequestCanceledError
from ollama_actors.management.actors.worker_reply import Cancellation


def test_a_settled_reply_returns_its_value() -> None:
    reply = Cancellation().reply()
    reply.set(42)
    assert reply.wait(1) == 42


def test_cancelling_the_job_ends_a_pending_wait_at_once() -> None:
    cancel = Cancellation()
    reply = cancel.reply()
    waiting = threading.Event()
    outcome: list[BaseException] = []

    def worker() -> None:
        waiting.set()
        try:
            reply.wait(60)
        except RequestCanceledError as error:
            outcome.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    assert waiting.wait(5)
    cancel.cancel()
    thread.join(5)
    assert not thread.is_alive() and isinstance(outcome[0], RequestCanceledError)
    with pytest.raises(RequestCanceledError):
        cancel.reply().wait(60)  # a call after the cancel fails at once
    with pytest.raises(RequestCanceledError):
        cancel.check()


def test_a_reply_nobody_answers_times_out() -> None:
    with pytest.raises(ActorTimeoutError):
        Cancellation().reply().wait(0.01)
