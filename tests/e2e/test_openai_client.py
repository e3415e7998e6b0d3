"""The OpenAI API as Ollama serves it, driven by the official ``openai`` client (sync and
async under trio) and by raw httpx for the wire: chat and legacy completions (streamed
and not), embeddings (float and base64), models, and errors in OpenAI's shape."""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from ollama_actors.runner.actors.runner import RUNNER_CRASHED
from tests.fixtures.crashing_runtime import CRASH_MARKER, LATE_CRASH_MARKER, CrashingRuntime
from tests.fixtures.daemon import RunningDaemon, start_daemon
from tests.fixtures.daemons import TINY, TINY_EMBED, upload_and_create
from tests.fixtures.tiny_gguf import write_tiny_llama_gguf

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}]
# The same sampling on both APIs: OpenAI's defaults (temperature 1, top_p 1) made explicit.
SAMPLING = {"max_tokens": 8, "temperature": 0, "seed": 42}
NATIVE_OPTS = {"num_predict": 8, "temperature": 0, "seed": 42, "top_p": 1.0}


@pytest.fixture(scope="module")
def client(daemon: RunningDaemon) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{daemon.base_url}/v1", api_key="x", timeout=60, max_retries=0) as oa:
        yield oa


@pytest.fixture(scope="module")
def native(daemon: RunningDaemon) -> ollama.Client:
    return ollama.Client(host=daemon.base_url, timeout=60)


@pytest.fixture(scope="module")
def http(daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.base_url, timeout=60) as raw:
        yield raw


