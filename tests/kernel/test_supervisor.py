"""Supervisor: real actors crash on purpose; restart counts, order and escalation asserted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs

from ollama_actors.kernel import (
    ChildKind,
    ChildNotFoundError,
    ChildSpec,
    DuplicateChildError,
    ExitKind,
    ExitReason,
    Link,
    Restart,
    RestartIntensityError,
    StartChild,
    StartError,
    Strategy,
    Supervisor,
    SupervisorReport,
    SupFlags,
    TerminateChild,
    cast,
    start_root,
    stop_root,
)
from tests.kernel.support import (
    WAIT_S,
    Behaviour,
    Crash,
    Recorder,
    StopNormally,
    ask,
    child_ref,
    children,
    starts,
    stops,
    worker_spec,
)

FLAGS = SupFlags(intensity=10, period=60.0)


@dataclass
class Tree:
    """A root supervisor whose exit, reports and children's lives land in recorders."""

    ref: pykka.ActorRef[Any]
    life: Recorder  # children's starts/stops and the root's exit
    reports: Recorder

    def exit_reason(self) -> ExitReason:
        events = self.life.wait_for(lambda ev: any(e[0] == "exit" for e in ev))
        reason: ExitReason = next(e[1] for e in events if e[0] == "exit")
        return reason

    def report_events(self, event: str) -> list[SupervisorReport]:
        return [r for r in self.reports.events if r.event == event]


def tree(
    specs: Callable[[Recorder], list[ChildSpec]] | list[ChildSpec],
    flags: SupFlags = FLAGS,
    life: Recorder | None = None,
) -> Tree:
    """Start a root; ``specs`` may be built from the recorder the tree's workers use."""
    life = life or Recorder()
    reports = Recorder()
    ref = start_root(
        flags,
        specs(life) if callable(specs) else specs,
        on_exit=lambda reason: life.record(("exit", reason)),
        observer=reports.record,
    )
    return Tree(ref, life, reports)


def abc(restart: Restart = Restart.PERMANENT) -> Callable[[Recorder], list[ChildSpec]]:
    return lambda rec: [worker_spec(rec, tag, restart=restart) for tag in "abc"]


def test_children_start_in_order_and_stop_in_reverse_order() -> None:
    t = tree(abc())
    assert starts(t.life.events) == ["a", "b", "c"]
    stop_root(t.ref, WAIT_S)
    assert stops(t.life.events) == ["c", "b", "a"]
    assert t.exit_reason().kind is ExitKind.SHUTDOWN


def test_one_for_one_restarts_only_the_crashed_child() -> None:
    t = tree(abc())
    cast(child_ref(t.ref, "b"), Crash())
    events = t.life.wait_count(("start", "b"), 2)
    assert starts(events) == ["a", "b", "c", "b"]
    assert stops(events) == ["b"]
    info = children(t.ref)
    assert [info[k].restarts for k in "abc"] == [0, 1, 0]
    assert all(info[k].alive for k in "abc")
    assert info["b"].last_exit is not None and info["b"].last_exit.startswith("crash")


def test_one_for_all_stops_siblings_in_reverse_and_restarts_all_in_order() -> None:
    t = tree(abc(), SupFlags(Strategy.ONE_FOR_ALL, intensity=10, period=60.0))
    cast(child_ref(t.ref, "b"), Crash())
    events = t.life.wait_count(("start", "c"), 2)
    assert starts(events) == ["a", "b", "c", "a", "b", "c"]
    assert stops(events) == ["b", "c", "a"]  # the crashed one, then the rest in reverse
    assert [children(t.ref)[k].restarts for k in "abc"] == [1, 1, 1]


def test_rest_for_one_restarts_the_crashed_child_and_those_after_it() -> None:
    t = tree(abc(), SupFlags(Strategy.REST_FOR_ONE, intensity=10, period=60.0))
    cast(child_ref(t.ref, "b"), Crash())
    events = t.life.wait_count(("start", "c"), 2)
    assert starts(events) == ["a", "b", "c", "b", "c"]
    assert stops(events) == ["b", "c"]
    assert [children(t.ref)[k].restarts for k in "abc"] == [0, 1, 1]


