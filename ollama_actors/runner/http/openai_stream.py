"""A runner's token stream as OpenAI's server-sent events, or aggregated into one result.

Same commitment rule as the native NDJSON responder (``streaming.py``): the
response waits for the stream's first event, so an error before anything was
generated is an ordinary error response with its status; after that the status
is 200 and an error is one final ``data: {"error": {…}}`` event (the official
clients raise it). Each event is ``data: <json>\\n\\n``; a finished stream ends
with ``data: [DONE]\\n\\n``. Leaving for any reason (a client disconnect cancels
the body generator) closes the stream, and the runner frees the slot at its
next step.

The per-request renderers (``ChatEvents``, ``CompletionEvents``) turn runner
chunks and the final ``Completed`` into OpenAI objects; they read the optional
``thinking`` / ``tool_calls`` fields with ``getattr`` so they work whether or
not the runner's parsers fill them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from quart import Response

from ollama_actors.bridge.stream import StreamEnd, TokenStream
from ollama_actors.domain.chat import ToolCall
from ollama_actors.domain.errors import OllamaError, RunnerError
from ollama_actors.runner.http.openai_schemas import (
    chat_chunk,
    error_body,
    finish_reason,
    text_completion,
    tool_calls_json,
    usage,
)
from ollama_actors.runner.messages import Completed, TextChunk

__all__ = [
    "ChatEvents",
    "CompletionEvents",
    "DONE",
    "EventRenderer",
    "Generation",
    "collect",
    "open_generation",
    "sse_event",
    "sse_response",
]

DONE = b"data: [DONE]\n\n"
Batch = list[TextChunk]


def sse_event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _thinking(item: object) -> str:
    return getattr(item, "thinking", "") or ""


def _tool_calls(item: object) -> tuple[ToolCall, ...]:
    return tuple(getattr(item, "tool_calls", ()) or ())


def _final(end: StreamEnd) -> Completed:
    if end.error is not None:
        raise end.error
    if not isinstance(end.value, Completed):
        raise RunnerError("generation ended without a result")
    return end.value


async def open_generation(stream: TokenStream[TextChunk]) -> Batch | StreamEnd:
    """The stream's first event; raises its error if it failed before producing anything."""
    try:
        first = await stream.receive_batch()
        if isinstance(first, StreamEnd) and first.error is not None:
            raise first.error
        return first
    except BaseException:
        stream.close()
        raise


@dataclass(frozen=True)
class Generation:
    """A whole generation, for non-streaming answers."""

    content: str
    thinking: str
    tool_calls: tuple[ToolCall, ...]
    done: Completed


async def collect(stream: TokenStream[TextChunk], got: Batch | StreamEnd) -> Generation:
    """Drain the stream; raises the error it ended with."""
    text: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    try:
        while not isinstance(got, StreamEnd):
            for chunk in got:
                text.append(chunk.text)
                thinking.append(_thinking(chunk))
                calls.extend(_tool_calls(chunk))
            got = await stream.receive_batch()
    finally:
        stream.close()
    done = _final(got)
    return Generation(
        content="".join(text),
        thinking="".join(thinking) or _thinking(done),
        tool_calls=tuple(calls) or _tool_calls(done),
        done=done,
    )


class EventRenderer(Protocol):
    def chunk(self, chunk: TextChunk) -> Sequence[dict[str, Any]]: ...

    def final(self, done: Completed) -> Sequence[dict[str, Any]]: ...


def sse_response(stream: TokenStream[TextChunk], first: Batch | StreamEnd, renderer: EventRenderer) -> Response:
    response = Response(_body(stream, first, renderer), content_type="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.timeout = None  # long generations must not be cut
    return response


async def _body(stream: TokenStream[TextChunk], got: Batch | StreamEnd, renderer: EventRenderer) -> AsyncIterator[bytes]:
    try:
        while not isinstance(got, StreamEnd):
            # One write per hand-over: every event of this batch's chunks.
            yield b"".join(sse_event(event) for chunk in got for event in renderer.chunk(chunk))
            got = await stream.receive_batch()
        try:
            done = _final(got)
        except OllamaError as error:
            yield sse_event(error_body(error.status, error.message))
            return
        except Exception as error:  # noqa: BLE001 - the stream already started: report, don't crash
            yield sse_event(error_body(500, f"an error was encountered while running the model: {error}"))
            return
        yield b"".join(sse_event(event) for event in renderer.final(done)) + DONE
    finally:
        stream.close()


class ChatEvents:
    """``chat.completion.chunk`` events of one response (role on the first only)."""

    def __init__(self, *, id_: str, created: int, model: str, include_usage: bool) -> None:
        self.id, self.created, self.model, self.include_usage = id_, created, model, include_usage
        self._role_sent = False
        self._tool_calls_sent = False

    def _event(self, delta: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:  # Any: JSON values
        return chat_chunk(id_=self.id, created=self.created, model=self.model, delta=delta, **extra)

    def _delta(self, **fields: Any) -> dict[str, Any]:  # Any: JSON values
        delta: dict[str, Any] = {} if self._role_sent else {"role": "assistant"}
        self._role_sent = True
        return {**delta, **fields}

    def chunk(self, chunk: TextChunk) -> list[dict[str, Any]]:
        thinking, calls = _thinking(chunk), _tool_calls(chunk)
        events = []
        if thinking:  # reasoning and content in one chunk become two events, reasoning first
            events.append(self._event(self._delta(content="", reasoning=thinking)))
        if chunk.text or calls or not thinking:
            fields: dict[str, Any] = {"content": chunk.text}
            if calls:
                fields["tool_calls"] = tool_calls_json(calls)
                self._tool_calls_sent = True
            events.append(self._event(self._delta(**fields)))
        return events

    def final(self, done: Completed) -> list[dict[str, Any]]:
        events = []
        late_calls = () if self._tool_calls_sent else _tool_calls(done)
        if late_calls:
            events.append(self._event(self._delta(content="", tool_calls=tool_calls_json(late_calls))))
            self._tool_calls_sent = True
        reason = finish_reason(done.done_reason, tool_calls=self._tool_calls_sent)
        events.append(self._event({}, finish=reason))
        if self.include_usage:
            events.append(self._event(None, usage_=usage(done.prompt_eval_count, done.eval_count)))
        return events


class CompletionEvents:
    """``text_completion`` chunks of one response; with usage, every chunk carries zeros."""

    def __init__(self, *, id_: str, created: int, model: str, include_usage: bool) -> None:
        self.id, self.created, self.model, self.include_usage = id_, created, model, include_usage

    def _event(self, text: str | None, finish: str | None = None, counts: dict[str, int] | None = None) -> dict[str, Any]:
        if counts is None and self.include_usage:
            counts = usage(0, 0)
        return text_completion(id_=self.id, created=self.created, model=self.model, text=text, finish=finish,
                               usage_=counts)

    def chunk(self, chunk: TextChunk) -> list[dict[str, Any]]:
        return [self._event(chunk.text)]

    def loaded(self) -> list[dict[str, Any]]:
        """An empty prompt only loads the model: Ollama's ``done_reason: load``."""
        events = [self._event("", "load")]
        if self.include_usage:
            events.append(self._event(None, counts=usage(0, 0)))
        return events

    def final(self, done: Completed) -> list[dict[str, Any]]:
        events = [self._event("", finish_reason(done.done_reason, tool_calls=False))]
        if self.include_usage:
            events.append(self._event(None, counts=usage(done.prompt_eval_count, done.eval_count)))
        return events
