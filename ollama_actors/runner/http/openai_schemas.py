"""JSON ⇄ runner-context types for the OpenAI-compatible API (/v1), as Ollama maps them.

Pure translation, no I/O: an OpenAI request becomes the values a native request
would carry (messages, options, format, think), and runner results become
OpenAI's objects (chat.completion, chat.completion.chunk, text_completion,
embedding lists, models, errors). Mappings and wording follow Ollama's
``openai`` package, so clients see what they see against Ollama.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ollama_actors.domain.chat import ChatMessage, ToolCall, ToolFunctionCall
from ollama_actors.domain.errors import InvalidRequestError
from ollama_actors.edge.json_body import Fields

__all__ = [
    "ChatCompletionParams",
    "CompletionParams",
    "EmbeddingsParams",
    "chat_chunk",
    "chat_completion",
    "embedding_list",
    "error_body",
    "error_type",
    "finish_reason",
    "model_object",
    "new_id",
    "parse_chat_completion",
    "parse_completion",
    "parse_embeddings",
    "text_completion",
    "tool_calls_json",
    "usage",
]

FINGERPRINT = "fp_ollama"
_IMAGE_TYPES = ("jpeg", "jpg", "png", "webp")
# OpenAI's reasoning efforts → Ollama's think values (HEAD).
_EFFORT_TO_THINK: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}


# ---------------------------------------------------------------- errors
def error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status, as Ollama assigns it."""
    if status == 400:
        return "invalid_request_error"
    if status == 404:
        return "not_found_error"
    return "api_error"


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type(status), "param": None, "code": None}}


def new_id(prefix: str) -> str:
    """Ollama's response ids: ``chatcmpl-<0..998>`` / ``cmpl-<0..998>``."""
    return f"{prefix}-{random.randrange(999)}"  # noqa: S311 - an id, not a secret


# ---------------------------------------------------------------- requests
@dataclass(frozen=True)
class ChatCompletionParams:
    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[dict[str, Any], ...]
    stream: bool
    include_usage: bool
    format: object
    options: Mapping[str, Any]
    think: bool | str | None


@dataclass(frozen=True)
class CompletionParams:
    model: str
    prompt: str
    suffix: str
    stream: bool
    include_usage: bool
    options: Mapping[str, Any]


@dataclass(frozen=True)
class EmbeddingsParams:
    model: str
    inputs: tuple[str, ...]
    dimensions: int
    base64: bool


