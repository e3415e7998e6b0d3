"""Scheduler: decides which runner serves which request, and when runners load and unload.

It owns the pending queue (state, not mailbox backlog), the table of loaded
runners, keep_alive expiry timers and eviction. Runners are children of the
RunnerSupervisor; the scheduler asks it to start and terminate them and learns
of their readiness, failures and finished jobs through casts. A runner that
crashed is restarted by its supervisor and announces itself again with
``RunnerReady``, so jobs still queued are served by the successor.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pykka
import structlog

from ollama_actors.domain.errors import ServerBusyError, ServiceUnavailableError
from ollama_actors.domain.models import ResolvedModel
from ollama_actors.kernel import (
    ChildSpec,
    ExitReason,
    GenServer,
    Restart,
    StartChild,
    TerminateChild,
    TimerRef,
    handle_call,
    handle_cast,
    handle_info,
    send_after,
)
from ollama_actors.kernel.messages import call, cast
from ollama_actors.kernel.names import Names
from ollama_actors.kernel.reply import ActorReply, Replied, ReplyTo
from ollama_actors.runner.actors.runner import Runner
from ollama_actors.runner.domain.scheduling import RunnerView, expires_at, pick_eviction, satisfies
from ollama_actors.runner.messages import (
    Assign,
    GenerateJob,
    Job,
    JobDone,
    ListRunning,
    RunnerFailed,
    RunnerReady,
    RunningModel,
    Submit,
    UnloadModel,
)
from ollama_actors.runner.ports import LoadSpec, Runtime

__all__ = ["Scheduler", "SchedulerConfig"]


@dataclass(frozen=True)
class SchedulerConfig:
    keep_alive_s: float = 300.0
    max_loaded_models: int = 3
    max_queue: int = 512
    runner_shutdown_s: float = 10.0


@dataclass(frozen=True)
class _Expire:
    key: str
    generation: int


@dataclass
class _Entry:
    key: str
    model: ResolvedModel
    spec: LoadSpec
    child_id: str
    keep_alive_s: float
    ref: pykka.ActorRef | None = None
    state: str = "starting"  # starting | ready | busy
    context_length: int = 0
    last_used: float = field(default_factory=time.monotonic)
    expires: datetime = field(default_factory=lambda: datetime.now(timezone.utc).astimezone())
    timer: TimerRef | None = None
    timer_generation: int = 0
    unload_when_idle: bool = False


def _job_reply(job: Job) -> ReplyTo:
    return job.stream if isinstance(job, GenerateJob) else job.reply


class Scheduler(GenServer):
    def __init__(self, config: SchedulerConfig, runtime: Runtime, names: Names) -> None:
        super().__init__()
        self._config = config
        self._runtime = runtime
        self._names = names
        self._queue: deque[Job] = deque()
        self._entries: dict[str, _Entry] = {}
        self._ids = itertools.count(1)

    def init(self) -> None:
        self._names.register("scheduler", self.actor_ref)

    def terminate(self, reason: ExitReason) -> None:
        self._names.unregister("scheduler", self.actor_ref)
        for entry in self._entries.values():
            if entry.timer is not None:
                entry.timer.cancel()
        for job in self._queue:
            _job_reply(job).fail(ServiceUnavailableError("server is shutting down"))
        self._queue.clear()

    # ---- requests ----
    @handle_cast(Submit)
    def _on_submit(self, msg: Submit) -> None:
        reply = _job_reply(msg.job)
        if len(self._queue) >= self._config.max_queue:
            reply.fail(ServerBusyError())
            return
        self.hold(reply)
        self._queue.append(msg.job)
        self._dispatch()

    @handle_call(UnloadModel)
    def _on_unload(self, msg: UnloadModel, reply: ReplyTo) -> None:
        entry = self._entries.get(msg.digest)
        if entry is not None:
            if entry.state == "busy" or entry.state == "starting":
                entry.unload_when_idle = True
            else:
                self._unload(entry)
        reply.set(None)

    @handle_call(ListRunning)
    def _on_list(self, msg: ListRunning, reply: ReplyTo) -> None:
        running = [
            RunningModel(
                name=e.model.name,
                digest=e.model.digest,
                size=e.model.size,
                details=e.model.details,
                expires_at=e.expires,
                context_length=e.context_length,
            )
            for e in self._entries.values()
            if e.state != "starting"
        ]
        reply.set(tuple(sorted(running, key=lambda r: r.expires_at, reverse=True)))

    # ---- reports from runners ----
    @handle_cast(RunnerReady)
    def _on_ready(self, msg: RunnerReady) -> None:
        entry = self._entries.get(msg.key)
        if entry is None:
            return
        if entry.ref is not None and entry.ref is not msg.ref:
            structlog.get_logger().warning("runner_replaced", key=msg.key, child_id=entry.child_id)
        entry.ref, entry.state, entry.context_length = msg.ref, "ready", msg.context_length
        self._idle(entry, None)
        self._dispatch()

    @handle_cast(RunnerFailed)
    def _on_failed(self, msg: RunnerFailed) -> None:
        entry = self._entries.pop(msg.key, None)
        if entry is not None:
            if entry.timer is not None:
                entry.timer.cancel()
            self._forget_child(entry)  # it stopped normally; its spec would stay behind
        kept: deque[Job] = deque()
        for job in self._queue:
            if job.model.digest == msg.key:
                _job_reply(job).fail(msg.error)
            else:
                kept.append(job)
        self._queue = kept
        self._dispatch()

    @handle_cast(JobDone)
    def _on_job_done(self, msg: JobDone) -> None:
        entry = self._entries.get(msg.key)
        if entry is None or entry.ref is not msg.ref:
            return
        entry.state = "ready"
        self._idle(entry, msg.keep_alive_s)
        self._dispatch()

    @handle_info(_Expire)
    def _on_expire(self, msg: _Expire) -> None:
        entry = self._entries.get(msg.key)
        if entry is not None and entry.timer_generation == msg.generation and entry.state == "ready":
            self._unload(entry)
            self._dispatch()

    @handle_info(Replied)
    def _on_replied(self, msg: Replied) -> None:
        # Answers from the RunnerSupervisor to StartChild / TerminateChild.
        kind, key = msg.tag  # type: ignore[misc]
        if kind == "start" and msg.error is not None:
            self._on_failed(RunnerFailed(key, msg.error))

    # ---- the rules ----
    def _dispatch(self) -> None:
        """Serve what can be served now, FIFO; start or evict runners as needed."""
        waiting: deque[Job] = deque()
        while self._queue:
            job = self._queue.popleft()
            if _job_reply(job).done:
                continue  # the client left while queued
            if not self._try_serve(job):
                waiting.append(job)
        self._queue = waiting

    def _try_serve(self, job: Job) -> bool:
        entry = self._entries.get(job.model.digest)
        if entry is None:
            self._start_runner(job)
            return False
        if entry.state != "ready":
            return False
        if not satisfies(entry.spec, job.load):
            self._unload(entry)
            self._start_runner(job)
            return False
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        entry.state, entry.last_used = "busy", time.monotonic()
        assert entry.ref is not None
        if not cast(entry.ref, Assign(job)):
            entry.state = "starting"  # died under us; its successor will announce itself
            return False
        return True

    def _start_runner(self, job: Job) -> None:
        if len(self._entries) >= self._config.max_loaded_models:
            victim = pick_eviction(
                RunnerView(e.key, e.state == "ready", e.last_used) for e in self._entries.values()
            )
            if victim is None:
                return  # everything busy: wait for a JobDone
            self._unload(self._entries[victim])
        key = job.model.digest
        child_id = f"runner-{key[:12]}-{next(self._ids)}"
        entry = _Entry(
            key=key, model=job.model, spec=job.load, child_id=child_id,
            keep_alive_s=self._config.keep_alive_s if job.keep_alive_s is None else job.keep_alive_s,
        )
        self._entries[key] = entry
        spec = ChildSpec(
            id=child_id,
            start=lambda link, k=key, s=job.load: Runner.start_link(link, k, s, self._runtime, self._names),
            restart=Restart.TRANSIENT,
            shutdown=self._config.runner_shutdown_s,
        )
        supervisor = self._names.whereis("runner_supervisor")
        if supervisor is None:
            self._on_failed(RunnerFailed(key, ServiceUnavailableError("runner supervisor is not running")))
            return
        call(supervisor, StartChild(spec), ActorReply(self.actor_ref, ("start", key)))
        structlog.get_logger().info("runner_starting", model=job.model.name, child_id=child_id)

    def _idle(self, entry: _Entry, keep_alive_s: float | None) -> None:
        if keep_alive_s is not None:
            entry.keep_alive_s = keep_alive_s
        now = datetime.now(timezone.utc).astimezone()
        entry.expires = expires_at(now, entry.keep_alive_s)
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        if entry.unload_when_idle or entry.keep_alive_s == 0:
            self._unload(entry)
            return
        if not math.isinf(entry.keep_alive_s):
            entry.timer_generation += 1
            entry.timer = send_after(
                self.actor_ref, entry.keep_alive_s, _Expire(entry.key, entry.timer_generation)
            )

    def _unload(self, entry: _Entry) -> None:
        self._entries.pop(entry.key, None)
        if entry.timer is not None:
            entry.timer.cancel()
        self._forget_child(entry)
        structlog.get_logger().info("runner_unloading", model=entry.model.name, child_id=entry.child_id)

    def _forget_child(self, entry: _Entry) -> None:
        """Stop the entry's runner, if still running, and drop its spec from the supervisor."""
        supervisor = self._names.whereis("runner_supervisor")
        if supervisor is not None:
            call(supervisor, TerminateChild(entry.child_id), ActorReply(self.actor_ref, ("stop", entry.key)))
