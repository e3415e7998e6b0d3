"""OpenAI ⇄ Ollama translation, table-driven: request mappings, response objects and the
chunk renderers (including reasoning and tool calls, which the tiny model never emits)."""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from typing import Any

import pytest

from ollama_actors.domain.chat import ChatMessage, ToolCall, ToolFunctionCall
from ollama_actors.domain.errors import InvalidRequestError
from ollama_actors.runner.http.openai_schemas import (
    chat_completion,
    embedding_list,
    error_body,
    finish_reason,
    parse_chat_completion,
    parse_completion,
    parse_embeddings,
)
from ollama_actors.runner.http.openai_stream import ChatEvents, CompletionEvents
from ollama_actors.runner.messages import Completed

USER = [{"role": "user", "content": "hi"}]
CALL = ToolCall(ToolFunctionCall("weather", {"city": "Paris", "unit": "c"}, 0), "call_ab12cd34")


@dataclass(frozen=True)
class Chunk:
    """A runner chunk with the optional fields the output parsers fill."""

    text: str
    thinking: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


def _done(reason: str = "stop") -> Completed:
    return Completed(done_reason=reason, prompt_eval_count=5, prompt_eval_duration_ns=1, eval_count=3,
                     eval_duration_ns=1, load_duration_ns=0)


def _chat(**body: Any) -> Any:  # Any: the parsed params
    return parse_chat_completion({"model": "m", "messages": USER, **body})


def test_chat_defaults_override_the_models_temperature_and_top_p() -> None:
    assert _chat().options == {"temperature": 1.0, "top_p": 1.0}


@pytest.mark.parametrize(
    ("body", "options"),
    [
        ({"stop": "x"}, {"stop": ["x"]}),
        ({"stop": ["x", 1, "y"]}, {"stop": ["x", "y"]}),  # chat drops non-strings
        ({"max_tokens": 5}, {"num_predict": 5}),
        ({"max_completion_tokens": 6}, {"num_predict": 6}),
        ({"max_tokens": 5, "max_completion_tokens": 6}, {"num_predict": 5}),
        ({"seed": 3, "temperature": 0.2, "top_p": 0.5}, {"seed": 3, "temperature": 0.2, "top_p": 0.5}),
        ({"frequency_penalty": 0.5, "presence_penalty": 0.25}, {"frequency_penalty": 0.5, "presence_penalty": 0.25}),
    ],
)
def test_chat_options_mapping(body: dict[str, Any], options: dict[str, Any]) -> None:
    assert _chat(**body).options.items() >= options.items()


@pytest.mark.parametrize(
    ("response_format", "fmt"),
    [
        (None, None),
        ({"type": "text"}, None),
        ({"type": "json_object"}, "json"),
        ({"type": " JSON_OBJECT "}, "json"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}, {"type": "object"}),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, None),
    ],
)
def test_response_format_becomes_format(response_format: object, fmt: object) -> None:
    assert _chat(response_format=response_format).format == fmt


@pytest.mark.parametrize(
    ("body", "think"),
    [
        ({}, None),
        ({"reasoning_effort": "none"}, False),
        ({"reasoning_effort": "minimal"}, "low"),
        ({"reasoning_effort": "medium"}, "medium"),
        ({"reasoning_effort": "xhigh"}, "max"),
        ({"reasoning": {"effort": "high"}, "reasoning_effort": "low"}, "high"),
    ],
)
def test_reasoning_effort_becomes_think(body: dict[str, Any], think: object) -> None:
    assert _chat(**body).think == think


