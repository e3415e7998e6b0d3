"""Supervisor: starts children in order, restarts them per OTP, escalates, stops in reverse.

The decisions are pure functions (``strategy.should_restart``, ``plan_restart``,
``intensity.RestartWindow``); this actor only executes them and reports what it
did, OTP-style, to structlog and to an optional observer.

Invariants:
- children are started in list order (dynamic ones appended) and stopped in
  reverse, each stop bounded by the child's ``shutdown`` deadline;
- a child's exit is acted on only if it comes from the incarnation the
  supervisor tracks: before stopping a child itself, the supervisor forgets its
  ref, so the resulting ``ChildExited`` is ignored;
- more than ``intensity`` restarts within ``period`` stop every child and crash
  the supervisor, so its own link (parent supervisor, or the root's callback)
  sees the failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pykka
import structlog

from ollama_actors.kernel.errors import (
    ChildNotFoundError,
    DuplicateChildError,
    RestartIntensityError,
    StartError,
)
from ollama_actors.kernel.intensity import RestartWindow
from ollama_actors.kernel.link import SupervisorLink
from ollama_actors.kernel.messages import (
    ChildExited,
    ChildInfo,
    ExitReason,
    StartChild,
    TerminateChild,
    WhichChildren,
    send_info,
)
from ollama_actors.kernel.reply import ReplyTo
from ollama_actors.kernel.server import GenServer, handle_call, handle_info
from ollama_actors.kernel.specs import ChildSpec, Restart, SupFlags, validate_children
from ollama_actors.kernel.strategy import plan_restart, should_restart

__all__ = ["ReportEvent", "Supervisor", "SupervisorReport"]

ReportEvent = Literal[
    "child_started",
    "child_terminated",
    "start_error",
    "shutdown_error",
    "restart_intensity_reached",
]


@dataclass(frozen=True)
class SupervisorReport:
    """One OTP-style supervisor report, as logged and as given to an observer."""

    event: ReportEvent
    supervisor: str
    child_id: str
    reason: str | None
    restart: Restart


@dataclass
class _Child:
    """A tracked child; mutable state that never leaves the supervisor's thread."""

    spec: ChildSpec
    ref: pykka.ActorRef[Any] | None = None  # Any: any actor class
    restarts: int = 0
    last_exit: str | None = None


@dataclass(frozen=True)
class _TryAgain:
    """Info to self: children whose restart failed, to start again (in this order)."""

    child_ids: tuple[str, ...]


