"""JSON ⇄ runner-context types for the native API (/api/generate, chat, embed, ps).

Pure translation: check shapes and types, build domain values, render replies.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ollama_actors.domain.chat import ChatMessage, ToolCall, ToolFunctionCall
from ollama_actors.domain.durations import parse_keep_alive
from ollama_actors.domain.errors import InvalidRequestError
from ollama_actors.edge.json_body import Fields
from ollama_actors.runner.messages import Completed, RunningModel, TextChunk

__all__ = [
    "ChatParams",
    "EmbedParams",
    "GenerateParams",
    "created_at",
    "final_metrics",
    "message_json",
    "parse_chat",
    "parse_embed",
    "parse_generate",
    "running_model_json",
    "tool_call_json",
]

_THINK_LEVELS = ("high", "medium", "low", "max")


def created_at(now: datetime | None = None) -> str:
    """RFC 3339 UTC with sub-second digits, as Ollama's ``created_at``."""
    now = now or datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def local_time(value: datetime) -> str:
    return value.astimezone().isoformat(timespec="microseconds")


def _keep_alive(raw: object) -> float | None:
    return None if raw is None else parse_keep_alive(raw)


def _think(raw: object) -> bool | str | None:
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        if raw not in _THINK_LEVELS:
            raise InvalidRequestError(
                f'invalid think value: "{raw}" (must be "high", "medium", "low", "max", true, or false)'
            )
        return raw
    raise InvalidRequestError(
        'think must be a boolean or string ("high", "medium", "low", "max", true, or false)'
    )


def _top_logprobs(f: Fields) -> None:
    value = f.get("top_logprobs", int, 0)
    if not 0 <= value <= 20:
        raise InvalidRequestError("top_logprobs must be between 0 and 20")


def _format(raw: object) -> object:
    if raw in (None, "", "null"):
        return None
    if raw == "json" or isinstance(raw, dict):
        return raw
    raise InvalidRequestError(f'invalid format: "{raw}"; expected "json" or a valid JSON Schema object')


def _images(raw: object, struct: str) -> tuple[bytes, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
        raise InvalidRequestError(f"json: cannot unmarshal images into Go struct field {struct}.images")
    try:
        return tuple(base64.b64decode(i, validate=True) for i in raw)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("illegal base64 data in images") from None


@dataclass(frozen=True)
class GenerateParams:
    model: str
    prompt: str
    suffix: str
    system: str | None
    template: str | None
    context: tuple[int, ...]
    stream: bool
    raw: bool
    format: object
    keep_alive_s: float | None
    options: Mapping[str, Any] | None
    think: bool | str | None
    images: tuple[bytes, ...] = ()


def parse_generate(body: Mapping[str, Any]) -> GenerateParams:
    f = Fields(body, "GenerateRequest")
    _top_logprobs(f)
    context = f.list("context") or []
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in context):
        raise InvalidRequestError("json: cannot unmarshal context into Go struct field GenerateRequest.context of type int")
    return GenerateParams(
        model=f.str("model").strip(),
        prompt=f.str("prompt"),
        suffix=f.str("suffix"),
        system=f.get("system", str, None),
        template=f.get("template", str, None) or None,
        context=tuple(context),
        stream=f.bool("stream", True),
        raw=f.bool("raw"),
        format=_format(f.raw("format")),
        keep_alive_s=_keep_alive(f.raw("keep_alive")),
        options=f.object("options"),
        think=_think(f.raw("think")),
        images=_images(f.raw("images"), "GenerateRequest"),
    )


@dataclass(frozen=True)
class ChatParams:
    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[dict[str, Any], ...]
    stream: bool
    format: object
    keep_alive_s: float | None
    options: Mapping[str, Any] | None
    think: bool | str | None
    truncate: bool = True


def _tool_calls(raw: object) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidRequestError("json: cannot unmarshal tool_calls into Go struct field Message.tool_calls")
    calls = []
    for i, item in enumerate(raw):
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name", ""), str):
            raise InvalidRequestError("invalid tool call")
        args = fn.get("arguments") or {}
        if not isinstance(args, dict):
            raise InvalidRequestError("invalid tool call arguments")
        calls.append(ToolCall(ToolFunctionCall(fn.get("name", ""), args, fn.get("index", i)), item.get("id", "")))
    return tuple(calls)


