"""Turn a progress stream (create now; pull and push later) into Ollama's NDJSON.

Ollama's rules: each line is ``{"status": …}`` (with ``digest``/``total``/
``completed`` on progress lines) as soon as it happens; an error before the
first line is an ordinary HTTP error with its status; after streaming began it
is one final ``{"error": …}`` line. With ``stream: false`` the answer is the
last status object, or the error as an HTTP error. The response commits to 200
only after the stream's first event, which the actor sends after every check on
the input has passed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from quart import Response

from ollama_actors.bridge.stream import StreamEnd, TokenStream
from ollama_actors.domain.errors import OllamaError
from ollama_actors.management.messages import CreateProgress

__all__ = ["respond_progress"]


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


async def respond_progress(stream: TokenStream[CreateProgress], *, streaming: bool) -> Response:
    """Answer with the stream's lines (NDJSON), or with its last line when not streaming."""
    try:
        first = await stream.receive_batch()
        if isinstance(first, StreamEnd) and first.error is not None:
            raise first.error  # nothing was streamed yet: an ordinary error response
        if not streaming:
            return await _last(stream, first)
    except BaseException:
        stream.close()
        raise
    response = Response(_body(stream, first), content_type="application/x-ndjson")
    response.timeout = None  # a large quantization must not be cut
    return response


async def _last(stream: TokenStream[CreateProgress], got: list[CreateProgress] | StreamEnd) -> Response:
    last: CreateProgress | None = None
    try:
        while not isinstance(got, StreamEnd):
            last = got[-1] if got else last
            got = await stream.receive_batch()
    finally:
        stream.close()
    if got.error is not None:
        raise got.error
    body = last.to_json() if last is not None else {"status": "success"}
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json; charset=utf-8")


async def _body(stream: TokenStream[CreateProgress], got: list[CreateProgress] | StreamEnd) -> AsyncIterator[bytes]:
    try:
        while not isinstance(got, StreamEnd):
            yield b"".join(_line(item.to_json()) for item in got)
            got = await stream.receive_batch()
        if got.error is not None:
            message = got.error.message if isinstance(got.error, OllamaError) else str(got.error)
            yield _line({"error": message})
    finally:
        stream.close()
