"""What every runner-context route does with a request, whichever API it speaks.

Resolve the model (ModelManager), make the checks Ollama makes before
scheduling, build a job from merged options and hand it to the Scheduler, wait
for a reply-style job with a deadline. The native (/api) and OpenAI (/v1)
routes share these so that both APIs schedule exactly the same work for the
same request; no route keeps its own copy of these rules.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import trio
from quart import g

from ollama_actors.bridge.reply import TrioReply, ask
from ollama_actors.bridge.stream import TokenStream
from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.errors import (
    ActorTimeoutError,
    InvalidRequestError,
    ModelNotFoundError,
    RunnerError,
    UnsupportedCapabilityError,
)
from ollama_actors.domain.models import ResolvedModel
from ollama_actors.domain.options import merge_options
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.kernel.messages import cast
from ollama_actors.management.messages import ResolveModel
from ollama_actors.runner.domain.grammar import format_grammar
from ollama_actors.runner.domain.runner_options import load_spec, sampling_options
from ollama_actors.runner.messages import (
    EmbedJob,
    Embedded,
    GenerateJob,
    LoadJob,
    PromptSpec,
    Submit,
)
from ollama_actors.runner.ports import LoadSpec

__all__ = ["RunnerJobs", "check_chat", "check_generate", "check_images", "check_think", "grammar_for"]


class RunnerJobs:
    """The runner context's request primitives, bound to one app's deps (trio thread only)."""

    def __init__(self, deps: EdgeDeps) -> None:
        self.deps = deps
        self.settings = deps.settings
        self.long_wait = self.settings.load_timeout_s + self.settings.request_timeout_s

    async def resolve(self, name: str, not_found: str) -> ResolvedModel:
        """The stored model ``name``; ``not_found`` is the endpoint's own 404 wording."""
        try:
            return await ask(
                self.deps.actor("model_manager"), ResolveModel(name), timeout=self.settings.request_timeout_s
            )
        except ModelNotFoundError:
            raise ModelNotFoundError(not_found) from None

    def request_id(self) -> str:
        return getattr(g, "request_id", None) or uuid.uuid4().hex[:16]

    def merged(self, model: ResolvedModel, options: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """Defaults → server num_ctx → the model's PARAMETERs → the request's options."""
        return merge_options(model.params, options, default_num_ctx=self.settings.context_length).values

    def load_spec(self, model: ResolvedModel, options: Mapping[str, Any] | None, *, embedding: bool = False) -> LoadSpec:
        return load_spec(model, self.merged(model, options), num_thread=self.settings.num_thread, embedding=embedding)

    def generation_job(
        self,
        model: ResolvedModel,
        prompt: PromptSpec,
        *,
        options: Mapping[str, Any] | None,
        keep_alive_s: float | None,
        fmt: object,
        want_context: bool = False,
        started_ns: int | None = None,
    ) -> GenerateJob:
        values = self.merged(model, options)
        return GenerateJob(
            request_id=self.request_id(),
            model=model,
            prompt=prompt,
            sampling=sampling_options(values),
            load=load_spec(model, values, num_thread=self.settings.num_thread),
            keep_alive_s=keep_alive_s,
            stream=TokenStream(),
            started_ns=started_ns if started_ns is not None else time.monotonic_ns(),
            grammar=grammar_for(fmt),
            want_context=want_context,
        )

    def submit(self, job: GenerateJob) -> None:
        """Hand a streaming job to the Scheduler; its chunks arrive on ``job.stream``."""
        cast(self.deps.actor("scheduler"), Submit(job))

    async def submit_and_wait(self, job_factory: Callable[[TrioReply], EmbedJob | LoadJob]) -> Any:
        """Submit a reply-style job and wait for it (load + request deadline).

        Returns the job's reply value (``Loaded`` or ``Embedded``), hence ``Any``.
        """
        reply = TrioReply()
        cast(self.deps.actor("scheduler"), Submit(job_factory(reply)))
        try:
            with trio.move_on_after(self.long_wait):
                return await reply.wait()
            raise ActorTimeoutError(f"timed out waiting for the model after {self.long_wait:g}s")
        finally:
            reply.abandon()

    async def embed(
        self,
        model: ResolvedModel,
        inputs: tuple[str, ...],
        *,
        truncate: bool,
        options: Mapping[str, Any] | None,
        keep_alive_s: float | None,
        started_ns: int,
    ) -> Embedded:
        """The raw (not normalised) vectors of ``inputs``, in input order."""
        spec = self.load_spec(model, options, embedding=True)
        rid = self.request_id()
        return await self.submit_and_wait(
            lambda reply: EmbedJob(rid, model, inputs, truncate, spec, keep_alive_s, reply, started_ns)
        )


def check_chat(
    model: ResolvedModel,
    as_given: str,
    *,
    tools: Sequence[object],
    think: bool | str | None,
    messages: tuple[ChatMessage, ...],
) -> None:
    """What Ollama checks before scheduling a chat (native and OpenAI): completion,
    tools, thinking and images capabilities, with Ollama's wording."""
    if "completion" not in model.capabilities:
        raise UnsupportedCapabilityError(f'"{as_given}" does not support chat')
    if tools and "tools" not in model.capabilities:
        raise UnsupportedCapabilityError(f"{model.full_name} does not support tools")
    check_think(model, as_given, think)
    check_images(model, messages)


def check_generate(model: ResolvedModel, as_given: str, *, suffix: str, think: bool | str | None) -> None:
    """What Ollama checks before scheduling a completion: completion, insert, thinking."""
    if "completion" not in model.capabilities:
        raise UnsupportedCapabilityError(f'"{as_given}" does not support generate')
    if suffix and "insert" not in model.capabilities:
        raise UnsupportedCapabilityError(f"{model.full_name} does not support insert")
    check_think(model, as_given, think)


def check_think(model: ResolvedModel, as_given: str, think: bool | str | None) -> None:
    """Thinking asked of a model without the capability: Ollama's 400."""
    if think not in (None, False) and "thinking" not in model.capabilities:
        raise InvalidRequestError(f'"{as_given}" does not support thinking')


def check_images(model: ResolvedModel, messages: tuple[ChatMessage, ...]) -> None:
    """Images sent to a model without a vision projector: Ollama's (500) error."""
    if "vision" not in model.capabilities and any(m.images for m in messages):
        raise RunnerError("this model is missing data required for image input")


def grammar_for(fmt: object) -> str | None:
    """``format`` → GBNF; ``None`` for free text."""
    return None if fmt is None else format_grammar(fmt)