def _sse_events(body: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, checking the framing on the way."""
    assert body.endswith("\n\n")
    events = body.split("\n\n")[:-1]
    assert all(event.startswith("data: ") and "\n" not in event for event in events)
    return [event.removeprefix("data: ") for event in events]


# ---------------------------------------------------------------- chat
def test_chat_completion_has_openais_fields_and_the_native_apis_text_and_counts(
    client: openai.OpenAI, native: ollama.Client
) -> None:
    completion = client.chat.completions.create(model=TINY, messages=MESSAGES, **SAMPLING)
    reference = native.chat(model=TINY, messages=MESSAGES, options=NATIVE_OPTS)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-") and completion.system_fingerprint == "fp_ollama"
    assert completion.model == TINY
    [choice] = completion.choices
    assert choice.index == 0 and choice.finish_reason == "length"
    assert choice.message.role == "assistant"
    assert choice.message.content == reference.message.content
    assert completion.usage.prompt_tokens == reference.prompt_eval_count
    assert completion.usage.completion_tokens == reference.eval_count == 8
    assert completion.usage.total_tokens == reference.prompt_eval_count + 8


def test_streamed_chat_sends_the_role_once_a_finish_chunk_and_a_usage_chunk(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=TINY, messages=MESSAGES, **SAMPLING)
    chunks = list(client.chat.completions.create(
        model=TINY, messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **SAMPLING
    ))
    *content, finish, usage_chunk = chunks
    assert content[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in content[1:])
    assert all(c.choices[0].finish_reason is None for c in content)
    assert "".join(c.choices[0].delta.content for c in content) == whole.choices[0].message.content
    assert finish.choices[0].finish_reason == "length"
    assert finish.choices[0].delta.content is None and finish.choices[0].delta.role is None
    assert usage_chunk.choices == [] and usage_chunk.usage == whole.usage
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model=TINY, messages=MESSAGES, stream=True, **SAMPLING))
    assert chunks[-1].choices[0].finish_reason == "length"
    assert all(c.usage is None for c in chunks)


def test_stop_strings_end_generation_with_finish_reason_stop(client: openai.OpenAI) -> None:
    free = client.chat.completions.create(model=TINY, messages=MESSAGES, **{**SAMPLING, "max_tokens": 16})
    text = free.choices[0].message.content
    stop_at = text[2:4]
    for stop in (stop_at, [stop_at, "never-seen"]):
        stopped = client.chat.completions.create(model=TINY, messages=MESSAGES, stop=stop,
                                                 **{**SAMPLING, "max_tokens": 16})
        assert stopped.choices[0].finish_reason == "stop"
        assert stopped.choices[0].message.content == text[: text.index(stop_at)]


def test_max_completion_tokens_limits_generation(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=TINY, messages=MESSAGES, max_completion_tokens=3,
                                                temperature=0, seed=1)
    assert completion.usage.completion_tokens == 3 and completion.choices[0].finish_reason == "length"


def test_the_default_temperature_is_one_not_the_models(client: openai.OpenAI, native: ollama.Client) -> None:
    """Without ``temperature`` OpenAI's default 1.0 applies, as in Ollama, not the model's 0.8."""
    implicit = client.chat.completions.create(model=TINY, messages=MESSAGES, max_tokens=12, seed=7)
    reference = native.chat(model=TINY, messages=MESSAGES,
                            options={"num_predict": 12, "seed": 7, "temperature": 1.0, "top_p": 1.0})
    assert implicit.choices[0].message.content == reference.message.content


def test_text_parts_are_accepted_and_json_object_format_constrains_output(client: openai.OpenAI) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "give me"}, {"type": "text", "text": "json"}]}]
    completion = client.chat.completions.create(model=TINY, messages=parts, response_format={"type": "json_object"},
                                                **{**SAMPLING, "max_tokens": 6})
    assert completion.choices[0].message.content.lstrip().startswith("{")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    typed = client.chat.completions.create(
        model=TINY, messages=MESSAGES, **{**SAMPLING, "max_tokens": 4},
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
    )
    assert typed.choices[0].message.content.lstrip().startswith("{")


def test_tool_call_history_is_accepted_and_tool_choice_ignored(client: openai.OpenAI) -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    completion = client.chat.completions.create(model=TINY, messages=messages, tool_choice="none", **SAMPLING)
    assert completion.choices[0].finish_reason == "length"


def test_reasoning_effort_none_is_accepted_but_thinking_needs_the_capability(client: openai.OpenAI) -> None:
    assert client.chat.completions.create(model=TINY, messages=MESSAGES, reasoning_effort="none", **SAMPLING).choices
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model=TINY, messages=MESSAGES, reasoning_effort="low", **SAMPLING)
    assert error.value.body["message"] == f'"{TINY}" does not support thinking'
    with pytest.raises(openai.BadRequestError) as invalid:
        client.chat.completions.create(model=TINY, messages=MESSAGES, extra_body={"reasoning_effort": "huge"})
    assert invalid.value.body["message"].startswith("invalid reasoning value: 'huge'")


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        ([{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}], 400,
         "image URLs are not currently supported, please use base64 encoded data instead"),
        ([{"type": "image_url", "image_url": "data:image/gif;base64,AAAA"}], 400, "invalid image input"),
        ([{"type": "image_url", "image_url": {"url": "data:image/png;base64,!!"}}], 400, "invalid image input"),
        ([{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}], 500,
         "this model is missing data required for image input"),
        ([{"type": "video", "video": "x"}], 400, "invalid message format"),
        (None, 400, "invalid message content type: <nil>"),
    ],
)
def test_message_content_errors_are_ollamas(client: openai.OpenAI, content: object, status: int, message: str) -> None:
    with pytest.raises(openai.APIStatusError) as error:
        client.chat.completions.create(model=TINY, messages=[{"role": "user", "content": content}], **SAMPLING)
    assert error.value.status_code == status
    assert error.value.body["message"] == message


def test_chat_request_errors_in_openais_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nope", messages=MESSAGES)
    assert missing.value.body == {"message": "model 'nope' not found", "type": "not_found_error",
                                  "param": None, "code": None}
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model=TINY, messages=[])
    assert empty.value.body["message"] == "[] is too short - 'messages'"
    with pytest.raises(openai.BadRequestError) as embed_only:
        client.chat.completions.create(model=TINY_EMBED, messages=MESSAGES)
    assert embed_only.value.body["message"] == f'"{TINY_EMBED}" does not support chat'
    with pytest.raises(openai.BadRequestError) as no_tools:
        client.chat.completions.create(model=TINY, messages=MESSAGES, tools=[
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
        ])
    assert no_tools.value.body["message"].endswith("/library/tiny:latest does not support tools")
    with pytest.raises(openai.BadRequestError) as bad_args:
        client.chat.completions.create(model=TINY, messages=[{"role": "assistant", "content": "", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}])
    assert bad_args.value.body["message"] == "invalid tool call arguments"


# ---------------------------------------------------------------- completions
def test_completion_matches_native_generate_text_and_counts(client: openai.OpenAI, native: ollama.Client) -> None:
    completion = client.completions.create(model=TINY, prompt="once upon a time", **SAMPLING)
    reference = native.generate(model=TINY, prompt="once upon a time", options=NATIVE_OPTS)
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    [choice] = completion.choices
    assert choice.text == reference.response and choice.finish_reason == "length"
    assert completion.usage.prompt_tokens == reference.prompt_eval_count
    assert completion.usage.completion_tokens == reference.eval_count == 8


def test_streamed_completion_ends_with_a_usage_chunk(client: openai.OpenAI) -> None:
    whole = client.completions.create(model=TINY, prompt="once upon a time", **SAMPLING)
    chunks = list(client.completions.create(model=TINY, prompt="once upon a time", stream=True,
                                            stream_options={"include_usage": True}, **SAMPLING))
    *text_chunks, usage_chunk = chunks
    assert "".join(c.choices[0].text for c in text_chunks) == whole.choices[0].text
    assert text_chunks[-1].choices[0].finish_reason == "length"
    assert usage_chunk.choices == [] and usage_chunk.usage == whole.usage


def test_completion_request_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as stop:
        client.completions.create(model=TINY, prompt="x", stop=["a", 1])  # type: ignore[list-item]
    assert stop.value.body["message"] == "invalid type for 'stop' field: float64"
    with pytest.raises(openai.BadRequestError) as suffix:
        client.completions.create(model=TINY, prompt="x", suffix="y")
    assert suffix.value.body["message"].endswith("tiny:latest does not support insert")
    with pytest.raises(openai.NotFoundError) as missing:
        client.completions.create(model="nope", prompt="x")
    assert missing.value.body["message"] == "model 'nope' not found"


# ---------------------------------------------------------------- embeddings
def test_embeddings_are_the_native_normalised_vectors_as_floats_and_base64(
    client: openai.OpenAI, native: ollama.Client
) -> None:
    inputs = ["the cat", "a dog"]
    floats = client.embeddings.create(model=TINY_EMBED, input=inputs, encoding_format="float")
    reference = native.embed(model=TINY_EMBED, input=inputs)
    assert floats.object == "list" and floats.model == TINY_EMBED
    assert [d.index for d in floats.data] == [0, 1]
    for got, want in zip(floats.data, reference.embeddings, strict=True):
        assert got.embedding == pytest.approx(want, rel=1e-5)
        assert math.isclose(math.sqrt(sum(x * x for x in got.embedding)), 1.0, rel_tol=1e-4)
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == reference.prompt_eval_count
    # The client asks for base64 by default and decodes it (numpy or struct) to floats.
    decoded = client.embeddings.create(model=TINY_EMBED, input=inputs)
    for got, want in zip(decoded.data, floats.data, strict=True):
        assert list(got.embedding) == pytest.approx(want.embedding, rel=1e-6)


def test_embedding_dimensions_and_the_empty_string(client: openai.OpenAI) -> None:
    short = client.embeddings.create(model=TINY_EMBED, input="the cat", dimensions=16, encoding_format="float")
    assert len(short.data[0].embedding) == 16
    assert math.isclose(math.sqrt(sum(x * x for x in short.data[0].embedding)), 1.0, rel_tol=1e-4)
    empty = client.embeddings.create(model=TINY_EMBED, input="", encoding_format="float")
    assert len(empty.data) == 1


def test_embedding_request_errors(client: openai.OpenAI, http: httpx.Client) -> None:
    with pytest.raises(openai.BadRequestError) as empty:
        client.embeddings.create(model=TINY_EMBED, input=[])
    assert empty.value.body["message"] == "invalid input"
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="nope", input="x")
    assert missing.value.body["message"] == 'model "nope" not found, try pulling it first'
    bad_format = http.post("/v1/embeddings", json={"model": TINY_EMBED, "input": "x", "encoding_format": "int8"})
    assert bad_format.status_code == 400
    assert bad_format.json()["error"]["message"] == (
        "Invalid value for 'encoding_format' = int8. Supported values: ['float', 'base64'].")


# ---------------------------------------------------------------- models
def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    listed = {m.id: m for m in client.models.list()}
    assert {TINY, TINY_EMBED} <= set(listed)
    assert listed[TINY].object == "model" and listed[TINY].owned_by == "library"
    assert listed[TINY].created > 1_600_000_000
    retrieved = client.models.retrieve("tiny")
    assert retrieved.id == "tiny" and retrieved.owned_by == "library"
    assert retrieved.created == listed[TINY].created
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("nope")
    assert missing.value.body["type"] == "not_found_error"


# ---------------------------------------------------------------- async client under trio
async def test_async_client_under_trio_streams_chat_and_embeds(daemon: RunningDaemon) -> None:
    async with openai.AsyncOpenAI(base_url=f"{daemon.base_url}/v1", api_key="x", timeout=60, max_retries=0) as oa:
        whole = await oa.chat.completions.create(model=TINY, messages=MESSAGES, **SAMPLING)
        stream = await oa.chat.completions.create(model=TINY, messages=MESSAGES, stream=True, **SAMPLING)
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
        assert text == whole.choices[0].message.content
        completion = await oa.completions.create(model=TINY, prompt="hello", **SAMPLING)
        assert completion.usage.completion_tokens == 8
        vectors = await oa.embeddings.create(model=TINY_EMBED, input=["a", "b"])
        assert len(vectors.data) == 2
        assert TINY in [m.id async for m in oa.models.list()]
        with pytest.raises(openai.NotFoundError):
            await oa.chat.completions.create(model="nope", messages=MESSAGES)


# ---------------------------------------------------------------- wire
def test_streamed_chat_is_sse_ending_with_done(http: httpx.Client) -> None:
    body = {"model": TINY, "messages": MESSAGES, "stream": True, **SAMPLING}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        text = response.read().decode()
    *events, done = _sse_events(text)
    assert done == "[DONE]"
    chunks = [json.loads(e) for e in events]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": chunks[0]["choices"][0]["delta"]["content"]}
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "length"}]
    assert "usage" not in chunks[-1]


def test_streamed_completion_chunks_carry_zero_usage_when_asked(http: httpx.Client) -> None:
    body = {"model": TINY, "prompt": "hi", "stream": True, "stream_options": {"include_usage": True}, **SAMPLING}
    response = http.post("/v1/completions", json=body)
    assert response.headers["content-type"] == "text/event-stream"
    *events, done = _sse_events(response.text)
    assert done == "[DONE]"
    chunks = [json.loads(e) for e in events]
    zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert all(c["usage"] == zero for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 8


def test_non_streamed_answers_are_json_and_any_api_key_is_accepted(http: httpx.Client) -> None:
    body = {"model": TINY, "messages": MESSAGES, **SAMPLING}
    for headers in ({}, {"Authorization": "Bearer sk-anything"}, {"Authorization": "garbage"}):
        response = http.post("/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["object"] == "chat.completion"


def test_empty_prompt_loads_the_model(http: httpx.Client) -> None:
    response = http.post("/v1/completions", json={"model": TINY, "prompt": ""})
    assert response.json()["choices"] == [{"text": "", "index": 0, "finish_reason": "load"}]


def test_float_base64_embeddings_are_little_endian_float32(http: httpx.Client) -> None:
    body = {"model": TINY_EMBED, "input": "the cat"}
    floats = http.post("/v1/embeddings", json={**body, "encoding_format": "float"}).json()["data"][0]["embedding"]
    b64 = http.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()["data"][0]["embedding"]
    raw = base64.b64decode(b64)
    assert len(raw) == 4 * len(floats)
    assert list(struct.unpack(f"<{len(floats)}f", raw)) == pytest.approx(floats, rel=1e-6)


@pytest.mark.parametrize(
    ("path", "body", "status", "kind", "message"),
    [
        ("/v1/chat/completions", b"", 400, "invalid_request_error", "missing request body"),
        ("/v1/chat/completions", b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}',
         400, "invalid_request_error",
         "json: cannot unmarshal string into Go struct field ChatCompletionRequest.max_tokens of type int"),
        ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "x"}]}', 400, "invalid_request_error",
         "model is required"),
        ("/v1/completions", b'{"prompt": "x"}', 404, "not_found_error", "model '' not found"),
        ("/v1/embeddings", b'{"model": "tiny-embed", "input": [1, 2]}', 400, "invalid_request_error",
         "invalid input type"),
    ],
)
def test_errors_have_openais_shape_and_status(
    http: httpx.Client, path: str, body: bytes, status: int, kind: str, message: str
) -> None:
    response = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": {"message": message, "type": kind, "param": None, "code": None}}


# ---------------------------------------------------------------- runner failures
@pytest.fixture(scope="module")
def crashy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    model = write_tiny_llama_gguf(tmp_path_factory.mktemp("crashy") / "tiny.gguf")
    running = start_daemon(tmp_path_factory.mktemp("store"), runtime=CrashingRuntime(), num_thread=1)
    try:
        upload_and_create(running.base_url, TINY, model)
        yield running
    finally:
        running.stop()


def test_a_crash_mid_stream_is_one_sse_error_event_the_client_raises(crashy: RunningDaemon) -> None:
    body = {"model": TINY, "prompt": LATE_CRASH_MARKER, "stream": True, "max_tokens": 20}
    with httpx.Client(base_url=crashy.base_url, timeout=60) as http:
        response = http.post("/v1/completions", json=body)
    assert response.status_code == 200
    *chunks, error = _sse_events(response.text)
    assert len(chunks) >= 1 and all("error" not in json.loads(c) for c in chunks)
    assert json.loads(error) == {"error": {"message": RUNNER_CRASHED, "type": "api_error", "param": None, "code": None}}
    with openai.OpenAI(base_url=f"{crashy.base_url}/v1", api_key="x", max_retries=0) as client:
        with pytest.raises(openai.APIError, match="model runner has unexpectedly stopped"):
            list(client.chat.completions.create(
                model=TINY, messages=[{"role": "user", "content": LATE_CRASH_MARKER}], stream=True, max_tokens=20
            ))


def test_a_crash_before_the_first_token_is_a_500_api_error(crashy: RunningDaemon) -> None:
    with openai.OpenAI(base_url=f"{crashy.base_url}/v1", api_key="x", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError) as error:
            client.chat.completions.create(model=TINY, messages=[{"role": "user", "content": CRASH_MARKER}],
                                           stream=True)
    assert error.value.status_code == 500
    assert error.value.body == {"message": RUNNER_CRASHED, "type": "api_error", "param": None, "code": None}
