"""What the runner context needs from an inference backend: the ``Runtime`` port.

The Runner actor drives a ``Generation`` one decode step at a time so that its
mailbox is never blocked for longer than one step. Implementations:
``LlamaCppRuntime`` (llama-cpp-python, the real one) and, in scheduler unit tests
only, ``FakeRuntime``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "CompletionRequest",
    "EmbedResult",
    "Generation",
    "GenerationStats",
    "LoadSpec",
    "LoadedModel",
    "ProcessHostedModel",
    "Runtime",
    "SamplingOptions",
    "Step",
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
class Step:
    """What one decode step produced. ``text`` may be empty (a partial UTF-8 sequence,
    or a token held back because it may start a stop sequence)."""

    text: str
    done: bool = False
    done_reason: str | None = None  # "stop" | "length" when done


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


class Generation(Protocol):
    def step(self) -> Step:
        """Run at most one decode step (the first call also evaluates the prompt)."""
        ...

    def cancel(self) -> None:
        """Abandon the generation and free what it holds; idempotent."""
        ...

    def stats(self) -> GenerationStats: ...


class LoadedModel(Protocol):
    @property
    def context_length(self) -> int:
        """The context actually allocated (n_ctx)."""
        ...

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def start(self, request: CompletionRequest) -> Generation:
        """Begin a generation; only one may be live at a time per loaded model."""
        ...

    def embed(self, inputs: Sequence[str], *, truncate: bool = True) -> EmbedResult: ...

    def close(self) -> None: ...


@runtime_checkable
class ProcessHostedModel(LoadedModel, Protocol):
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
    def load(self, spec: LoadSpec) -> LoadedModel:
        """Load a model; raises ``RunnerError`` with a clear message when it cannot."""
        ...


class SystemMemory(Protocol):
    """How much memory a new runner may take now (``MemAvailable`` on Linux)."""

    def available_bytes(self) -> int:
        ...
