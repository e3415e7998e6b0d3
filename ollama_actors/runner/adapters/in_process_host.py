"""The ``Runtime`` port with the engine on a thread of this process.

For tests and tools that want an ``Engine`` without a runner process (the
daemon's default is ``RunnerProcessRuntime``): the same contract as the process
host — commands return at once, each decode step's events reach the listener in
one call — so the Runner cannot tell them apart. A native fault here takes the
whole process down; that is what runner processes are for.

One thread owns the engine: commands and calls travel to it through a queue and
are handled between decode steps, as the runner process handles its channel.
An unexpected exception in the engine is reported once to the fault listener and
ends the thread; the host is unusable afterwards.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from ollama_actors.domain.errors import OllamaError, RunnerError
from ollama_actors.runner.ports import (
    CompletionRequest,
    EmbedResult,
    Engine,
    EngineRuntime,
    EventsListener,
    FaultListener,
    LoadSpec,
    SeqEvent,
)

__all__ = ["InProcessHost", "InProcessRuntime"]

_STOPPED = "the in-process engine has stopped"


class InProcessRuntime:
    """Loads with ``engine_runtime`` (in the caller's thread) and drives the engine
    on a thread of its own."""

    def __init__(self, engine_runtime: EngineRuntime) -> None:
        self._engine_runtime = engine_runtime

    def load(self, spec: LoadSpec) -> InProcessHost:
        return InProcessHost(self._engine_runtime.load(spec))


@dataclass
class _CallBox:
    work: Callable[[Engine], Any]  # Any: the call's result
    arrived: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class InProcessHost:
    """An ``Engine`` behind a thread: the ``ModelHost`` port."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._context_length = engine.context_length
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._on_events: EventsListener | None = None
        self._on_fault: FaultListener | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="in-process-engine", daemon=True)
        self._thread.start()

    @property
    def context_length(self) -> int:
        return self._context_length

    def listen(self, on_events: EventsListener, on_fault: FaultListener) -> None:
        self._on_events, self._on_fault = on_events, on_fault

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        tokens: list[int] = self._call(lambda e: e.tokenize(text, add_bos=add_bos, special=special))
        return tokens

    def detokenize(self, tokens: Sequence[int]) -> str:
        text: str = self._call(lambda e: e.detokenize(tokens))
        return text

    def embed(self, inputs: Sequence[str], *, truncate: bool = True) -> EmbedResult:
        result: EmbedResult = self._call(lambda e: e.embed(inputs, truncate=truncate))
        return result

    def submit(self, seq: int, request: CompletionRequest, request_id: str = "") -> None:
        self._inbox.put(("submit", seq, request))

    def cancel(self, seq: int) -> None:
        self._inbox.put(("cancel", seq, None))

    def pause(self, seq: int) -> None:
        self._inbox.put(("pause", seq, None))

    def resume(self, seq: int) -> None:
        self._inbox.put(("resume", seq, None))

    def close(self) -> None:
        """Stop the thread, then free the engine; idempotent."""
        self._on_events = self._on_fault = None
        self._inbox.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join(30.0)
        if not self._thread.is_alive():
            self._engine.close()

    # ---- the engine's thread ----
    def _call(self, work: Callable[[Engine], Any]) -> Any:  # Any: the call's result
        if self._stopped.is_set():
            raise RunnerError(_STOPPED)
        box = _CallBox(work)
        self._inbox.put(box)
        while not box.arrived.wait(0.5):
            if self._stopped.is_set():
                raise RunnerError(_STOPPED)
        if box.error is not None:
            raise box.error
        return box.value

    def _loop(self) -> None:
        try:
            while True:
                refused: list[SeqEvent] = []
                if not self._drain(block=not self._engine.busy, refused=refused):
                    return
                events = refused + (self._engine.step() if self._engine.busy else [])
                listener = self._on_events
                if events and listener is not None:
                    listener(events)
        except Exception as error:  # a bug or a llama.cpp failure: the engine is suspect
            structlog.get_logger().error("engine_fault", traceback=traceback.format_exc())
            on_fault = self._on_fault
            if on_fault is not None:
                on_fault(f"{type(error).__name__}: {error}")
        finally:
            self._stopped.set()

    def _drain(self, *, block: bool, refused: list[SeqEvent]) -> bool:
        """Handle queued commands (waiting for one when ``block``); False on close."""
        while True:
            try:
                item = self._inbox.get(block=block)
            except queue.Empty:
                return True
            block = False
            if item is None:
                return False
            if isinstance(item, _CallBox):
                self._answer(item)
                continue
            kind, seq, request = item  # type: ignore[misc]
            if kind == "submit":
                try:
                    self._engine.submit(seq, request)
                except OllamaError as error:
                    refused.append(SeqEvent(seq, done=True, error=error))
            else:
                getattr(self._engine, kind)(seq)

    def _answer(self, box: _CallBox) -> None:
        try:
            box.value = box.work(self._engine)
        except Exception as error:  # the caller raises it: an OllamaError fails a request, others crash
            box.error = error
        finally:
            box.arrived.set()