class Supervisor(GenServer):
    """Start with ``Supervisor.start_link(link, flags, children, name, observer=None)``.

    ``observer`` receives every ``SupervisorReport`` in the supervisor's thread; it
    must not block, and an exception from it is logged, not raised.

    Raises (from ``start_link``): ``ValueError`` for invalid flags or duplicate ids,
    ``StartError`` if a child failed to start (those already started are stopped).
    """

    start_timeout = None  # as OTP: a supervisor's start waits for all its children

    def __init__(
        self,
        flags: SupFlags,
        children: Sequence[ChildSpec],
        name: str,
        observer: Callable[[SupervisorReport], None] | None = None,
    ) -> None:
        if not isinstance(flags, SupFlags):
            raise ValueError(f"flags must be SupFlags, got {flags!r}")
        super().__init__(name=name)
        self._flags = flags
        self._specs = validate_children(children)
        self._observer = observer
        self._children: list[_Child] = []
        self._window = RestartWindow(flags.intensity, flags.period)

    # -- lifecycle ----------------------------------------------------------------

    def init(self) -> None:
        for spec in self._specs:
            child = _Child(spec)
            try:
                self._start_child(child)
            except Exception as exc:  # a failed child fails the whole start (OTP)
                self._stop_all_children()
                raise StartError(
                    f"supervisor {self.name}: child {spec.id!r} failed to start",
                    cause=exc,
                ) from exc
            self._children.append(child)

    def terminate(self, reason: ExitReason) -> None:
        self._stop_all_children()

    # -- child exits and restarts --------------------------------------------------

    @handle_info(ChildExited)
    def _on_child_exited(self, msg: ChildExited) -> None:
        child = self._find(msg.child_id)
        if child is None or child.ref is None or child.ref.actor_urn != msg.actor_urn:
            return  # an incarnation we stopped or replaced ourselves
        child.ref, child.last_exit = None, msg.reason.describe()
        self._report("child_terminated", child, child.last_exit, severe=msg.reason.abnormal)
        if not should_restart(child.spec.restart, msg.reason.abnormal):
            if child.spec.restart is Restart.TEMPORARY:
                self._children.remove(child)
            return
        self._count_restart(child)
        plan = plan_restart(self._ids(), child.spec.id, self._flags.strategy)
        for child_id in plan.stop:
            self._stop_sibling(child_id)
        self._start_each(plan.start)

    @handle_info(_TryAgain)
    def _on_try_again(self, msg: _TryAgain) -> None:
        waiting = [c for c in map(self._find, msg.child_ids) if c is not None and c.ref is None]
        if not waiting:
            return
        self._count_restart(waiting[0])
        self._start_each(msg.child_ids)

    def _count_restart(self, child: _Child) -> None:
        """Record a restart; past the intensity, stop everything and crash (escalate)."""
        self._window = self._window.record(time.monotonic())
        if not self._window.exceeded:
            return
        flags = self._flags
        why = f"more than {flags.intensity} restarts in {flags.period}s"
        self._report("restart_intensity_reached", child, why, severe=True)
        self._stop_all_children()
        raise RestartIntensityError(f"supervisor {self.name}: {why}")

    def _stop_sibling(self, child_id: str) -> None:
        child = self._find(child_id)
        if child is None:
            return
        self._stop_child(child)
        if child.spec.restart is Restart.TEMPORARY:
            self._children.remove(child)  # as OTP: temporary children are not restarted

    def _start_each(self, child_ids: Sequence[str]) -> None:
        """Start the listed children that are tracked and not running, in order; if
        one fails, retry it and the rest later through ``_TryAgain`` (which counts
        as a restart, so a child that never starts ends in escalation)."""
        for index, child_id in enumerate(child_ids):
            child = self._find(child_id)
            if child is None or child.ref is not None:
                continue
            try:
                self._start_child(child)
            except Exception:  # reported as start_error; the retry decides
                send_info(self.ref, _TryAgain(tuple(child_ids[index:])))
                return
            child.restarts += 1

    # -- dynamic children ------------------------------------------------------------

    @handle_call(StartChild)
    def _on_start_child(self, msg: StartChild, reply: ReplyTo) -> None:
        if self._find(msg.spec.id) is not None:
            reply.fail(DuplicateChildError(f"child {msg.spec.id!r} already exists"))
            return
        child = _Child(msg.spec)
        try:
            self._start_child(child)
        except Exception as exc:  # a failed start is an answer, not our crash
            reply.fail(_as_start_error(msg.spec.id, exc))
            return
        self._children.append(child)
        reply.set(child.ref)

    @handle_call(TerminateChild)
    def _on_terminate_child(self, msg: TerminateChild, reply: ReplyTo) -> None:
        child = self._find(msg.child_id)
        if child is None:
            reply.fail(ChildNotFoundError(f"child {msg.child_id!r} not found"))
            return
        self._stop_child(child)
        self._children.remove(child)
        reply.set(None)

    @handle_call(WhichChildren)
    def _on_which_children(self, msg: WhichChildren, reply: ReplyTo) -> None:
        reply.set(tuple(_info(child) for child in self._children))

    # -- starting and stopping one child ---------------------------------------------

    def _start_child(self, child: _Child) -> None:
        """Start ``child`` (blocks until its init acked). Raises what its start raised."""
        spec = child.spec
        try:
            child.ref = spec.start(SupervisorLink(self.ref, spec.id))
        except Exception as exc:
            self._report("start_error", child, _describe(exc), severe=True)
            raise
        self._report("child_started", child, None)

    def _stop_child(self, child: _Child) -> None:
        """Stop ``child`` within its deadline. Its ref is forgotten first, so the exit
        it reports is recognised as ours and ignored."""
        ref, child.ref = child.ref, None
        if ref is None:
            return
        timeout = child.spec.shutdown
        if timeout == 0:
            ref.stop(block=False)  # brutal: do not wait at all
        else:
            try:
                ref.stop(block=True, timeout=timeout)
            except pykka.Timeout:
                # Threads cannot be killed: the child is abandoned, still stopping.
                why = f"did not stop within {timeout}s; abandoned"
                self._report("shutdown_error", child, why, severe=True)
                return
        child.last_exit = "shutdown"
        self._report("child_terminated", child, "shutdown")

    def _stop_all_children(self) -> None:
        for child in reversed(self._children):
            self._stop_child(child)

    # -- helpers ------------------------------------------------------------------------

    def _find(self, child_id: str) -> _Child | None:
        return next((c for c in self._children if c.spec.id == child_id), None)

    def _ids(self) -> list[str]:
        return [child.spec.id for child in self._children]

    def _report(
        self, event: ReportEvent, child: _Child, reason: str | None, *, severe: bool = False
    ) -> None:
        """Log an OTP-style report (error level when ``severe``) and tell the observer."""
        report = SupervisorReport(event, self.name, child.spec.id, reason, child.spec.restart)
        log = structlog.get_logger()
        (log.error if severe else log.info)(
            event,
            supervisor=report.supervisor,
            child_id=report.child_id,
            reason=reason,
            restart=report.restart.value,
        )
        if self._observer is None:
            return
        try:
            self._observer(report)
        except Exception:  # an observer is a spectator; it cannot crash the supervisor
            log.exception("supervisor_observer_failed", supervisor=self.name)


def _info(child: _Child) -> ChildInfo:
    ref = child.ref
    return ChildInfo(
        id=child.spec.id,
        ref=ref,
        kind=child.spec.kind,
        restart=child.spec.restart,
        restarts=child.restarts,
        last_exit=child.last_exit,
        alive=ref is not None and ref.is_alive(),
    )


def _as_start_error(child_id: str, exc: Exception) -> StartError:
    if isinstance(exc, StartError):
        return exc
    return StartError(f"child {child_id!r} failed to start: {_describe(exc)}", cause=exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
