"""Scheduler: decides which runner serves which request, and when runners load and unload.

It owns the pending queue (state, not mailbox backlog), the table of loaded
runners, keep_alive expiry timers and eviction. Runners are children of the
RunnerSupervisor; the scheduler asks it to start and terminate them and learns
of their readiness, failures and finished jobs through casts. A runner that
crashed is restarted by its supervisor and announces itself again with
``RunnerReady``, so jobs still queued are served by the successor.

Admission: every request waits in one FIFO; each model may have at most
``max_queue`` requests waiting (those for a loaded model too: they wait for a
slot), the next one is answered 503 at once. A runner takes up to ``num_parallel``
jobs. Loading obeys ``max_loaded_models`` and a memory budget (the GGUF plus the KV
cache for ``num_ctx × parallel`` tokens against ``SystemMemory``, plus what runners
being unloaded will free): least recently used idle runners are evicted to make
room; a model that cannot fit even alone is refused with Ollama's message.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pykka
import structlog

from ollama_actors.domain.errors import RunnerError, ServerBusyError, ServiceUnavailableError
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
from ollama_actors.runner.adapters.system_memory import ProcMeminfoSystemMemory
from ollama_actors.runner.domain.scheduling import (
    LoadedView,
    expires_at,
    memory_error_message,
    model_memory,
    plan_load,
    satisfies,
)
from ollama_actors.runner.messages import (
    Assign,
    GenerateJob,
    Job,
    JobDone,
    ListRunning,
    ModelStatistics,
    RunnerFailed,
    RunnerReady,
    RunningModel,
    SchedulerInfo,
    SchedulerStatistics,
    Submit,
    UnloadModel,
)
from ollama_actors.runner.ports import LoadSpec, Runtime, SystemMemory

__all__ = ["Scheduler", "SchedulerConfig"]


@dataclass(frozen=True)
class SchedulerConfig:
    keep_alive_s: float = 300.0
    max_loaded_models: int = 3
    max_queue: int = 512
    num_parallel: int = 1
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
    parallel: int = 1
    need: int = 0  # estimated bytes: GGUF + KV cache
    ref: pykka.ActorRef | None = None
    state: str = "starting"  # starting | ready
    active: int = 0  # jobs assigned and not yet done (at most ``parallel``)
    context_length: int = 0
    last_used: float = field(default_factory=time.monotonic)
    expires: datetime = field(default_factory=lambda: datetime.now(timezone.utc).astimezone())
    timer: TimerRef | None = None
    timer_generation: int = 0
    unload_when_idle: bool = False


def _job_reply(job: Job) -> ReplyTo:
    return job.stream if isinstance(job, GenerateJob) else job.reply


class Scheduler(GenServer):
    def __init__(
        self, config: SchedulerConfig, runtime: Runtime, names: Names, memory: SystemMemory | None = None
    ) -> None:
        super().__init__()
        self._config = config
        self._runtime = runtime
        self._names = names
        self._memory = memory if memory is not None else ProcMeminfoSystemMemory()
        self._queue: deque[Job] = deque()
        self._entries: dict[str, _Entry] = {}
        self._freeing: dict[str, int] = {}  # child id → bytes its unload will free
        self._draining: set[str] = set()  # as the last dispatch left it, for statistics
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
        digest = msg.job.model.digest
        waiting = sum(1 for j in self._queue if j.model.digest == digest and not _job_reply(j).done)
        if waiting >= self._config.max_queue:
            structlog.get_logger().info("queue_full", model=msg.job.model.name, waiting=waiting)
            reply.fail(ServerBusyError())
            return
        self.hold(reply)
        self._queue.append(msg.job)
        self._dispatch()

    @handle_call(UnloadModel)
    def _on_unload(self, msg: UnloadModel, reply: ReplyTo) -> None:
        entry = self._entries.get(msg.digest)
        if entry is not None:
            if entry.active > 0 or entry.state == "starting":
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
                size=e.need or e.model.size,  # as Ollama: the memory estimate, KV cache included
                details=e.model.details,
                expires_at=e.expires,
                context_length=e.context_length,
            )
            for e in self._entries.values()
            if e.state != "starting"
        ]
        reply.set(tuple(sorted(running, key=lambda r: r.expires_at, reverse=True)))

    @handle_call(SchedulerInfo)
    def _on_info(self, msg: SchedulerInfo, reply: ReplyTo) -> None:
        reply.set(self.statistics())

    def statistics(self) -> SchedulerStatistics:
        """A snapshot: per model its state, queued and running jobs, slots (style guide §2)."""
        live = [job for job in self._queue if not _job_reply(job).done]
        queued = Counter(job.model.digest for job in live)
        models = {
            key: ModelStatistics(
                name=e.model.name, digest=key, queued=queued[key], running=e.active, slots=e.parallel,
                state="draining" if e.state == "ready" and key in self._draining else e.state,
            )
            for key, e in self._entries.items()
        }
        for job in live:
            if job.model.digest not in models:
                models[job.model.digest] = ModelStatistics(
                    name=job.model.name, digest=job.model.digest, state="waiting",
                    queued=queued[job.model.digest], running=0, slots=0,
                )
        ordered = tuple(sorted(models.values(), key=lambda m: (m.name, m.digest)))
        return SchedulerStatistics(models=ordered, queue_depth=len(live))

    # ---- reports from runners ----
    @handle_cast(RunnerReady)
    def _on_ready(self, msg: RunnerReady) -> None:
        entry = self._entries.get(msg.key)
        if entry is None:
            return
        if entry.ref is not None and entry.ref is not msg.ref:
            structlog.get_logger().warning("runner_replaced", key=msg.key, child_id=entry.child_id)
        entry.ref, entry.state, entry.context_length = msg.ref, "ready", msg.context_length
        entry.active = 0  # a successor starts empty: its predecessor's jobs were failed with it
        self._dispatch()  # the work that caused the load first: keep_alive 0 must not unload it unused
        if entry.active == 0 and self._entries.get(msg.key) is entry:
            self._idle(entry, None)

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
        entry.active = max(0, entry.active - 1)
        if msg.keep_alive_s is not None:
            entry.keep_alive_s = msg.keep_alive_s  # the latest request's value wins
        if entry.active == 0:
            self._idle(entry, None)
        self._dispatch()

    @handle_info(_Expire)
    def _on_expire(self, msg: _Expire) -> None:
        entry = self._entries.get(msg.key)
        if (
            entry is not None
            and entry.timer_generation == msg.generation
            and entry.state == "ready"
            and entry.active == 0
        ):
            self._unload(entry)
            self._dispatch()

    @handle_info(Replied)
    def _on_replied(self, msg: Replied) -> None:
        # Answers from the RunnerSupervisor to StartChild / TerminateChild.
        kind, key = msg.tag  # type: ignore[misc]
        if kind == "start" and msg.error is not None:
            self._on_failed(RunnerFailed(key, msg.error))
        elif kind == "stop" and self._freeing.pop(key, None) is not None:
            self._dispatch()  # its memory is free now

    # ---- the rules ----
    def _dispatch(self) -> None:
        """Serve what can be served now, FIFO; start or evict runners as needed."""
        waiting: deque[Job] = deque()
        draining: set[str] = set()  # runners a waiting load needs: no new work for them
        while self._queue:
            job = self._queue.popleft()
            if _job_reply(job).done:
                continue  # the client left while queued
            if not self._try_serve(job, draining):
                waiting.append(job)
        self._queue = waiting
        self._draining = draining

    def _try_serve(self, job: Job, draining: set[str]) -> bool:
        """Assign ``job`` to a free slot, or start what it needs; True once it left the queue."""
        entry = self._entries.get(job.model.digest)
        if entry is None:
            return self._start_runner(job, draining)
        if entry.state != "ready" or entry.active >= entry.parallel or entry.key in draining:
            return False
        if not satisfies(entry.spec, job.load):
            if entry.active > 0:
                return False  # reload once its jobs are done
            self._unload(entry)
            return self._start_runner(job, draining)
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        entry.active, entry.last_used = entry.active + 1, time.monotonic()
        if job.keep_alive_s is not None:
            entry.keep_alive_s = job.keep_alive_s
        assert entry.ref is not None
        if not cast(entry.ref, Assign(job)):
            entry.state, entry.active = "starting", 0  # died; its successor will announce itself
            return False
        return True

    def _parallel(self, job: Job) -> int:
        """Slots for a runner of ``job``'s model: embedding-only models get one, as in Ollama."""
        return 1 if job.model.is_embedding_only else max(1, self._config.num_parallel)

    def _start_runner(self, job: Job, draining: set[str]) -> bool:
        """Start a runner for ``job`` if the count limit and the memory budget allow,
        evicting idle runners first; True when the job was refused (it left the queue)."""
        parallel = self._parallel(job)
        need = model_memory(job.model.size, job.model.kv_bytes_per_token, job.load.num_ctx, parallel)
        available = self._memory.available_bytes() + sum(self._freeing.values())
        loaded = [LoadedView(e.key, e.state == "ready" and e.active == 0, e.last_used, e.need)
                  for e in self._entries.values()]
        plan = plan_load(need, available, loaded, self._config.max_loaded_models)
        if plan.action == "refuse":
            error = RunnerError(memory_error_message(need, available + sum(v.size for v in loaded)))
            structlog.get_logger().warning("runner_refused", model=job.model.name, error=str(error))
            _job_reply(job).fail(error)
            return True
        if plan.action == "wait":
            if plan.drain is not None:
                draining.add(plan.drain)  # busy runners hold the room: wait for its JobDone
            return False
        for key in plan.evict:
            structlog.get_logger().info("runner_evicting", key=key[:12], for_model=job.model.name)
            self._unload(self._entries[key])
        self._launch(job, parallel, need)
        return False

    def _launch(self, job: Job, parallel: int, need: int) -> None:
        key = job.model.digest
        child_id = f"runner-{key[:12]}-{next(self._ids)}"
        entry = _Entry(
            key=key, model=job.model, spec=job.load, child_id=child_id, parallel=parallel, need=need,
            keep_alive_s=self._config.keep_alive_s if job.keep_alive_s is None else job.keep_alive_s,
        )
        self._entries[key] = entry
        spec = ChildSpec(
            id=child_id,
            start=lambda link, k=key, s=job.load, p=parallel: Runner.start_link(
                link, k, s, self._runtime, self._names, parallel=p
            ),
            restart=Restart.TRANSIENT,
            shutdown=self._config.runner_shutdown_s,
        )
        supervisor = self._names.whereis("runner_supervisor")
        if supervisor is None:
            self._on_failed(RunnerFailed(key, ServiceUnavailableError("runner supervisor is not running")))
            return
        call(supervisor, StartChild(spec), ActorReply(self.actor_ref, ("start", key)))
        structlog.get_logger().info(
            "runner_starting", model=job.model.name, child_id=child_id, parallel=parallel, need=need
        )

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
        self._freeing[entry.child_id] = entry.need
        self._forget_child(entry)
        structlog.get_logger().info("runner_unloading", model=entry.model.name, child_id=entry.child_id)

    def _forget_child(self, entry: _Entry) -> None:
        """Stop the entry's runner, if still running, and drop its spec from the supervisor."""
        supervisor = self._names.whereis("runner_supervisor")
        if supervisor is None:
            self._freeing.pop(entry.child_id, None)
        else:
            call(supervisor, TerminateChild(entry.child_id), ActorReply(self.actor_ref, ("stop", entry.child_id)))
