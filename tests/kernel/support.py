"""Test actors that crash on purpose, and a recorder to observe them without sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from ollama_actors.kernel import (
    BlockingReply,
    ChildInfo,
    ChildKind,
    ChildSpec,
    ExitReason,
    GenServer,
    Link,
    ReplyTo,
    Restart,
    WhichChildren,
    call,
    handle_call,
    handle_cast,
    handle_info,
)

WAIT_S = 5.0


class Recorder:
    """A thread-safe event list that tests wait on with a bounded deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: list[Any] = []

    def record(self, event: Any) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    @property
    def events(self) -> list[Any]:
        with self._cond:
            return list(self._events)

    def wait_for(
        self, predicate: Callable[[list[Any]], bool], timeout: float = WAIT_S
    ) -> list[Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._events), timeout):
                raise AssertionError(f"condition not met within {timeout}s; events={self._events}")
            return list(self._events)

    def wait_count(self, event: Any, count: int, timeout: float = WAIT_S) -> list[Any]:
        return self.wait_for(lambda events: events.count(event) >= count, timeout)


@dataclass(frozen=True)
class Crash:
    """Cast: raise from the handler."""


@dataclass(frozen=True)
class Exit:
    """Cast: raise a BaseException that pykka would turn into a stop of every actor."""

    error: type[BaseException]


@dataclass(frozen=True)
class StopNormally:
    """Cast: stop_normal()."""


@dataclass(frozen=True)
class Echo:
    """Call: reply ``value``."""

    value: object


@dataclass(frozen=True)
class Hold:
    """Call: keep the reply unanswered (the kernel holds it)."""


@dataclass(frozen=True)
class HoldExtra:
    """Cast: hold ``obj`` explicitly with ``self.hold``."""

    obj: Any


@dataclass(frozen=True)
class Block:
    """Call: block the actor until ``release`` is set (tests only: queue mail behind it)."""

    release: threading.Event
    entered: threading.Event


@dataclass(frozen=True)
class Ping:
    """Info: record ("ping", tag, value)."""

    value: object = None


@dataclass
class Behaviour:
    """How a ``Worker`` misbehaves; shared and mutable so a test can change later starts."""

    fail_init: bool = False
    fail_init_after: int | None = None  # starts that succeed before init starts failing
    fail_on: frozenset[int] = frozenset()  # 1-based start numbers whose init fails
    block_init: threading.Event | None = None
    block_terminate: threading.Event | None = None
    fail_terminate: bool = False
    starts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Worker(GenServer):
    """Records ("start", tag) in init and ("stop", tag, kind) in terminate."""

    def __init__(self, recorder: Recorder, tag: str, behaviour: Behaviour | None = None) -> None:
        super().__init__()
        self.recorder = recorder
        self.tag = tag
        self.behaviour = behaviour or Behaviour()

    def init(self) -> None:
        b = self.behaviour
        with b.lock:
            b.starts += 1
            starts = b.starts
        if b.block_init is not None:
            b.block_init.wait(WAIT_S)
        late = b.fail_init_after is not None and starts > b.fail_init_after
        if b.fail_init or late or starts in b.fail_on:
            self.recorder.record(("init_failed", self.tag))
            raise RuntimeError(f"{self.tag} cannot start")
        self.recorder.record(("start", self.tag))

    def terminate(self, reason: ExitReason) -> None:
        self.recorder.record(("stop", self.tag, reason.kind.value))
        b = self.behaviour
        if b.block_terminate is not None:
            b.block_terminate.wait(WAIT_S)
        if b.fail_terminate:
            raise RuntimeError(f"{self.tag} terminate failed")

    @handle_cast(Crash)
    def _crash(self, msg: Crash) -> None:
        raise RuntimeError(f"{self.tag} crashed on purpose")

    @handle_cast(Exit)
    def _exit_process(self, msg: Exit) -> None:
        raise msg.error("on purpose")

    @handle_cast(StopNormally)
    def _stop_normally(self, msg: StopNormally) -> None:
        self.stop_normal()

    @handle_call(Echo)
    def _echo(self, msg: Echo, reply: ReplyTo) -> None:
        reply.set(msg.value)

    @handle_call(Hold)
    def _hold(self, msg: Hold, reply: ReplyTo) -> None:
        pass

    @handle_cast(HoldExtra)
    def _hold_extra(self, msg: HoldExtra) -> None:
        self.hold(msg.obj)

    @handle_call(Block)
    def _block(self, msg: Block, reply: ReplyTo) -> None:
        msg.entered.set()
        msg.release.wait(WAIT_S)
        reply.set(None)

    @handle_info(Ping)
    def _ping(self, msg: Ping) -> None:
        self.recorder.record(("ping", self.tag, msg.value))


def worker_spec(
    recorder: Recorder,
    tag: str,
    *,
    restart: Restart = Restart.PERMANENT,
    behaviour: Behaviour | None = None,
    shutdown: float | None = 5.0,
) -> ChildSpec:
    def start(link: Link) -> pykka.ActorRef[Any]:
        return Worker.start_link(link, recorder, tag, behaviour)

    return ChildSpec(tag, start, restart=restart, shutdown=shutdown, kind=ChildKind.WORKER)


def ask(ref: pykka.ActorRef[Any], message: object, timeout: float = WAIT_S) -> Any:
    """Blocking call for tests: tell + BlockingReply with a deadline."""
    reply: BlockingReply[Any] = BlockingReply()
    call(ref, message, reply)
    return reply.wait(timeout)


def children(sup: pykka.ActorRef[Any]) -> dict[str, ChildInfo]:
    infos: tuple[ChildInfo, ...] = ask(sup, WhichChildren())
    return {info.id: info for info in infos}


def child_ref(sup: pykka.ActorRef[Any], child_id: str) -> pykka.ActorRef[Any]:
    ref = children(sup)[child_id].ref
    assert ref is not None, f"{child_id} is not running"
    return ref


def starts(events: list[Any]) -> list[str]:
    return [e[1] for e in events if e[0] == "start"]


def stops(events: list[Any]) -> list[str]:
    return [e[1] for e in events if e[0] == "stop"]