def test_permanent_child_is_restarted_after_a_normal_exit() -> None:
    t = tree(lambda rec: [worker_spec(rec, "p")])
    cast(child_ref(t.ref, "p"), StopNormally())
    t.life.wait_count(("start", "p"), 2)
    assert children(t.ref)["p"].restarts == 1


def test_transient_child_is_not_restarted_after_normal_exit() -> None:
    t = tree(lambda rec: [worker_spec(rec, "t", restart=Restart.TRANSIENT)])
    cast(child_ref(t.ref, "t"), StopNormally())
    t.reports.wait_for(lambda rs: any(r.event == "child_terminated" for r in rs))
    info = children(t.ref)["t"]  # answered after the exit was handled
    assert (info.alive, info.ref, info.restarts, info.last_exit) == (False, None, 0, "normal")
    assert starts(t.life.events) == ["t"]


def test_transient_child_is_restarted_after_crash() -> None:
    t = tree(lambda rec: [worker_spec(rec, "t", restart=Restart.TRANSIENT)])
    cast(child_ref(t.ref, "t"), Crash())
    t.life.wait_count(("start", "t"), 2)
    assert children(t.ref)["t"].restarts == 1


def test_temporary_child_is_never_restarted_and_is_forgotten() -> None:
    t = tree(
        lambda rec: [worker_spec(rec, "tmp", restart=Restart.TEMPORARY), worker_spec(rec, "p")]
    )
    cast(child_ref(t.ref, "tmp"), Crash())
    t.reports.wait_for(lambda rs: any(r.event == "child_terminated" for r in rs))
    assert list(children(t.ref)) == ["p"]
    assert starts(t.life.events) == ["tmp", "p"]


def test_one_for_all_stops_but_does_not_restart_a_temporary_sibling() -> None:
    t = tree(
        lambda rec: [worker_spec(rec, "tmp", restart=Restart.TEMPORARY), worker_spec(rec, "p")],
        SupFlags(Strategy.ONE_FOR_ALL, intensity=10, period=60.0),
    )
    cast(child_ref(t.ref, "p"), Crash())
    events = t.life.wait_count(("start", "p"), 2)
    assert stops(events) == ["p", "tmp"]
    assert list(children(t.ref)) == ["p"]


def test_intensity_exceeded_stops_children_in_reverse_and_the_root_exits_with_a_crash() -> None:
    t = tree(abc(), SupFlags(intensity=1, period=60.0))
    cast(child_ref(t.ref, "c"), Crash())
    t.life.wait_count(("start", "c"), 2)
    cast(child_ref(t.ref, "c"), Crash())  # second restart within the period: give up
    reason = t.exit_reason()
    assert reason.kind is ExitKind.CRASH
    assert isinstance(reason.error, RestartIntensityError)
    assert stops(t.life.events) == ["c", "c", "b", "a"]
    assert [r.child_id for r in t.report_events("restart_intensity_reached")] == ["c"]
    assert not t.ref.is_alive()
    assert pykka.ActorRegistry.get_all() == []


def test_intensity_zero_gives_up_on_the_first_restart() -> None:
    t = tree(abc(), SupFlags(intensity=0, period=60.0))
    cast(child_ref(t.ref, "a"), Crash())
    assert isinstance(t.exit_reason().error, RestartIntensityError)
    assert starts(t.life.events) == ["a", "b", "c"]