def _message(raw: object) -> ChatMessage:
    if not isinstance(raw, dict):
        raise InvalidRequestError("json: cannot unmarshal messages into Go struct field ChatRequest.messages of type api.Message")
    f = Fields(raw, "Message")
    return ChatMessage(
        role=f.str("role").lower(),
        content=f.str("content"),
        thinking=f.str("thinking"),
        images=_images(f.raw("images"), "Message"),
        tool_calls=_tool_calls(f.raw("tool_calls")),
        tool_name=f.str("tool_name"),
        tool_call_id=f.str("tool_call_id"),
    )


def parse_chat(body: Mapping[str, Any]) -> ChatParams:
    f = Fields(body, "ChatRequest")
    _top_logprobs(f)
    tools = f.list("tools") or []
    if not all(isinstance(t, dict) for t in tools):
        raise InvalidRequestError("json: cannot unmarshal tools into Go struct field ChatRequest.tools")
    return ChatParams(
        model=f.str("model").strip(),
        messages=tuple(_message(m) for m in (f.list("messages") or [])),
        tools=tuple(tools),
        stream=f.bool("stream", True),
        format=_format(f.raw("format")),
        keep_alive_s=_keep_alive(f.raw("keep_alive")),
        options=f.object("options"),
        think=_think(f.raw("think")),
        truncate=f.bool("truncate", True),
    )


@dataclass(frozen=True)
class EmbedParams:
    model: str
    inputs: tuple[str, ...]
    truncate: bool
    dimensions: int
    keep_alive_s: float | None
    options: Mapping[str, Any] | None
    legacy: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_embed(body: Mapping[str, Any], *, legacy: bool) -> EmbedParams:
    f = Fields(body, "EmbeddingRequest" if legacy else "EmbedRequest")
    if legacy:
        prompt = f.str("prompt")
        inputs: tuple[str, ...] = (prompt,) if prompt else ()
    else:
        raw = f.raw("input")
        if raw is None or raw == "" or raw == []:
            inputs = ()
        elif isinstance(raw, str):
            inputs = (raw,)
        elif isinstance(raw, list) and all(isinstance(i, str) for i in raw):
            inputs = tuple(raw)
        else:
            raise InvalidRequestError("invalid input type")
    return EmbedParams(
        model=f.str("model").strip(),
        inputs=inputs,
        truncate=f.bool("truncate", True),
        dimensions=f.get("dimensions", int, 0),
        keep_alive_s=_keep_alive(f.raw("keep_alive")),
        options=f.object("options"),
        legacy=legacy,
    )


def final_metrics(done: Completed, total_ns: int) -> dict[str, Any]:
    """Ollama's final-chunk metrics, all durations in nanoseconds."""
    return {
        "total_duration": total_ns,
        "load_duration": done.load_duration_ns,
        "prompt_eval_count": done.prompt_eval_count,
        "prompt_eval_duration": done.prompt_eval_duration_ns,
        "eval_count": done.eval_count,
        "eval_duration": done.eval_duration_ns,
    }


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    """Ollama's ToolCall: ``id`` when set, ``function.index`` always, arguments in order."""
    function = {"index": call.function.index, "name": call.function.name, "arguments": call.function.arguments}
    return {"id": call.id, "function": function} if call.id else {"function": function}


def message_json(chunk: TextChunk) -> dict[str, Any]:
    """A chat reply's ``message``: ``thinking`` and ``tool_calls`` only when present."""
    message: dict[str, Any] = {"role": "assistant", "content": chunk.text}
    if chunk.thinking:
        message["thinking"] = chunk.thinking
    if chunk.tool_calls:
        message["tool_calls"] = [tool_call_json(call) for call in chunk.tool_calls]
    return message


def running_model_json(model: RunningModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "model": model.name,
        "size": model.size,
        "digest": model.digest,
        "details": model.details.to_json(),
        "expires_at": local_time(model.expires_at),
        "size_vram": model.size_vram,
        "context_length": model.context_length,
    }