def _go_type(value: object) -> str:
    """Go's ``%T`` of a decoded JSON value (for Ollama's error texts)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


def _include_usage(f: Fields) -> bool:
    options = f.object("stream_options") or {}
    return Fields(options, "StreamOptions").bool("include_usage")


def _common_options(f: Fields, *, strict_stop: bool) -> dict[str, Any]:
    """Options both endpoints map the same way; OpenAI's defaults override the model's."""
    options: dict[str, Any] = {}
    stop = f.raw("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list):
        others = [s for s in stop if not isinstance(s, str)]
        if strict_stop and others:  # completions reject them, chat drops them (Ollama's asymmetry)
            raise InvalidRequestError(f"invalid type for 'stop' field: {_go_type(others[0])}")
        options["stop"] = [s for s in stop if isinstance(s, str)]
    max_tokens = f.get("max_tokens", int, None)
    if max_tokens is None:
        max_tokens = f.get("max_completion_tokens", int, None)
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    options["temperature"] = f.get("temperature", float, 1.0)
    seed = f.get("seed", int, None)
    if seed is not None:
        options["seed"] = seed
    return options


def _top_logprobs(f: Fields) -> None:
    if not 0 <= f.get("top_logprobs", int, 0) <= 20:
        raise InvalidRequestError("top_logprobs must be between 0 and 20")


def parse_chat_completion(body: Mapping[str, Any]) -> ChatCompletionParams:
    """``POST /v1/chat/completions`` → what ``/api/chat`` would receive."""
    f = Fields(body, "ChatCompletionRequest")
    raw_messages = f.list("messages") or []
    if not raw_messages:
        raise InvalidRequestError("[] is too short - 'messages'")
    _top_logprobs(f)
    options = _common_options(f, strict_stop=False)
    for name in ("frequency_penalty", "presence_penalty"):
        value = f.get(name, float, None)
        if value is not None:
            options[name] = value
    options["top_p"] = f.get("top_p", float, 1.0)
    tools = f.list("tools") or []
    if not all(isinstance(t, dict) for t in tools):
        raise InvalidRequestError("json: cannot unmarshal tools into Go struct field ChatCompletionRequest.tools")
    return ChatCompletionParams(
        model=f.str("model").strip(),
        messages=_messages(raw_messages),
        tools=tuple(tools),
        stream=f.bool("stream"),
        include_usage=_include_usage(f),
        format=_response_format(f.object("response_format")),
        options=options,
        think=_think(f),
    )


def parse_completion(body: Mapping[str, Any]) -> CompletionParams:
    """``POST /v1/completions`` → what ``/api/generate`` would receive."""
    f = Fields(body, "CompletionRequest")
    options = _common_options(f, strict_stop=True)
    options["frequency_penalty"] = f.get("frequency_penalty", float, 0.0)
    options["presence_penalty"] = f.get("presence_penalty", float, 0.0)
    options["top_p"] = f.get("top_p", float, 0.0) or 1.0
    logprobs = f.get("logprobs", int, None)
    if logprobs is not None and not 0 <= logprobs <= 20:
        raise InvalidRequestError("top_logprobs must be between 0 and 20")
    return CompletionParams(
        model=f.str("model").strip(),
        prompt=f.str("prompt"),
        suffix=f.str("suffix"),
        stream=f.bool("stream"),
        include_usage=_include_usage(f),
        options=options,
    )


def parse_embeddings(body: Mapping[str, Any]) -> EmbeddingsParams:
    """``POST /v1/embeddings`` → what ``/api/embed`` would receive."""
    f = Fields(body, "EmbedRequest")
    encoding = f.str("encoding_format")
    if encoding and encoding.lower() not in ("float", "base64"):
        raise InvalidRequestError(
            f"Invalid value for 'encoding_format' = {encoding}. Supported values: ['float', 'base64']."
        )
    raw = f.raw("input")
    if raw == "":
        raw = [""]
    if raw is None or raw == []:
        raise InvalidRequestError("invalid input")
    if isinstance(raw, str):
        inputs: tuple[str, ...] = (raw,)
    elif isinstance(raw, list) and all(isinstance(i, str) for i in raw):
        inputs = tuple(raw)
    else:
        raise InvalidRequestError("invalid input type")
    return EmbeddingsParams(
        model=f.str("model").strip(),
        inputs=inputs,
        dimensions=f.get("dimensions", int, 0),
        base64=encoding.lower() == "base64",
    )


def _think(f: Fields) -> bool | str | None:
    reasoning = f.object("reasoning")
    effort = Fields(reasoning, "Reasoning").str("effort") if reasoning else ""
    effort = effort or f.str("reasoning_effort")
    if not effort:
        return None
    if effort not in _EFFORT_TO_THINK:
        raise InvalidRequestError(
            f"invalid reasoning value: '{effort}' (must be \"none\", \"minimal\", \"low\", "
            f"\"medium\", \"high\", \"xhigh\", \"max\" or \"ultra\")"
        )
    return _EFFORT_TO_THINK[effort]


def _response_format(raw: Mapping[str, Any] | None) -> object:
    if not raw:
        return None
    kind = str(raw.get("type") or "").strip().lower()
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = raw.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if schema is None:
            return None
        if not isinstance(schema, dict):
            raise InvalidRequestError(
                f'invalid format: "{json.dumps(schema)}"; expected "json" or a valid JSON Schema object'
            )
        return schema
    return None


def _messages(raw: Sequence[Any]) -> tuple[ChatMessage, ...]:
    out: list[ChatMessage] = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidRequestError(
                "json: cannot unmarshal messages into Go struct field ChatCompletionRequest.messages of type openai.Message"
            )
        out.extend(_message(Fields(item, "Message"), raw))
    return tuple(out)


def _message(f: Fields, history: Sequence[Any]) -> list[ChatMessage]:
    """One OpenAI message → one native message, or one per content part."""
    role = f.str("role").lower()
    tool_call_id = f.str("tool_call_id")
    tool_name = ""
    if role == "tool":
        tool_name = f.str("name") or _tool_name_for(history, tool_call_id)
    reasoning = f.str("reasoning")
    raw_calls = f.raw("tool_calls")
    content = f.raw("content")
    if isinstance(content, str):
        return [ChatMessage(role=role, content=content, thinking=reasoning, tool_calls=_tool_calls_in(raw_calls),
                            tool_name=tool_name, tool_call_id=tool_call_id)]
    if isinstance(content, list):
        parts = [_part(role, part) for part in content]
        if parts and raw_calls:
            last = parts[-1]
            parts[-1] = ChatMessage(role=role, content=last.content, images=last.images, thinking=reasoning,
                                    tool_calls=_tool_calls_in(raw_calls), tool_name=tool_name,
                                    tool_call_id=tool_call_id)
        return parts
    if raw_calls is None:  # content is optional only with tool calls
        raise InvalidRequestError(f"invalid message content type: {_go_type(content)}")
    return [ChatMessage(role=role, thinking=reasoning, tool_calls=_tool_calls_in(raw_calls),
                        tool_call_id=tool_call_id)]


def _part(role: str, part: object) -> ChatMessage:
    if not isinstance(part, dict):
        raise InvalidRequestError("invalid message format")
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequestError("invalid message format")
        return ChatMessage(role=role, content=text)
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise InvalidRequestError("invalid message format")
        return ChatMessage(role=role, images=(_decode_image_url(url),))
    if kind == "input_audio":
        audio = part.get("input_audio")
        data = audio.get("data") if isinstance(audio, dict) else None
        if not isinstance(data, str):
            raise InvalidRequestError("invalid message format")
        try:
            return ChatMessage(role=role, images=(base64.b64decode(data, validate=True),))
        except (binascii.Error, ValueError):
            raise InvalidRequestError("invalid audio input") from None
    raise InvalidRequestError("invalid message format")


def _decode_image_url(url: str) -> bytes:
    if url.startswith(("http://", "https://")):
        raise InvalidRequestError("image URLs are not currently supported, please use base64 encoded data instead")
    prefixes = ["data:;base64,", *(f"data:image/{t};base64," for t in _IMAGE_TYPES)]
    prefix = next((p for p in prefixes if url.startswith(p)), None)
    if prefix is None:
        raise InvalidRequestError("invalid image input")
    try:
        return base64.b64decode(url[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("invalid image input") from None


def _tool_calls_in(raw: object) -> tuple[ToolCall, ...]:
    """OpenAI tool calls (arguments as a JSON string) → domain calls (arguments as an object)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidRequestError("json: cannot unmarshal tool_calls into Go struct field Message.tool_calls")
    calls = []
    for index, item in enumerate(raw):
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(fn, dict):
            raise InvalidRequestError("invalid tool call")
        try:
            arguments = json.loads(fn.get("arguments") or "")
        except (TypeError, ValueError):
            raise InvalidRequestError("invalid tool call arguments") from None
        if not isinstance(arguments, dict):
            raise InvalidRequestError("invalid tool call arguments")
        calls.append(ToolCall(ToolFunctionCall(str(fn.get("name") or ""), arguments, index), str(item.get("id") or "")))
    return tuple(calls)


