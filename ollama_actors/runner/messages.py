"""Messages of the runner context: jobs, scheduler commands, runner reports.

Commands are imperative, reports past tense, replies nouns (style guide §2).
A job carries its own reply-to (a token stream or a reply), as in OTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pykka

from ollama_actors.domain.chat import ChatMessage, ToolCall
from ollama_actors.domain.models import ModelDetails, ResolvedModel
from ollama_actors.kernel.reply import ReplyTo
from ollama_actors.runner.ports import LoadSpec, SamplingOptions

__all__ = [
    "Assign",
    "Completed",
    "EmbedJob",
    "Embedded",
    "GenerateJob",
    "JobDone",
    "ListRunning",
    "LoadJob",
    "Loaded",
    "ModelStatistics",
    "PromptSpec",
    "RunnerFailed",
    "RunnerInfo",
    "RunnerProcessExited",
    "RunnerReady",
    "RunnerStatus",
    "RunningModel",
    "SchedulerInfo",
    "SchedulerStatistics",
    "Submit",
    "TextChunk",
    "UnloadModel",
]


@dataclass(frozen=True)
class PromptSpec:
    """What to turn into the prompt text; the runner renders it (it owns the tokenizer)."""

    kind: str  # "generate" | "chat"
    prompt: str = ""
    system: str | None = None  # request override; None = the model's SYSTEM
    suffix: str = ""
    raw: bool = False
    template: str | None = None  # request override of the template
    context: tuple[int, ...] = ()  # generate's deprecated context continuation
    messages: tuple[ChatMessage, ...] = ()
    tools: tuple[dict[str, Any], ...] = ()
    think: bool | str | None = None
    truncate: bool = True


@dataclass(frozen=True)
class GenerateJob:
    request_id: str
    model: ResolvedModel
    prompt: PromptSpec
    sampling: SamplingOptions
    load: LoadSpec
    keep_alive_s: float | None
    stream: Any  # TokenStream[TextChunk] (bridge type; Any keeps the runner free of trio)
    started_ns: int  # time.monotonic_ns() when the handler started
    grammar: str | None = None
    want_context: bool = False


@dataclass(frozen=True)
class EmbedJob:
    request_id: str
    model: ResolvedModel
    inputs: tuple[str, ...]
    truncate: bool
    load: LoadSpec
    keep_alive_s: float | None
    reply: ReplyTo
    started_ns: int


@dataclass(frozen=True)
class LoadJob:
    """An empty prompt: make sure the model is loaded, then answer ``Loaded``."""

    request_id: str
    model: ResolvedModel
    load: LoadSpec
    keep_alive_s: float | None
    reply: ReplyTo
    started_ns: int


Job = GenerateJob | EmbedJob | LoadJob


@dataclass(frozen=True)
class TextChunk:
    """One piece of a generation as clients see it: ``text`` is content; reasoning
    split off at the thinking tags is ``thinking``; ``tool_calls`` are calls parsed
    from the output (with ids and indexes), whose text is not also in ``text``."""

    text: str
    thinking: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Completed:
    """The final value of a generation stream."""

    done_reason: str
    prompt_eval_count: int
    prompt_eval_duration_ns: int
    eval_count: int
    eval_duration_ns: int
    load_duration_ns: int
    context: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Embedded:
    vectors: tuple[tuple[float, ...], ...]
    prompt_eval_count: int
    load_duration_ns: int


@dataclass(frozen=True)
class Loaded:
    load_duration_ns: int


# ---- scheduler commands ----
@dataclass(frozen=True)
class Submit:
    job: Job


@dataclass(frozen=True)
class UnloadModel:
    """Unload a model now (keep_alive 0 with an empty prompt, ``stop``); reply None."""

    digest: str


@dataclass(frozen=True)
class ListRunning:
    """Reply: tuple[RunningModel, ...] sorted by expires_at, latest first."""


@dataclass(frozen=True)
class RunningModel:
    name: str
    digest: str
    size: int
    details: ModelDetails
    expires_at: datetime
    context_length: int
    size_vram: int = 0


@dataclass(frozen=True)
class SchedulerInfo:
    """Call to the Scheduler: reply its ``SchedulerStatistics`` (a snapshot)."""


@dataclass(frozen=True)
class ModelStatistics:
    """One model as the scheduler sees it.

    ``state``: ``waiting`` (requests queued, no runner: its load waits for room),
    ``starting`` (its runner is loading), ``ready``, or ``draining`` (ready, but
    a waiting load needs its room: no new work is admitted to it).
    """

    name: str
    digest: str
    state: str  # waiting | starting | ready | draining
    queued: int  # requests waiting in the scheduler's queue (clients gone excluded)
    running: int  # jobs assigned to its runner and not yet done (at most ``slots``)
    slots: int  # its runner's parallel slots; 0 while waiting


@dataclass(frozen=True)
class SchedulerStatistics:
    """Reply to ``SchedulerInfo``: every model with a runner or queued requests,
    sorted by name, and the total number of queued requests."""

    models: tuple[ModelStatistics, ...]
    queue_depth: int

    def model(self, name: str) -> ModelStatistics | None:
        """The entry whose name is ``name`` (``one`` also finds ``one:latest``)."""
        for entry in self.models:
            if name in (entry.name, entry.name.removesuffix(":latest")):
                return entry
        return None


# ---- scheduler → runner ----
@dataclass(frozen=True)
class Assign:
    job: Job


# ---- runner → scheduler ----
@dataclass(frozen=True)
class RunnerReady:
    key: str
    ref: pykka.ActorRef
    context_length: int


@dataclass(frozen=True)
class RunnerFailed:
    key: str
    error: BaseException


@dataclass(frozen=True)
class JobDone:
    key: str
    ref: pykka.ActorRef
    keep_alive_s: float | None = None


# ---- introspection and process exits ----
@dataclass(frozen=True)
class RunnerInfo:
    """Call to a Runner: reply its ``RunnerStatus``."""


@dataclass(frozen=True)
class RunnerStatus:
    key: str  # the model's digest
    state: str  # loading | ready | busy
    pid: int | None  # the runner process, None for an in-process runtime or while loading
    context_length: int


@dataclass(frozen=True)
class RunnerProcessExited:
    """Info to a Runner, from its process's watcher thread: the process ended
    without being asked to (``returncode`` < 0: killed by that signal)."""

    pid: int
    returncode: int