def test_a_nested_supervisor_that_gives_up_is_restarted_by_its_parent() -> None:
    life = Recorder()

    def start_inner(link: Link) -> pykka.ActorRef[Any]:
        specs = [worker_spec(life, "x"), worker_spec(life, "y")]
        return Supervisor.start_link(link, SupFlags(intensity=0, period=60.0), specs, "inner")

    inner = ChildSpec("inner", start_inner, kind=ChildKind.SUPERVISOR)
    t = tree([worker_spec(life, "before"), inner], life=life)
    inner_ref = child_ref(t.ref, "inner")
    cast(child_ref(inner_ref, "x"), Crash())
    events = life.wait_count(("start", "y"), 2)
    assert starts(events) == ["before", "x", "y", "x", "y"]
    assert stops(events) == ["x", "y"]  # x crashed; inner stopped y before failing
    terminated = [r for r in t.report_events("child_terminated") if r.child_id == "inner"]
    assert terminated[0].reason is not None and "RestartIntensityError" in terminated[0].reason
    info = children(t.ref)["inner"]
    assert info.restarts == 1 and info.alive and info.ref is not inner_ref


def test_a_crash_cascade_up_to_the_root_calls_on_exit_with_a_crash() -> None:
    life = Recorder()

    def start_inner(link: Link) -> pykka.ActorRef[Any]:
        return Supervisor.start_link(
            link, SupFlags(intensity=0, period=60.0), [worker_spec(life, "x")], "inner"
        )

    t = tree(
        [ChildSpec("inner", start_inner, kind=ChildKind.SUPERVISOR)],
        SupFlags(intensity=0, period=60.0),
        life=life,
    )
    cast(child_ref(child_ref(t.ref, "inner"), "x"), Crash())
    reason = t.exit_reason()
    assert reason.kind is ExitKind.CRASH and isinstance(reason.error, RestartIntensityError)
    assert pykka.ActorRegistry.get_all() == []


def test_a_child_failing_in_init_fails_the_supervisor_start_and_stops_the_started_ones() -> None:
    life, reports = Recorder(), Recorder()
    specs = [
        worker_spec(life, "a"),
        worker_spec(life, "b"),
        worker_spec(life, "bad", behaviour=Behaviour(fail_init=True)),
        worker_spec(life, "never"),
    ]
    with pytest.raises(StartError) as caught:
        start_root(
            FLAGS, specs, on_exit=lambda r: life.record(("exit", r)), observer=reports.record
        )
    assert isinstance(caught.value.cause, StartError)
    assert "'bad'" in str(caught.value.cause)
    assert starts(life.events) == ["a", "b"]
    assert stops(life.events) == ["b", "a"]
    assert not any(e[0] == "exit" for e in life.events)  # a failed start is not an exit
    assert [r.child_id for r in reports.events if r.event == "start_error"] == ["bad"]
    assert pykka.ActorRegistry.get_all() == []


def test_a_child_blocking_in_terminate_past_its_deadline_does_not_hang_shutdown() -> None:
    release = threading.Event()
    try:
        t = tree(
            lambda rec: [
                worker_spec(rec, "a"),
                worker_spec(
                    rec, "stuck", behaviour=Behaviour(block_terminate=release), shutdown=0.1
                ),
                worker_spec(rec, "c"),
            ]
        )
        stop_root(t.ref, WAIT_S)
        assert stops(t.life.events) == ["c", "stuck", "a"]
        assert [r.child_id for r in t.report_events("shutdown_error")] == ["stuck"]
        assert t.exit_reason().kind is ExitKind.SHUTDOWN
    finally:
        release.set()


def test_a_restart_that_fails_is_retried_and_ends_in_escalation() -> None:
    t = tree(
        lambda rec: [worker_spec(rec, "flaky", behaviour=Behaviour(fail_init_after=1))],
        SupFlags(intensity=3, period=60.0),
    )
    cast(child_ref(t.ref, "flaky"), Crash())
    assert isinstance(t.exit_reason().error, RestartIntensityError)
    assert t.life.events.count(("init_failed", "flaky")) == 3  # one per allowed restart
    assert len(t.report_events("start_error")) == 3


def test_a_restart_that_fails_once_is_retried_and_succeeds() -> None:
    t = tree(
        lambda rec: [worker_spec(rec, "w", behaviour=Behaviour(fail_on=frozenset({2})))],
        SupFlags(intensity=5, period=60.0),
    )
    cast(child_ref(t.ref, "w"), Crash())
    events = t.life.wait_count(("start", "w"), 2)
    assert events.count(("init_failed", "w")) == 1
    info = children(t.ref)["w"]
    assert info.alive and info.restarts == 1
    assert t.ref.is_alive()