def _tool_name_for(history: Sequence[Any], call_id: str) -> str:
    """The function name of the latest earlier call with ``call_id`` (last one wins)."""
    if not call_id:
        return ""
    for message in reversed(history):
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict) and call.get("id") == call_id:
                fn = call.get("function")
                return str(fn.get("name") or "") if isinstance(fn, dict) else ""
    return ""


# ---------------------------------------------------------------- responses
def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def tool_calls_json(calls: Iterable[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "index": call.function.index,
            "type": "function",
            "function": {"name": call.function.name, "arguments": json.dumps(call.function.arguments)},
        }
        for call in calls
    ]


def finish_reason(done_reason: str, *, tool_calls: bool) -> str | None:
    """``stop`` becomes ``tool_calls`` when the model called tools; empty → null."""
    if not done_reason:
        return None
    return "tool_calls" if tool_calls and done_reason == "stop" else done_reason


def chat_completion(
    *,
    id_: str,
    created: int,
    model: str,
    content: str,
    thinking: str,
    tool_calls: Sequence[ToolCall],
    done_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["reasoning"] = thinking
    if tool_calls:
        message["tool_calls"] = tool_calls_json(tool_calls)
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": finish_reason(done_reason, tool_calls=bool(tool_calls))}],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def chat_chunk(
    *,
    id_: str,
    created: int,
    model: str,
    delta: Mapping[str, Any] | None,
    finish: str | None = None,
    usage_: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` makes the usage-only chunk (no choices)."""
    out: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [] if delta is None else [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
    }
    if usage_ is not None:
        out["usage"] = dict(usage_)
    return out


def text_completion(
    *,
    id_: str,
    created: int,
    model: str,
    text: str | None,
    finish: str | None = None,
    usage_: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A ``text_completion`` object or chunk; ``text=None`` makes the usage-only chunk."""
    out: dict[str, Any] = {
        "id": id_,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [] if text is None else [{"text": text, "index": 0, "finish_reason": finish}],
    }
    if usage_ is not None:
        out["usage"] = dict(usage_)
    return out


def _floats_to_base64(vector: Sequence[float]) -> str:
    """Little-endian float32 bytes, base64 (what OpenAI's clients decode)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embedding_list(
    model: str, vectors: Sequence[Sequence[float]], *, as_base64: bool, prompt_tokens: int
) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": _floats_to_base64(v) if as_base64 else list(v), "index": i}
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def model_object(id_: str, created: int, owned_by: str) -> dict[str, Any]:
    return {"id": id_, "object": "model", "created": created, "owned_by": owned_by}
