"""Routes of the runner context on Ollama's native API: generate, chat, embed, ps.

Each route translates: parse the body, resolve the model (ModelManager), check
what Ollama checks before scheduling, hand a job to the Scheduler, render the
stream or reply. No scheduling or prompt rule lives here.
"""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, Response, jsonify

from ollama_actors.bridge.reply import ask
from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.errors import InvalidRequestError, ModelNotFoundError
from ollama_actors.domain.models import ResolvedModel
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.json_body import read_json
from ollama_actors.edge.metrics import FirstToken
from ollama_actors.runner.domain.runner_options import l2_normalise
from ollama_actors.runner.http.jobs import RunnerJobs, check_chat, check_generate, check_images
from ollama_actors.runner.http.schemas import (
    created_at,
    final_metrics,
    message_json,
    parse_chat,
    parse_embed,
    parse_generate,
    running_model_json,
    tool_call_json,
)
from ollama_actors.runner.http.streaming import respond
from ollama_actors.runner.messages import Completed, ListRunning, LoadJob, PromptSpec, TextChunk, UnloadModel

__all__ = ["runner_blueprint"]


def runner_blueprint(deps: EdgeDeps) -> Blueprint:
    bp = Blueprint("runner", __name__)
    settings = deps.settings
    jobs = RunnerJobs(deps)

    async def load_or_unload(model: ResolvedModel, keep_alive_s: float | None, started: int) -> str:
        if keep_alive_s == 0:
            await ask(deps.actor("scheduler"), UnloadModel(model.digest), timeout=settings.request_timeout_s)
            return "unload"
        spec = jobs.load_spec(model, None)
        rid = jobs.request_id()
        await jobs.submit_and_wait(lambda reply: LoadJob(rid, model, spec, keep_alive_s, reply, started))
        return "load"

    @bp.post("/api/generate")
    async def generate() -> Response:
        started = time.monotonic_ns()
        p = parse_generate(await read_json())
        if not p.model:
            raise ModelNotFoundError(f"model '{p.model}' not found")
        model = await jobs.resolve(p.model, f"model '{p.model}' not found")
        if p.raw and (p.template or p.system is not None or p.context):
            raise InvalidRequestError("raw mode does not support template, system, or context")
        check_generate(model, p.model, suffix=p.suffix, think=p.think)
        base = {"model": p.model}
        if not p.prompt and not p.suffix:
            reason = await load_or_unload(model, p.keep_alive_s, started)
            return jsonify({**base, "created_at": created_at(), "response": "", "done": True, "done_reason": reason})
        check_images(model, (ChatMessage(role="user", images=p.images),))
        prompt = PromptSpec(
            kind="generate", prompt=p.prompt, system=p.system, suffix=p.suffix, raw=p.raw,
            template=p.template, context=p.context, think=p.think,
        )
        job = jobs.generation_job(
            model, prompt, options=p.options, keep_alive_s=p.keep_alive_s, fmt=p.format,
            want_context=not p.raw, started_ns=started,
        )
        jobs.submit(job)
        first_token = FirstToken(deps.metrics, p.model, started)

        def chunk(piece: TextChunk) -> dict[str, Any]:
            first_token.chunk(piece)
            return {**base, "created_at": created_at(), **_generated(piece), "done": False}

        def final(done: Completed, whole: TextChunk) -> dict[str, Any]:
            first_token.answered()
            out = {**base, "created_at": created_at(), **_generated(whole), "done": True,
                   "done_reason": done.done_reason}
            if done.context is not None:
                out["context"] = list(done.context)
            if deps.metrics is not None:
                deps.metrics.generation_done(p.model, done)
            return {**out, **final_metrics(done, time.monotonic_ns() - started)}

        return await respond(job.stream, streaming=p.stream, chunk_json=chunk, final_json=final)

    @bp.post("/api/chat")
    async def chat() -> Response:
        started = time.monotonic_ns()
        p = parse_chat(await read_json())
        if not p.model:
            raise InvalidRequestError("model is required")
        model = await jobs.resolve(p.model, f"model '{p.model}' not found")
        check_chat(model, p.model, tools=p.tools, think=p.think, messages=p.messages)
        base = {"model": p.model}
        if not p.messages:
            reason = await load_or_unload(model, p.keep_alive_s, started)
            return jsonify({**base, "created_at": created_at(),
                            "message": {"role": "assistant", "content": ""},
                            "done": True, "done_reason": reason})
        prompt = PromptSpec(kind="chat", messages=p.messages, tools=p.tools, think=p.think, truncate=p.truncate)
        job = jobs.generation_job(
            model, prompt, options=p.options, keep_alive_s=p.keep_alive_s, fmt=p.format, started_ns=started
        )
        jobs.submit(job)
        first_token = FirstToken(deps.metrics, p.model, started)

        def chunk(piece: TextChunk) -> dict[str, Any]:
            first_token.chunk(piece)
            return {**base, "created_at": created_at(), "message": message_json(piece), "done": False}

        def final(done: Completed, whole: TextChunk) -> dict[str, Any]:
            first_token.answered()
            if deps.metrics is not None:
                deps.metrics.generation_done(p.model, done)
            return {**base, "created_at": created_at(), "message": message_json(whole),
                    "done": True, "done_reason": done.done_reason,
                    **final_metrics(done, time.monotonic_ns() - started)}

        return await respond(job.stream, streaming=p.stream, chunk_json=chunk, final_json=final)

    async def embed_common(legacy: bool) -> dict[str, Any]:
        started = time.monotonic_ns()
        p = parse_embed(await read_json(), legacy=legacy)
        if not p.model:
            if legacy:
                raise InvalidRequestError("model is required")
            raise ModelNotFoundError("model '' not found")
        model = await jobs.resolve(p.model, f'model "{p.model}" not found, try pulling it first')
        if not p.inputs:
            spec, rid = jobs.load_spec(model, p.options, embedding=True), jobs.request_id()
            await jobs.submit_and_wait(lambda reply: LoadJob(rid, model, spec, p.keep_alive_s, reply, started))
            return {"embedding": []} if legacy else {"model": p.model, "embeddings": []}
        result = await jobs.embed(
            model, p.inputs, truncate=p.truncate, options=p.options, keep_alive_s=p.keep_alive_s, started_ns=started
        )
        if legacy:
            return {"embedding": list(result.vectors[0])}
        return {
            "model": p.model,
            "embeddings": [l2_normalise(v, p.dimensions) for v in result.vectors],
            "total_duration": time.monotonic_ns() - started,
            "load_duration": result.load_duration_ns,
            "prompt_eval_count": result.prompt_eval_count,
        }

    @bp.post("/api/embed")
    async def embed() -> dict[str, Any]:
        return await embed_common(legacy=False)

    @bp.post("/api/embeddings")
    async def embeddings() -> dict[str, Any]:
        return await embed_common(legacy=True)

    @bp.get("/api/ps")
    async def ps() -> dict[str, Any]:
        running = await ask(deps.actor("scheduler"), ListRunning(), timeout=settings.request_timeout_s)
        return {"models": [running_model_json(m) for m in running]}

    return bp


def _generated(piece: TextChunk) -> dict[str, Any]:
    """Generate's ``response``, plus ``thinking`` and ``tool_calls`` when present."""
    out: dict[str, Any] = {"response": piece.text}
    if piece.thinking:
        out["thinking"] = piece.thinking
    if piece.tool_calls:
        out["tool_calls"] = [tool_call_json(call) for call in piece.tool_calls]
    return out

