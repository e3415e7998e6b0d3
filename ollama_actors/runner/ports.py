"""What the runner context needs from an inference backend.

Two levels. An ``Engine`` (``EngineRuntime.load``) is a model in this process that
decodes all its sequences together, one ``step`` at a time, driven by one
thread: ``LlamaCppEngine`` is the real one. A ``ModelHost`` (``Runtime.load``) is
what the Runner actor holds: an engine driven elsewhere, which takes commands
without blocking and hands each step's events back from its own thread:
``RunnerProcessRuntime`` (the engine in a runner process, the daemon's default)
and ``InProcessRuntime`` (a thread; for tests and tools). Scheduler unit tests
use a ``FakeRuntime``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ollama_actors.domain.errors import OllamaError

__all__ = [
    "CompletionRequest",
    "EmbedResult",
    "Engine",
    "EngineRuntime",
    "EventPump",
    "EventsListener",
    "FaultListener",
    "GenerationStats",
    "LoadSpec",
    "ModelHost",
    "ProcessHostedModel",
    "Runtime",
    "SamplingOptions",
    "SeqEvent",
    "SystemMemory",
]


@dataclass(frozen=True)
class LoadSpec:
    """How to load one model: the runner options that force a reload when changed."""

    model_path: str
    num_ctx: int = 4096
    num_batch: int = 512
    num_thread: int | None = None  # None: the runtime decides
    num_gpu: int = -1  # layers to offload; -1 = as many as fit, 0 = CPU only
    main_gpu: int | None = None  # primary GPU index; None: llama.cpp's default (0)
    use_mmap: bool = True
    embedding: bool = False
    adapters: tuple[str, ...] = ()
    num_parallel: int = 1  # sequences decoded together; num_ctx is shared by them


@dataclass(frozen=True)
class SamplingOptions:
    """Per-request sampling, with Ollama's defaults."""

    num_predict: int = -1
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int = -1
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    sampling: SamplingOptions = SamplingOptions()
    grammar: str | None = None  # GBNF text constraining the output, or None
    add_bos: bool = True  # let the tokenizer add BOS when the model wants it


@dataclass(frozen=True)
class SeqEvent:
    """What one decode step produced for one sequence. ``text`` may be empty on the
    last event. A done event carries the sequence's ``stats``, or the ``error`` the
    engine refused it with."""

    seq: int
    text: str = ""
    done: bool = False
    done_reason: str | None = None  # "stop" | "length" when done
    stats: GenerationStats | None = None
    error: OllamaError | None = None


@dataclass(frozen=True)
class GenerationStats:
    prompt_eval_count: int
    prompt_eval_duration_ns: int
    eval_count: int
    eval_duration_ns: int


@dataclass(frozen=True)
class EmbedResult:
    vectors: tuple[tuple[float, ...], ...]  # as the model produced them (not normalised)
    prompt_eval_count: int


class Engine(Protocol):
    """A loaded model that decodes many sequences together, driven by one thread.

    ``submit`` puts a sequence in; every ``step`` runs one decode over all active,
    unpaused sequences (a new one joins at the next step) and returns what each
    produced. Nothing here is thread-safe: the runner process's loop (or an
    in-process host's thread) is the only caller.
    """

    @property
    def context_length(self) -> int:
        """The context allocated for all sequences together (n_ctx)."""
        ...

    @property
    def busy(self) -> bool:
        """True while some sequence can advance (``step`` has work)."""
        ...

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def submit(self, seq: int, request: CompletionRequest) -> None:
        """Admit sequence ``seq``; raises ``OllamaError`` for a request it cannot serve
        (prompt over the context, bad grammar, no free slot)."""
        ...

    def cancel(self, seq: int) -> None:
        """Drop ``seq`` and free its KV cells now; unknown ids are ignored."""
        ...

    def pause(self, seq: int) -> None:
        """Leave ``seq`` out of the next steps (its client is slow); unknown ids ignored."""
        ...

    def resume(self, seq: int) -> None: ...

    def step(self) -> list[SeqEvent]:
        """One decode step over every active sequence; raises ``RunnerError`` when
        llama.cpp fails (the whole model is then suspect)."""
        ...

    def embed(self, inputs: Sequence[str], *, truncate: bool = True) -> EmbedResult: ...

    def close(self) -> None: ...


class EngineRuntime(Protocol):
    def load(self, spec: LoadSpec) -> Engine:
        """Load a model in this process; raises ``RunnerError`` when it cannot."""
        ...


EventsListener = Callable[[Sequence[SeqEvent]], None]
FaultListener = Callable[[str], None]


class ModelHost(Protocol):
    """What the Runner actor holds: an ``Engine`` driven elsewhere (a runner process,
    or a thread of its own), spoken to without blocking on decoding.

    ``submit``/``cancel``/``pause``/``resume`` return at once; each decode step's
    events arrive, in one call per step, on the listener from the host's thread.
    A request the engine refuses comes back as a done event with ``error``.
    """

    @property
    def context_length(self) -> int: ...

    def listen(self, on_events: EventsListener, on_fault: FaultListener) -> None:
        """Set where events go, and whom to tell when the engine failed unexpectedly
        (a bug or a llama.cpp error: the host is then unusable)."""
        ...

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def submit(self, seq: int, request: CompletionRequest, request_id: str = "") -> None:
        """Start decoding ``request`` as sequence ``seq`` (``request_id`` goes into the
        host's logs about it)."""
        ...

    def cancel(self, seq: int) -> None: ...

    def pause(self, seq: int) -> None: ...

    def resume(self, seq: int) -> None: ...

    def embed(self, inputs: Sequence[str], *, truncate: bool = True) -> EmbedResult: ...

    def close(self) -> None: ...


@runtime_checkable
class ProcessHostedModel(ModelHost, Protocol):
    """A model that lives in its own OS process (``RunnerProcessRuntime``): the
    Runner shows its pid and turns the process's exit into a message to itself."""

    @property
    def pid(self) -> int: ...

    def monitor(self, on_exit: Callable[[int, int], None]) -> None:
        """Call ``on_exit(pid, returncode)`` once, from another thread, when the
        process ends without ``close`` having been called (at once if it has already
        ended). A negative returncode is the signal that ended it."""
        ...


class Runtime(Protocol):
    def load(self, spec: LoadSpec) -> ModelHost:
        """Load a model; raises ``RunnerError`` with a clear message when it cannot."""
        ...


class EventPump(Protocol):
    """Reads a runner process's event socket somewhere else than a thread of its own
    (the daemon's trio loop: one wake-up per decode step instead of two)."""

    def watch(
        self,
        sock: socket.socket,
        decode: Callable[[bytes], Sequence[Any]],  # Any: the frames are the caller's
        on_frames: Callable[[Sequence[Any]], None],
        on_end: Callable[[], None],
    ) -> None:
        """Read ``sock`` until EOF (taking it over: closed at the end), ``decode`` the
        bytes, hand complete frames to ``on_frames``; ``on_end`` once at the end."""
        ...


class SystemMemory(Protocol):
    """How much memory a new runner may take now (``MemAvailable`` on Linux)."""

    def available_bytes(self) -> int:
        ...