def test_start_child_adds_a_dynamic_child_after_the_static_ones() -> None:
    t = tree(abc())
    ref = ask(t.ref, StartChild(worker_spec(t.life, "dyn", restart=Restart.TEMPORARY)))
    assert ref.is_alive()
    assert list(children(t.ref)) == ["a", "b", "c", "dyn"]
    assert children(t.ref)["dyn"].ref is ref
    stop_root(t.ref, WAIT_S)
    assert stops(t.life.events) == ["dyn", "c", "b", "a"]


def test_start_child_with_an_id_already_present_fails() -> None:
    t = tree(abc())
    with pytest.raises(DuplicateChildError):
        ask(t.ref, StartChild(worker_spec(t.life, "a")))
    assert starts(t.life.events) == ["a", "b", "c"]


def test_start_child_whose_init_fails_replies_a_start_error_and_keeps_nothing() -> None:
    t = tree(abc())
    with pytest.raises(StartError):
        ask(t.ref, StartChild(worker_spec(t.life, "bad", behaviour=Behaviour(fail_init=True))))
    assert list(children(t.ref)) == ["a", "b", "c"]
    assert t.ref.is_alive()


def test_terminate_child_stops_and_forgets_it_without_a_restart() -> None:
    t = tree(abc())
    assert ask(t.ref, TerminateChild("b")) is None
    assert list(children(t.ref)) == ["a", "c"]
    assert stops(t.life.events) == ["b"]
    assert starts(t.life.events) == ["a", "b", "c"]


def test_terminate_child_with_an_unknown_id_fails_with_not_found() -> None:
    t = tree(abc())
    with pytest.raises(ChildNotFoundError) as caught:
        ask(t.ref, TerminateChild("nope"))
    assert caught.value.status == 404


def test_which_children_describes_each_child() -> None:
    t = tree(lambda rec: [worker_spec(rec, "a", restart=Restart.TRANSIENT)])
    (info,) = children(t.ref).values()
    assert (info.id, info.kind, info.restart, info.restarts, info.last_exit, info.alive) == (
        "a",
        ChildKind.WORKER,
        Restart.TRANSIENT,
        0,
        None,
        True,
    )


def test_reports_are_logged_as_structured_events() -> None:
    with capture_logs() as logs:
        t = tree(lambda rec: [worker_spec(rec, "a")])
        cast(child_ref(t.ref, "a"), Crash())
        t.life.wait_count(("start", "a"), 2)
        stop_root(t.ref, WAIT_S)
    events = [(log["event"], log.get("child_id")) for log in logs if "supervisor" in log]
    assert events == [
        ("child_started", "a"),
        ("child_terminated", "a"),
        ("child_started", "a"),
        ("child_terminated", "a"),
    ]
    crash = next(log for log in logs if log["event"] == "child_terminated")
    assert crash["log_level"] == "error"
    assert crash["supervisor"] == "root" and crash["restart"] == "permanent"
    assert crash["reason"].startswith("crash: RuntimeError")


def test_an_observer_that_raises_does_not_crash_the_supervisor() -> None:
    def observer(report: SupervisorReport) -> None:
        raise RuntimeError("observer broke")

    life = Recorder()
    ref = start_root(FLAGS, [worker_spec(life, "a")], on_exit=lambda r: None, observer=observer)
    assert list(children(ref)) == ["a"]


def test_duplicate_child_ids_are_rejected_before_anything_starts() -> None:
    life = Recorder()
    with pytest.raises(ValueError, match="duplicate child id 'a'"):
        start_root(FLAGS, [worker_spec(life, "a"), worker_spec(life, "a")], on_exit=lambda r: None)
    assert life.events == []


def test_stop_root_of_a_dead_root_returns_at_once() -> None:
    t = tree(abc())
    stop_root(t.ref, WAIT_S)
    stop_root(t.ref, WAIT_S)
    assert t.exit_reason().kind is ExitKind.SHUTDOWN
