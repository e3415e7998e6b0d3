"""The Scheduler actor with a FakeRuntime and a FakeSystemMemory: the memory budget
(refusal with Ollama's message, eviction of the least recently used idle runner),
reuse of a runner whose context is larger than asked, and slots per runner."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pykka
import pytest

from ollama_actors.domain.errors import RunnerError
from ollama_actors.domain.models import ResolvedModel
from ollama_actors.kernel import ChildKind, ChildSpec, Link, Supervisor, SupFlags, start_root, stop_root
from ollama_actors.kernel.names import Names
from ollama_actors.kernel.reply import BlockingReply
from ollama_actors.runner.actors.scheduler import Scheduler, SchedulerConfig
from ollama_actors.runner.messages import (
    ListRunning,
    Loaded,
    LoadJob,
    ModelStatistics,
    RunningModel,
    SchedulerInfo,
    SchedulerStatistics,
    Submit,
)
from ollama_actors.kernel.messages import call, cast
from ollama_actors.runner.ports import (
    CompletionRequest,
    EmbedResult,
    EventsListener,
    FaultListener,
    LoadSpec,
)

WAIT_S = 10.0
KV_PER_TOKEN = 1000  # bytes of KV cache per context token, for every fake model


@dataclass
class FakeModel:
    path: str
    context_length: int
    runtime: FakeRuntime

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(chr(t) for t in tokens)

    def listen(self, on_events: EventsListener, on_fault: FaultListener) -> None:
        pass  # the scheduler tests only load

    def submit(self, seq: int, request: CompletionRequest, request_id: str = "") -> None:
        raise NotImplementedError("the scheduler tests only load")

    def cancel(self, seq: int) -> None:
        pass

    def pause(self, seq: int) -> None:
        pass

    def resume(self, seq: int) -> None:
        pass

    def embed(self, inputs: Sequence[str], *, truncate: bool = True) -> EmbedResult:
        return EmbedResult(tuple((0.0,) for _ in inputs), len(inputs))

    def close(self) -> None:
        self.runtime.closed.append(self.path)


@dataclass
class FakeRuntime:
    """Loads instantly; records every load (path, context) and close."""

    loads: list[tuple[str, int]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    def load(self, spec: LoadSpec) -> FakeModel:
        self.loads.append((spec.model_path, spec.num_ctx))
        return FakeModel(spec.model_path, spec.num_ctx, self)


@dataclass
class FakeSystemMemory:
    """A fixed amount of memory, less what the runtime's live models hold."""

    total: int
    runtime: FakeRuntime
    sizes: dict[str, int] = field(default_factory=dict)

    def available_bytes(self) -> int:
        live = [p for p, _ in self.runtime.loads]
        for path in self.runtime.closed:
            live.remove(path)
        return self.total - sum(self.sizes[p] for p in live)


def _model(name: str, size: int) -> ResolvedModel:
    return ResolvedModel(name=name, full_name=name, digest=name * 8, model_path=f"/blobs/{name}",
                         size=size, kv_bytes_per_token=KV_PER_TOKEN)


@dataclass
class World:
    runtime: FakeRuntime
    memory: FakeSystemMemory
    scheduler: pykka.ActorRef[Any]

    def load(self, model: ResolvedModel, num_ctx: int = 1000) -> Loaded:
        reply: BlockingReply[Loaded] = BlockingReply()
        job = LoadJob("req", model, LoadSpec(model.model_path, num_ctx=num_ctx), None, reply, 0)
        cast(self.scheduler, Submit(job))
        return reply.wait(WAIT_S)

    def statistics(self) -> SchedulerStatistics:
        reply: BlockingReply[SchedulerStatistics] = BlockingReply()
        call(self.scheduler, SchedulerInfo(), reply)
        return reply.wait(WAIT_S)

    def running(self) -> tuple[RunningModel, ...]:
        reply: BlockingReply[tuple[RunningModel, ...]] = BlockingReply()
        call(self.scheduler, ListRunning(), reply)
        return reply.wait(WAIT_S)


