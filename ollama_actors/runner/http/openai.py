"""OpenAI-compatible API (/v1/*), translated onto the runner context's jobs.

Each route translates, as Ollama's OpenAI middleware does: parse the OpenAI
body into what the native endpoint would receive (``openai_schemas``), make the
native endpoint's checks and schedule the same job (``jobs.RunnerJobs``), then
render the result or stream in OpenAI's shapes (``openai_stream``). Errors on
/v1 are OpenAI's ``{"error": {"message", "type", "param", "code"}}`` with the
native status. Any API key is accepted and ignored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import structlog
from quart import Blueprint, Response
from werkzeug.exceptions import HTTPException

from ollama_actors.bridge.reply import ask
from ollama_actors.domain.errors import (
    InvalidModelNameError,
    InvalidRequestError,
    ModelNotFoundError,
    OllamaError,
    ServerBusyError,
)
from ollama_actors.domain.names import parse_name
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.json_body import read_json
from ollama_actors.edge.metrics import DaemonMetrics, FirstToken
from ollama_actors.management.messages import ListModels, ModelSummary, ShowInfo, ShowModel
from ollama_actors.runner.domain.runner_options import l2_normalise
from ollama_actors.runner.http.jobs import RunnerJobs, check_chat, check_generate
from ollama_actors.runner.http.openai_schemas import (
    chat_completion,
    embedding_list,
    error_body,
    model_object,
    new_id,
    parse_chat_completion,
    parse_completion,
    parse_embeddings,
    text_completion,
    usage,
)
from ollama_actors.runner.http.openai_stream import (
    DONE,
    ChatEvents,
    CompletionEvents,
    collect,
    open_generation,
    sse_event,
    sse_response,
)
from ollama_actors.runner.messages import Completed, GenerateJob, LoadJob, PromptSpec, TextChunk

__all__ = ["openai_blueprint"]


def openai_blueprint(deps: EdgeDeps) -> Blueprint:
    bp = Blueprint("openai", __name__)
    jobs = RunnerJobs(deps)
    timeout = deps.settings.request_timeout_s
    _install_error_handlers(bp)

    async def generate(job: GenerateJob, *, streaming: bool, events: ChatEvents | CompletionEvents) -> Response:
        jobs.submit(job)
        first_token = FirstToken(deps.metrics, events.model, job.started_ns)
        first = await open_generation(job.stream)
        if streaming:
            return sse_response(job.stream, first, _Metered(events, first_token, deps.metrics))
        result = await collect(job.stream, first)
        done = result.done
        first_token.answered()
        if deps.metrics is not None:
            deps.metrics.generation_done(events.model, done)
        common = {"id_": events.id, "created": events.created, "model": events.model}
        if isinstance(events, ChatEvents):
            body = chat_completion(**common, content=result.content, thinking=result.thinking,
                                   tool_calls=result.tool_calls, done_reason=done.done_reason,
                                   prompt_tokens=done.prompt_eval_count, completion_tokens=done.eval_count)
        else:
            body = text_completion(**common, text=result.content, finish=done.done_reason or None,
                                   usage_=usage(done.prompt_eval_count, done.eval_count))
        return _json(body)

    @bp.post("/v1/chat/completions")
    async def chat_completions() -> Response:
        started = time.monotonic_ns()
        p = parse_chat_completion(await read_json())
        if not p.model:
            raise InvalidRequestError("model is required")
        model = await jobs.resolve(p.model, f"model '{p.model}' not found")
        check_chat(model, p.model, tools=p.tools, think=p.think, messages=p.messages)
        prompt = PromptSpec(kind="chat", messages=p.messages, tools=p.tools, think=p.think)
        job = jobs.generation_job(model, prompt, options=p.options, keep_alive_s=None, fmt=p.format,
                                  started_ns=started)
        events = ChatEvents(id_=new_id("chatcmpl"), created=int(time.time()), model=p.model,
                            include_usage=p.include_usage)
        return await generate(job, streaming=p.stream, events=events)

    @bp.post("/v1/completions")
    async def completions() -> Response:
        started = time.monotonic_ns()
        p = parse_completion(await read_json())
        if not p.model:
            raise ModelNotFoundError("model '' not found")
        model = await jobs.resolve(p.model, f"model '{p.model}' not found")
        check_generate(model, p.model, suffix=p.suffix, think=None)
        events = CompletionEvents(id_=new_id("cmpl"), created=int(time.time()), model=p.model,
                                  include_usage=p.include_usage)
        if not p.prompt and not p.suffix:  # as /api/generate: just load the model
            spec = jobs.load_spec(model, p.options)
            rid = jobs.request_id()
            await jobs.submit_and_wait(lambda reply: LoadJob(rid, model, spec, None, reply, started))
            return _loaded(events, streaming=p.stream)
        prompt = PromptSpec(kind="generate", prompt=p.prompt, suffix=p.suffix)
        job = jobs.generation_job(model, prompt, options=p.options, keep_alive_s=None, fmt=None,
                                  started_ns=started)
        return await generate(job, streaming=p.stream, events=events)

    @bp.post("/v1/embeddings")
    async def embeddings() -> Response:
        started = time.monotonic_ns()
        p = parse_embeddings(await read_json())
        if not p.model:
            raise ModelNotFoundError("model '' not found")
        model = await jobs.resolve(p.model, f'model "{p.model}" not found, try pulling it first')
        result = await jobs.embed(model, p.inputs, truncate=True, options=None, keep_alive_s=None,
                                  started_ns=started)
        vectors = [l2_normalise(v, p.dimensions) for v in result.vectors]
        return _json(embedding_list(p.model, vectors, as_base64=p.base64, prompt_tokens=result.prompt_eval_count))

    @bp.get("/v1/models")
    async def list_models() -> Response:
        listed: tuple[ModelSummary, ...] = await ask(deps.actor("model_manager"), ListModels(), timeout=timeout)
        data = [model_object(m.name, int(m.modified_at.timestamp()), m.namespace) for m in listed]
        return _json({"object": "list", "data": data or None})

    @bp.get("/v1/models/<path:name>")
    async def retrieve_model(name: str) -> Response:
        info: ShowInfo = await ask(deps.actor("model_manager"), ShowModel(name), timeout=timeout)
        return _json(model_object(name, int(info.modified_at.timestamp()), _namespace(name)))

    return bp


class _Metered:
    """An ``EventRenderer`` that also feeds the metrics: time to first token at the
    first chunk with content, tokens when the stream's final events are rendered."""

    def __init__(self, events: ChatEvents | CompletionEvents, first_token: FirstToken,
                 metrics: DaemonMetrics | None) -> None:
        self._events, self._first_token, self._metrics = events, first_token, metrics

    def chunk(self, chunk: TextChunk) -> Sequence[dict[str, Any]]:
        self._first_token.chunk(chunk)
        return self._events.chunk(chunk)

    def final(self, done: Completed) -> Sequence[dict[str, Any]]:
        self._first_token.answered()
        if self._metrics is not None:
            self._metrics.generation_done(self._events.model, done)
        return self._events.final(done)


