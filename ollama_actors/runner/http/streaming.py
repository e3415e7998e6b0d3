"""Turn a runner's token stream into Ollama's NDJSON (or one aggregated JSON object).

Rules (Ollama's): an error before anything was streamed is an ordinary JSON error
with its status; after streaming began, it is one final ``{"error": …}`` line.
So the response waits for the stream's first event before it commits to a 200.
Leaving for any reason — a client disconnect cancels the handler or the body
generator — closes the stream, and the runner frees the slot at its next step.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from quart import Response

from ollama_actors.bridge.stream import StreamEnd, TokenStream
from ollama_actors.domain.errors import OllamaError, RunnerError
from ollama_actors.runner.messages import Completed, TextChunk

__all__ = ["aggregate", "ndjson_line", "respond"]

ChunkJson = Callable[[TextChunk], dict[str, Any]]
FinalJson = Callable[[Completed, TextChunk], dict[str, Any]]


def ndjson_line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _final(end: StreamEnd) -> Completed:
    if end.error is not None:
        raise end.error
    if not isinstance(end.value, Completed):
        raise RunnerError("generation ended without a result")
    return end.value


async def respond(
    stream: TokenStream[TextChunk],
    *,
    streaming: bool,
    chunk_json: ChunkJson,
    final_json: FinalJson,
) -> Response:
    """Answer a generation: NDJSON chunks then the final object, or one object.

    ``chunk_json(chunk)`` renders one runner chunk (content, thinking, tool calls);
    ``final_json(done, whole)`` gets ``aggregate`` of every chunk when not streaming
    and an empty chunk when streaming (the pieces went out already).
    """
    try:
        first = await stream.receive_batch()
        if isinstance(first, StreamEnd) and first.error is not None:
            raise first.error  # nothing was streamed yet: an ordinary error response
        if not streaming:
            return await _collect(stream, first, final_json)
    except BaseException:
        stream.close()
        raise
    response = Response(_body(stream, first, chunk_json, final_json), content_type="application/x-ndjson")
    response.timeout = None  # long generations must not be cut
    return response


def aggregate(chunks: Iterable[TextChunk]) -> TextChunk:
    """One chunk for a non-streamed reply: content and thinking concatenated, every
    tool call kept in order (Ollama's non-streaming chat and generate)."""
    items = list(chunks)
    return TextChunk(
        "".join(c.text for c in items),
        thinking="".join(c.thinking for c in items),
        tool_calls=tuple(call for c in items for call in c.tool_calls),
    )


async def _collect(stream: TokenStream[TextChunk], got: list[TextChunk] | StreamEnd, final_json: FinalJson) -> Response:
    chunks: list[TextChunk] = []
    while not isinstance(got, StreamEnd):
        chunks.extend(got)
        got = await stream.receive_batch()
    stream.close()
    return Response(
        json.dumps(final_json(_final(got), aggregate(chunks)), ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )


async def _body(
    stream: TokenStream[TextChunk],
    got: list[TextChunk] | StreamEnd,
    chunk_json: ChunkJson,
    final_json: FinalJson,
) -> AsyncIterator[bytes]:
    try:
        while not isinstance(got, StreamEnd):
            # One write per hand-over: the chunks of this batch, one line each.
            yield b"".join(ndjson_line(chunk_json(chunk)) for chunk in got)
            got = await stream.receive_batch()
        try:
            done = _final(got)
        except OllamaError as error:
            yield ndjson_line({"error": error.message})
            return
        except Exception as error:  # noqa: BLE001 - the stream already started: report, don't crash
            yield ndjson_line({"error": f"an error was encountered while running the model: {error}"})
            return
        yield ndjson_line(final_json(done, TextChunk("")))
    finally:
        stream.close()