@pytest.fixture
def open_world() -> Iterator[Any]:
    roots: list[pykka.ActorRef[Any]] = []

    def open_(total: int, sizes: dict[str, int], **config: Any) -> World:
        names, runtime = Names(), FakeRuntime()
        memory = FakeSystemMemory(total, runtime, sizes)

        def start_runner_supervisor(link: Link) -> pykka.ActorRef[Any]:
            ref = Supervisor.start_link(link, SupFlags(), [], name="runner_supervisor")
            names.register("runner_supervisor", ref)
            return ref

        specs = [
            ChildSpec("runner_supervisor", start_runner_supervisor, kind=ChildKind.SUPERVISOR),
            ChildSpec("scheduler", lambda link: Scheduler.start_link(
                link, SchedulerConfig(**config), runtime, names, memory)),
        ]
        roots.append(start_root(SupFlags(), specs, on_exit=lambda reason: None))
        scheduler = names.whereis("scheduler")
        assert scheduler is not None
        return World(runtime, memory, scheduler)

    yield open_
    for root in roots:
        stop_root(root, WAIT_S)


def _eventually(condition: Callable[[], bool]) -> None:
    """Unloading ends a runner asynchronously: poll, with a deadline."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _need(size: int, num_ctx: int = 1000, parallel: int = 1) -> int:
    return size + KV_PER_TOKEN * num_ctx * parallel


def test_a_model_too_large_even_alone_is_refused_with_ollamas_message(open_world: Any) -> None:
    world = open_world(total=5 << 20, sizes={})
    with pytest.raises(RunnerError, match=r"model requires more system memory \(.* MiB\) than is available \(5\.0 MiB\)"):
        world.load(_model("big", 10 << 20))
    assert world.runtime.loads == []


def test_a_load_that_does_not_fit_evicts_the_least_recently_used_idle_runner(open_world: Any) -> None:
    a, b, c = _model("a", 1 << 20), _model("b", 1 << 20), _model("c", 1 << 20)
    world = open_world(total=2 * _need(1 << 20) + 1000, sizes={m.model_path: _need(1 << 20) for m in (a, b, c)})
    world.load(a)
    world.load(b)
    world.load(a)  # a is now the most recently used
    world.load(c)  # only two fit: b goes
    assert [p for p, _ in world.runtime.loads] == ["/blobs/a", "/blobs/b", "/blobs/c"]
    _eventually(lambda: world.runtime.closed == ["/blobs/b"])
    assert sorted(r.name for r in world.running()) == ["a", "c"]


def test_max_loaded_models_evicts_even_with_memory_to_spare(open_world: Any) -> None:
    a, b = _model("a", 100), _model("b", 100)
    world = open_world(total=1 << 40, sizes={a.model_path: 100, b.model_path: 100}, max_loaded_models=1)
    world.load(a)
    world.load(b)
    _eventually(lambda: world.runtime.closed == ["/blobs/a"])
    assert [r.name for r in world.running()] == ["b"]


def test_a_larger_loaded_context_serves_a_smaller_one_without_reload(open_world: Any) -> None:
    a = _model("a", 100)
    world = open_world(total=1 << 40, sizes={a.model_path: 100})
    world.load(a, num_ctx=4096)
    world.load(a, num_ctx=2048)
    assert world.runtime.loads == [("/blobs/a", 4096)]
    world.load(a, num_ctx=8192)  # a larger one does reload
    assert world.runtime.loads == [("/blobs/a", 4096), ("/blobs/a", 8192)]


def test_parallel_slots_allocate_num_ctx_times_parallel_and_show_num_ctx(open_world: Any) -> None:
    a = _model("a", 100)
    world = open_world(total=1 << 40, sizes={a.model_path: 100}, num_parallel=3)
    world.load(a, num_ctx=1024)
    assert world.runtime.loads == [("/blobs/a", 3072)]  # Ollama's split: num_ctx × parallel
    assert [r.context_length for r in world.running()] == [1024]  # each request sees num_ctx


def test_statistics_show_each_runner_its_state_jobs_and_slots(open_world: Any) -> None:
    a, b = _model("a", 100), _model("b", 100)
    world = open_world(total=1 << 40, sizes={a.model_path: 100, b.model_path: 100}, num_parallel=2,
                       max_loaded_models=1)
    assert world.statistics() == SchedulerStatistics(models=(), queue_depth=0)
    world.load(a)
    _eventually(lambda: world.statistics().models[0].running == 0)  # its JobDone arrived
    assert world.statistics() == SchedulerStatistics(
        models=(ModelStatistics("a", a.digest, "ready", queued=0, running=0, slots=2),), queue_depth=0
    )
    world.load(b)  # a is evicted: only b is left
    _eventually(lambda: world.statistics().models[0].running == 0)
    statistics = world.statistics()
    assert statistics.models == (ModelStatistics("b", b.digest, "ready", queued=0, running=0, slots=2),)
    assert statistics.model("b") is statistics.models[0] and statistics.model("a") is None
