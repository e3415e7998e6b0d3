"""Trace context: the sender's request id travels in envelopes and is bound while the
actor handles that message (and only then)."""

from __future__ import annotations

import threading
import timeit
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pykka
import pytest
import structlog
from structlog.testing import LogCapture

from ollama_actors.kernel import (
    BlockingReply,
    Cast,
    GenServer,
    ReplyTo,
    TraceContext,
    call,
    capture_trace,
    cast,
    handle_call,
    handle_cast,
    handle_info,
    install_trace_hook,
    send_info,
)
from tests.kernel.support import WAIT_S, Recorder


@dataclass(frozen=True)
class Say:
    """Call: log ``said`` and reply what the actor's context holds."""

    what: str


@dataclass(frozen=True)
class Forward:
    """Cast: forward ``Said(what)`` to ``to``."""

    to: pykka.ActorRef[Any]
    what: str


@dataclass(frozen=True)
class Said:
    what: str


@dataclass(frozen=True)
class Boom:
    """Call: raise an unexpected error (a crash)."""


class Talker(GenServer):
    """Logs from every handler; records each handler's structlog context."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    @handle_call(Say)
    def _say(self, msg: Say, reply: ReplyTo) -> None:
        structlog.get_logger().info("said", what=msg.what)
        reply.set(structlog.contextvars.get_contextvars())

    @handle_cast(Forward)
    def _forward(self, msg: Forward) -> None:
        structlog.get_logger().info("forwarding", what=msg.what)
        send_info(msg.to, Said(msg.what))

    @handle_info(Said)
    def _said(self, msg: Said) -> None:
        structlog.get_logger().info("heard", what=msg.what)
        self.recorder.record(("heard", msg.what, structlog.contextvars.get_contextvars()))

    @handle_call(Boom)
    def _boom(self, msg: Boom, reply: ReplyTo) -> None:
        raise RuntimeError("boom")


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """structlog's capture, with the context merge first (as the daemon's configuration)."""
    capture = LogCapture()
    old = structlog.get_config()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    try:
        yield capture
    finally:
        structlog.configure(**old)


def _ask(ref: pykka.ActorRef[Any], message: object) -> Any:
    reply: BlockingReply[Any] = BlockingReply()
    call(ref, message, reply)
    return reply.wait(WAIT_S)


def test_an_actor_logs_with_the_request_id_of_the_call_it_handles(logs: LogCapture) -> None:
    ref = Talker.start(Recorder())
    with structlog.contextvars.bound_contextvars(request_id="abc"):
        assert _ask(ref, Say("hello")) == {"request_id": "abc"}
    said = [entry for entry in logs.entries if entry["event"] == "said"]
    assert said == [{"event": "said", "what": "hello", "request_id": "abc", "log_level": "info"}]


def test_the_request_id_is_unbound_once_the_message_is_handled(logs: LogCapture) -> None:
    ref = Talker.start(Recorder())
    with structlog.contextvars.bound_contextvars(request_id="abc"):
        _ask(ref, Say("first"))
    assert _ask(ref, Say("second")) == {}
    second = [entry for entry in logs.entries if entry.get("what") == "second"]
    assert second and "request_id" not in second[0]


def test_casts_and_infos_carry_it_and_messages_sent_from_a_handler_carry_it_on(logs: LogCapture) -> None:
    recorder = Recorder()
    first, second = Talker.start(Recorder()), Talker.start(recorder)
    with structlog.contextvars.bound_contextvars(request_id="r-1"):
        assert cast(first, Forward(second, "hi"))
    events = recorder.wait_for(lambda events: len(events) == 1)
    assert events == [("heard", "hi", {"request_id": "r-1"})]
    heard = [(e["event"], e.get("request_id")) for e in logs.entries if e["event"] in ("forwarding", "heard")]
    assert sorted(heard) == [("forwarding", "r-1"), ("heard", "r-1")]


def test_each_message_carries_its_own_senders_request_id() -> None:
    ref = Talker.start(Recorder())
    answers: dict[str, Any] = {}

    def sender(rid: str) -> None:
        with structlog.contextvars.bound_contextvars(request_id=rid):
            answers[rid] = _ask(ref, Say(rid))

    threads = [threading.Thread(target=sender, args=(f"r{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert answers == {f"r{i}": {"request_id": f"r{i}"} for i in range(8)}


def test_nothing_is_captured_when_nothing_is_bound() -> None:
    assert capture_trace() is None
    assert Cast("x").trace is None
    with structlog.contextvars.bound_contextvars(request_id="abc", model="m"):
        trace = capture_trace()
    assert isinstance(trace, TraceContext) and trace.span is None
    assert dict(trace.fields) == {"request_id": "abc", "model": "m"}
    assert trace.request_id == "abc"


def test_the_trace_does_not_change_envelope_equality() -> None:
    with structlog.contextvars.bound_contextvars(request_id="abc"):
        traced = Cast("x")
    assert traced == Cast("x") and traced.trace is not None


class _RecordingHook:
    """A TraceHook that records what it carried and which spans it started and ended."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.events: list[tuple[str, ...]] = []
        self.lock = threading.Lock()

    def capture(self) -> object | None:
        return self.current

    def enter(self, carried: object, actor: str, message: object) -> Any:
        with self.lock:
            self.events.append(("enter", str(carried), type(message).__name__))

        def end(error: BaseException | None) -> None:
            with self.lock:
                self.events.append(("end", str(carried), type(error).__name__ if error else ""))

        return end


@pytest.fixture
def hook() -> Iterator[_RecordingHook]:
    recording = _RecordingHook()
    previous = install_trace_hook(recording)
    try:
        yield recording
    finally:
        install_trace_hook(previous)


def test_an_installed_hook_carries_its_context_and_brackets_the_handler(hook: _RecordingHook) -> None:
    ref = Talker.start(Recorder())
    hook.current = "span-1"
    assert _ask(ref, Say("x")) == {}
    hook.current = None
    assert _ask(ref, Say("y")) == {}  # nothing carried: the hook is not entered
    assert hook.events == [("enter", "span-1", "Say"), ("end", "span-1", "")]


def test_the_hook_sees_the_error_of_a_crashing_handler(hook: _RecordingHook) -> None:
    ref = Talker.start(Recorder())
    hook.current = "span-2"
    with pytest.raises(Exception, match="crashed"):
        _ask(ref, Boom())
    assert hook.events == [("enter", "span-2", "Boom"), ("end", "span-2", "RuntimeError")]


def test_capturing_costs_little_when_nothing_is_bound() -> None:
    """The hot path: building an envelope with nothing bound stays in the microseconds."""
    per_call = min(timeit.repeat(lambda: Cast("x"), number=2000, repeat=3)) / 2000
    assert per_call < 50e-6