def _namespace(name: str) -> str:
    try:
        return parse_name(name).namespace
    except InvalidModelNameError:
        return ""


def _json(body: dict[str, Any], status: int = 200) -> Response:
    body_text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n"  # as Go's json.Encoder
    return Response(body_text, status=status, content_type="application/json")


def _loaded(events: CompletionEvents, *, streaming: bool) -> Response:
    """The answer to an empty prompt: Ollama's ``done_reason: load`` in OpenAI's shape."""
    if not streaming:
        return _json(text_completion(id_=events.id, created=events.created, model=events.model, text="",
                                     finish="load", usage_=usage(0, 0)))
    body = b"".join(sse_event(event) for event in events.loaded())
    return Response(body + DONE, content_type="text/event-stream")


def _error_response(error: OllamaError) -> Response:
    response = _json(error_body(error.status, error.message), status=error.status)
    if isinstance(error, ServerBusyError):
        response.headers["Retry-After"] = "1"
    return response


def _install_error_handlers(bp: Blueprint) -> None:
    """Errors raised by /v1 routes answer in OpenAI's shape (the app's handlers answer Ollama's)."""

    @bp.errorhandler(OllamaError)
    async def _ollama(error: OllamaError) -> Response:
        return _error_response(error)

    @bp.errorhandler(HTTPException)
    async def _http(error: HTTPException) -> Response:
        return _error_response(OllamaError(error.description or error.name, status=error.code or 500))

    @bp.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        structlog.get_logger().exception("unhandled_error", error=repr(error))
        return _error_response(OllamaError(f"internal error: {type(error).__name__}"))