def test_content_parts_become_one_message_each_and_tool_names_are_looked_up() -> None:
    png = base64.b64encode(b"\x89PNG").decode()
    p = parse_chat_completion({"model": "m", "messages": [
        {"role": "User", "content": [{"type": "text", "text": "a"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                                     {"type": "image_url", "image_url": f"data:;base64,{png}"}]},
        {"role": "assistant", "content": None, "reasoning": "hmm", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]})
    assert p.messages == (
        ChatMessage(role="user", content="a"),
        ChatMessage(role="user", images=(b"\x89PNG",)),
        ChatMessage(role="user", images=(b"\x89PNG",)),
        ChatMessage(role="assistant", thinking="hmm",
                    tool_calls=(ToolCall(ToolFunctionCall("weather", {"city": "Paris"}, 0), "c1"),)),
        ChatMessage(role="tool", content="sunny", tool_name="weather", tool_call_id="c1"),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": []}, "[] is too short - 'messages'"),
        ({"messages": [{"role": "user", "content": 3}]}, "invalid message content type: float64"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "invalid message format"),
        ({"top_logprobs": 21}, "top_logprobs must be between 0 and 20"),
        ({"reasoning_effort": "lots"}, "invalid reasoning value: 'lots'"),
        ({"response_format": {"type": "json_schema", "json_schema": {"schema": "x"}}}, "invalid format:"),
    ],
)
def test_chat_request_errors(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as error:
        parse_chat_completion({"model": "m", "messages": USER, **body})
    assert error.value.message.startswith(message)


def test_completion_always_passes_penalties_and_treats_top_p_zero_as_one() -> None:
    p = parse_completion({"model": "m", "prompt": "x", "top_p": 0, "suffix": "y", "stop": ["a"]})
    assert p.options == {"stop": ["a"], "temperature": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0,
                         "top_p": 1.0}
    assert (p.prompt, p.suffix, p.stream, p.include_usage) == ("x", "y", False, False)


@pytest.mark.parametrize(("stop", "kind"), [([1], "float64"), ([None], "<nil>"), (["a", {"b": 1}], "map[string]interface {}")])
def test_completion_rejects_non_string_stops(stop: list[Any], kind: str) -> None:
    with pytest.raises(InvalidRequestError) as error:
        parse_completion({"model": "m", "prompt": "x", "stop": stop})
    assert error.value.message == f"invalid type for 'stop' field: {kind}"


@pytest.mark.parametrize(
    ("body", "inputs", "is_base64"),
    [
        ({"input": ""}, ("",), False),
        ({"input": "a"}, ("a",), False),
        ({"input": ["a", "b"], "encoding_format": "BASE64"}, ("a", "b"), True),
    ],
)
def test_embedding_inputs(body: dict[str, Any], inputs: tuple[str, ...], is_base64: bool) -> None:
    p = parse_embeddings({"model": "m", **body})
    assert (p.inputs, p.base64) == (inputs, is_base64)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "invalid input"),
        ({"input": []}, "invalid input"),
        ({"input": [1]}, "invalid input type"),
        ({"input": "a", "encoding_format": "int8"}, "Invalid value for 'encoding_format' = int8."),
    ],
)
def test_embedding_errors(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as error:
        parse_embeddings({"model": "m", **body})
    assert error.value.message.startswith(message)


def test_base64_embeddings_are_little_endian_float32() -> None:
    out = embedding_list("m", [[1.0, -0.5]], as_base64=True, prompt_tokens=2)
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (1.0, -0.5)
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


@pytest.mark.parametrize(("status", "kind"), [(400, "invalid_request_error"), (404, "not_found_error"),
                                              (500, "api_error"), (503, "api_error")])
def test_error_body(status: int, kind: str) -> None:
    assert error_body(status, "boom") == {"error": {"message": "boom", "type": kind, "param": None, "code": None}}


@pytest.mark.parametrize(
    ("reason", "calls", "expected"),
    [("stop", False, "stop"), ("stop", True, "tool_calls"), ("length", True, "length"), ("", False, None)],
)
def test_finish_reason(reason: str, calls: bool, expected: str | None) -> None:
    assert finish_reason(reason, tool_calls=calls) == expected


def test_chat_completion_carries_reasoning_and_tool_calls_with_json_string_arguments() -> None:
    body = chat_completion(id_="chatcmpl-1", created=1, model="m", content="", thinking="because",
                           tool_calls=[CALL], done_reason="stop", prompt_tokens=5, completion_tokens=3)
    [choice] = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["reasoning"] == "because"
    assert choice["message"]["tool_calls"] == [{"id": "call_ab12cd34", "index": 0, "type": "function",
                                                "function": {"name": "weather",
                                                             "arguments": '{"city": "Paris", "unit": "c"}'}}]
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris", "unit": "c"}
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def test_chat_events_split_reasoning_from_content_and_send_the_role_once() -> None:
    events = ChatEvents(id_="chatcmpl-1", created=7, model="m", include_usage=True)
    rendered = [e for chunk in (Chunk("", thinking="hm"), Chunk("a", thinking="m"), Chunk("", tool_calls=(CALL,)))
                for e in events.chunk(chunk)]
    deltas = [e["choices"][0]["delta"] for e in rendered]
    assert deltas[0] == {"role": "assistant", "content": "", "reasoning": "hm"}
    assert deltas[1:3] == [{"content": "", "reasoning": "m"}, {"content": "a"}]
    assert deltas[3]["tool_calls"][0]["function"]["name"] == "weather"
    finish, usage_chunk = events.final(_done("stop"))
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["total_tokens"] == 8
    assert {e["created"] for e in [*rendered, finish, usage_chunk]} == {7}


def test_chat_events_keep_empty_content_and_skip_usage_unless_asked() -> None:
    events = ChatEvents(id_="chatcmpl-1", created=7, model="m", include_usage=False)
    [only] = events.chunk(Chunk(""))
    assert only["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [e["choices"][0]["finish_reason"] for e in events.final(_done("length"))] == ["length"]


def test_completion_events_carry_zero_usage_then_the_real_counts() -> None:
    events = CompletionEvents(id_="cmpl-1", created=7, model="m", include_usage=True)
    [chunk] = events.chunk(Chunk("hi"))
    assert chunk["choices"] == [{"text": "hi", "index": 0, "finish_reason": None}]
    assert chunk["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    last, usage_chunk = events.final(_done("length"))
    assert last["choices"][0]["finish_reason"] == "length"
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 3
