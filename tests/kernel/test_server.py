"""GenServer: acknowledged start, dispatch tables, crash and stop semantics."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pykka
import pytest

from ollama_actors.domain.errors import OllamaError, ServiceUnavailableError
from ollama_actors.kernel import (
    ActorCrashedError,
    BlockingReply,
    CallbackLink,
    ExitKind,
    ExitReason,
    ForbiddenExitError,
    GenServer,
    ReplyTo,
    StartError,
    StartTimeoutError,
    UnknownMessageError,
    call,
    cast,
    handle_call,
    send_info,
)
from tests.kernel.support import (
    WAIT_S,
    Behaviour,
    Block,
    Crash,
    Echo,
    Exit,
    Hold,
    HoldExtra,
    Ping,
    Recorder,
    StopNormally,
    Worker,
    ask,
)


def exit_link(recorder: Recorder) -> CallbackLink:
    return CallbackLink(lambda reason: recorder.record(("exit", reason)))


def exits(events: list[Any]) -> list[ExitReason]:
    return [e[1] for e in events if e[0] == "exit"]


@dataclass(frozen=True)
class Unknown:
    pass


@dataclass(frozen=True)
class WhereAmI:
    pass


class ThreadReporter(GenServer):
    def init(self) -> None:
        self.init_thread = threading.current_thread().name

    @handle_call(WhereAmI)
    def _where(self, msg: WhereAmI, reply: ReplyTo) -> None:
        reply.set(self.init_thread)


def test_start_link_returns_after_init_ran_in_the_actor_thread() -> None:
    ref = ThreadReporter.start_link(None)
    assert ask(ref, WhereAmI()) != threading.current_thread().name
    assert ref.is_alive()


def test_init_failure_raises_start_error_with_cause_and_stops_the_actor() -> None:
    recorder = Recorder()
    with pytest.raises(StartError) as caught:
        Worker.start_link(exit_link(recorder), recorder, "w", Behaviour(fail_init=True))
    assert isinstance(caught.value.cause, RuntimeError)
    assert "w cannot start" in str(caught.value)
    assert pykka.ActorRegistry.get_all() == []
    assert recorder.events == [("init_failed", "w")]  # no terminate, no exit notice


def test_start_link_times_out_and_the_late_actor_stops_itself_unannounced() -> None:
    class SlowWorker(Worker):
        start_timeout = 0.05

    recorder, release = Recorder(), threading.Event()
    with pytest.raises(StartTimeoutError):
        SlowWorker.start_link(exit_link(recorder), recorder, "w", Behaviour(block_init=release))
    release.set()
    events = recorder.wait_for(lambda ev: ("stop", "w", "shutdown") in ev)
    assert exits(events) == []


def test_pykka_start_is_an_unlinked_start_link() -> None:
    recorder = Recorder()
    ref = Worker.start(recorder, "w")
    assert recorder.events == [("start", "w")]
    assert ask(ref, Echo(1)) == 1


def test_calls_are_dispatched_by_message_type_and_answered() -> None:
    ref = Worker.start_link(None, Recorder(), "w")
    assert ask(ref, Echo("hello")) == "hello"


def test_handlers_are_inherited_and_overridable_by_method_name() -> None:
    class Shouting(Worker):
        def _echo(self, msg: Echo, reply: ReplyTo) -> None:
            reply.set(str(msg.value).upper())

        @handle_call(Unknown)
        def _unknown(self, msg: Unknown, reply: ReplyTo) -> None:
            reply.set("known now")

    ref = Shouting.start_link(None, Recorder(), "w")
    assert ask(ref, Echo("hi")) == "HI"
    assert ask(ref, Unknown()) == "known now"


def test_a_subclass_of_a_message_type_uses_its_base_handler() -> None:
    @dataclass(frozen=True)
    class LoudEcho(Echo):
        pass

    ref = Worker.start_link(None, Recorder(), "w")
    assert ask(ref, LoudEcho(3)) == 3


def test_two_handlers_for_one_message_type_in_a_class_are_rejected() -> None:
    with pytest.raises(TypeError, match="two handle_call"):

        class Broken(GenServer):
            @handle_call(Echo)
            def _a(self, msg: Echo, reply: ReplyTo) -> None: ...

            @handle_call(Echo)
            def _b(self, msg: Echo, reply: ReplyTo) -> None: ...


def test_unknown_call_crashes_the_actor_and_fails_its_reply() -> None:
    recorder = Recorder()
    ref = Worker.start_link(exit_link(recorder), recorder, "w")
    with pytest.raises(ActorCrashedError, match="no handle_call for Unknown"):
        ask(ref, Unknown())
    (reason,) = exits(recorder.wait_for(lambda ev: bool(exits(ev))))
    assert reason.kind is ExitKind.CRASH
    assert isinstance(reason.error, UnknownMessageError)


def test_unknown_cast_crashes_the_actor() -> None:
    recorder = Recorder()
    ref = Worker.start_link(exit_link(recorder), recorder, "w")
    cast(ref, Unknown())
    (reason,) = exits(recorder.wait_for(lambda ev: bool(exits(ev))))
    assert isinstance(reason.error, UnknownMessageError)


def test_unknown_info_is_dropped_and_the_actor_carries_on() -> None:
    recorder = Recorder()
    ref = Worker.start_link(exit_link(recorder), recorder, "w")
    send_info(ref, Unknown())
    ref.tell("a bare message is info too")
    send_info(ref, Ping(1))
    assert ask(ref, Echo(2)) == 2
    assert ("ping", "w", 1) in recorder.events
    assert exits(recorder.events) == []


def test_crash_runs_terminate_then_fails_held_replies_then_notifies_the_link() -> None:
    recorder = Recorder()
    ref = Worker.start_link(exit_link(recorder), recorder, "w")
    held: BlockingReply[Any] = BlockingReply()
    extra: BlockingReply[Any] = BlockingReply()
    call(ref, Hold(), held)
    cast(ref, HoldExtra(extra))
    cast(ref, Crash())
    crashed = "actor Worker crashed: RuntimeError: w crashed on purpose"
    with pytest.raises(ActorCrashedError, match=crashed):
        held.wait(WAIT_S)
    with pytest.raises(ActorCrashedError):
        extra.wait(WAIT_S)
    events = recorder.wait_for(lambda ev: bool(exits(ev)))
    assert [e[0] for e in events] == ["start", "stop", "exit"]
    assert events[1] == ("stop", "w", "crash")
    assert exits(events)[0].kind is ExitKind.CRASH
    assert not ref.is_alive()


def test_calls_queued_behind_a_crash_are_failed_not_left_hanging() -> None:
    ref = Worker.start_link(None, Recorder(), "w")
    release, entered = threading.Event(), threading.Event()
    blocker: BlockingReply[Any] = BlockingReply()
    call(ref, Block(release, entered), blocker)
    assert entered.wait(WAIT_S)
    cast(ref, Crash())
    queued: BlockingReply[Any] = BlockingReply()
    call(ref, Echo(1), queued)
    release.set()
    blocker.wait(WAIT_S)
    with pytest.raises(ActorCrashedError):
        queued.wait(WAIT_S)


def test_a_call_to_a_dead_actor_fails_at_once() -> None:
    ref = Worker.start_link(None, Recorder(), "w")
    ref.stop()
    with pytest.raises(ServiceUnavailableError):
        ask(ref, Echo(1))


def test_crash_error_is_overridable() -> None:
    class Polite(Worker):
        def crash_error(self, exc: BaseException) -> BaseException:
            return OllamaError("runner went away", status=502)

    ref = Polite.start_link(None, Recorder(), "w")
    reply: BlockingReply[Any] = BlockingReply()
    call(ref, Hold(), reply)
    cast(ref, Crash())
    with pytest.raises(OllamaError, match="runner went away") as caught:
        reply.wait(WAIT_S)
    assert caught.value.status == 502


def test_stop_normal_reports_a_normal_exit_and_fails_later_calls() -> None:
    recorder = Recorder()
    ref = Worker.start_link(exit_link(recorder), recorder, "w")
    release, entered = threading.Event(), threading.Event()
    call(ref, Block(release, entered), BlockingReply())
    assert entered.wait(WAIT_S)
    cast(ref, StopNormally())
    queued: BlockingReply[Any] = BlockingReply()
    call(ref, Echo(1), queued)
    release.set()
    with pytest.raises(ServiceUnavailableError, match="stopped"):
        queued.wait(WAIT_S)
    events = recorder.wait_for(lambda ev: bool(exits(ev)))
    assert ("stop", "w", "normal") in events
    assert exits(events)[0].kind is ExitKind.NORMAL


def test_stop_through_the_ref_is_a_shutdown_and_fails_held_replies() -> None:
    recorder = Recorder()
    ref = Worker.start_link(exit_link(recorder), recorder, "w")
    held: BlockingReply[Any] = BlockingReply()
    call(ref, Hold(), held)
    assert ref.stop(block=True, timeout=WAIT_S)
    with pytest.raises(ServiceUnavailableError):
        held.wait(WAIT_S)
    events = recorder.events
    assert ("stop", "w", "shutdown") in events
    assert exits(events)[0].kind is ExitKind.SHUTDOWN


@pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt])
def test_system_exit_in_a_handler_crashes_only_that_actor(error: type[BaseException]) -> None:
    recorder = Recorder()
    ref = Worker.start_link(exit_link(recorder), recorder, "w")
    bystander = Worker.start_link(None, recorder, "bystander")
    cast(ref, Exit(error))
    (reason,) = exits(recorder.wait_for(lambda ev: bool(exits(ev))))
    assert reason.kind is ExitKind.CRASH
    assert isinstance(reason.error, ForbiddenExitError)
    assert isinstance(reason.error.__cause__, error)
    assert ask(bystander, Echo("still here")) == "still here"


def test_system_exit_in_init_is_a_start_error() -> None:
    class Quitter(GenServer):
        def init(self) -> None:
            raise SystemExit(3)

    with pytest.raises(StartError) as caught:
        Quitter.start_link(None)
    assert isinstance(caught.value.cause, ForbiddenExitError)


def test_a_failing_terminate_turns_a_normal_exit_into_a_crash() -> None:
    recorder = Recorder()
    ref = Worker.start_link(exit_link(recorder), recorder, "w", Behaviour(fail_terminate=True))
    cast(ref, StopNormally())
    (reason,) = exits(recorder.wait_for(lambda ev: bool(exits(ev))))
    assert reason.kind is ExitKind.CRASH
    assert "terminate failed" in str(reason.error)


def test_an_exit_callback_that_raises_is_contained() -> None:
    def explode(reason: ExitReason) -> None:
        raise RuntimeError("callback broke")

    ref = Worker.start_link(CallbackLink(explode), Recorder(), "w")
    assert ref.stop(block=True, timeout=WAIT_S)
    assert not ref.is_alive()


def test_name_defaults_to_the_class_name() -> None:
    reply: BlockingReply[Any] = BlockingReply()

    class Named(GenServer):
        @handle_call(WhereAmI)
        def _where(self, msg: WhereAmI, r: ReplyTo) -> None:
            r.set(self.name)

    ref = Named.start_link(None)
    call(ref, WhereAmI(), reply)
    assert reply.wait(WAIT_S) == "Named"
