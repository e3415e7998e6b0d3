"""Generation features clients rely on, through the official client and raw HTTP:
tool calls, thinking, ``format`` (JSON and JSON schema), ``suffix``, ``raw``, images
on a text-only model, and Ollama's whole option list.

The tiny model has random weights, so each claim is made deterministic:

- ``FEATURES`` is the tiny GGUF created with a Go TEMPLATE that has tools (``.Tools``,
  ``.ToolCalls`` written as bare JSON, so the tool-call tag is ``{``), thinking
  (``<think>{{ .Thinking }}</think>`` in ``range .Messages``, and a ``<think>``
  prefill when ``.Think``) and fill-in-the-middle (``.Suffix``);
- a tool call is forced with a ``format`` schema whose only outputs are calls of
  ``get_weather``; without ``tools`` the same output is plain content (the control);
- with thinking on, the prompt ends with ``<think>``, so everything the model says
  until ``</think>`` is thinking; with ``think: false`` it is content;
- ``suffix`` and chat are checked against ``raw`` generations of the prompt written
  by hand: same prompt tokens, same greedy output.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.daemons import TINY, upload_and_create

FEATURES = "tiny-features:latest"
TEMPLATE = """\
{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>
{{- else }}
{{- if .Tools }}<|im_start|>system
{{ .Tools }}<|im_end|>
{{ end }}
{{- range .Messages }}<|im_start|>{{ .Role }}
{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}
{{- if .ToolCalls }}{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}{{ end }}{{ end }}
{{- .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ if .Think }}<think>
{{ end }}
{{- end }}"""
OPTS = {"temperature": 0, "seed": 1, "num_predict": 12, "num_ctx": 1024}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CITIES = ["Paris", "London"]
CALL_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"const": "get_weather"},
        "arguments": {
            "type": "object",
            "properties": {"city": {"enum": CITIES}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "arguments"],
    "additionalProperties": False,
}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"enum": ["yes", "no", "maybe"]},
        "confidence": {"type": "integer"},  # minimum/maximum: not enforced by llama-cpp-python's converter
        "sure": {"type": "boolean"},
    },
    "required": ["answer", "confidence", "sure"],
    "additionalProperties": False,
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def features(daemon: RunningDaemon, tiny_model_path: Path) -> str:
    upload_and_create(daemon.base_url, FEATURES, tiny_model_path, template=TEMPLATE)
    return FEATURES


@pytest.fixture(scope="module")
def client(daemon: RunningDaemon) -> ollama.Client:
    return ollama.Client(host=daemon.base_url, timeout=60)


@pytest.fixture(scope="module")
def http(daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.base_url, timeout=60) as client:
        yield client


def ndjson(http: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with http.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        return [json.loads(line) for line in response.iter_lines() if line]


def valid_answer(text: str) -> dict[str, Any]:
    value = json.loads(text)
    assert list(value) == ["answer", "confidence", "sure"]
    assert value["answer"] in ("yes", "no", "maybe")
    assert isinstance(value["confidence"], int) and not isinstance(value["confidence"], bool)
    assert isinstance(value["sure"], bool)
    return value


def is_json_object_prefix(text: str) -> bool:
    """``text`` is the start of some JSON object: parsing fails only for running out."""
    if not text.startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError as error:
        if error.pos >= len(text.rstrip()):
            return True
        rest = text[error.pos + 1 :]  # an unterminated string: no closing quote after it
        return error.msg.startswith("Unterminated string") and re.search(r'(?<!\\)"', rest) is None


# ---- capabilities ---------------------------------------------------------------------------------
def test_a_template_with_tools_suffix_and_thinking_gives_those_capabilities(
    client: ollama.Client, features: str
) -> None:
    assert client.show(features).capabilities == ["completion", "tools", "insert", "thinking"]


# ---- tools ----------------------------------------------------------------------------------------
def test_a_tool_call_in_the_output_is_returned_as_tool_calls_and_not_as_content(
    client: ollama.Client, features: str
) -> None:
    response = client.chat(model=features, messages=ASK, tools=[WEATHER_TOOL], format=CALL_SCHEMA,
                           think=False, options=OPTS | {"num_predict": 200})
    assert response.done_reason == "stop"
    assert response.message.content == ""
    [call] = response.message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments["city"] in CITIES


def test_without_tools_the_same_output_is_plain_content(client: ollama.Client, features: str) -> None:
    """The control for the test above: the tool parser is what moved the text."""
    response = client.chat(model=features, messages=ASK, format=CALL_SCHEMA, think=False,
                           options=OPTS | {"num_predict": 200})
    assert response.message.tool_calls is None
    assert json.loads(response.message.content)["name"] == "get_weather"


def test_tool_calls_on_the_wire_have_ollamas_ids_indexes_and_ordered_arguments(
    http: httpx.Client, features: str
) -> None:
    body = {"model": features, "messages": ASK, "tools": [WEATHER_TOOL], "format": CALL_SCHEMA,
            "think": False, "options": OPTS | {"num_predict": 200}}
    whole = http.post("/api/chat", json={**body, "stream": False}).json()
    [call] = whole["message"]["tool_calls"]
    assert re.fullmatch(r"call_[a-z0-9]{8}", call["id"])
    assert call["function"]["index"] == 0
    assert list(call["function"]["arguments"]) == ["city", "unit"]
    lines = ndjson(http, "/api/chat", body)
    with_calls = [line for line in lines if line["message"].get("tool_calls")]
    assert len(with_calls) == 1 and with_calls[0]["message"]["content"] == ""
    streamed = with_calls[0]["message"]["tool_calls"][0]
    assert streamed["function"] == call["function"] and streamed["id"] != call["id"]
    assert "".join(line["message"]["content"] for line in lines) == ""
    assert lines[-1]["done"] is True and lines[-1]["done_reason"] == "stop"


def test_tools_on_a_model_whose_template_has_none_is_ollamas_400(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as error:
        client.chat(model=TINY, messages=ASK, tools=[WEATHER_TOOL])
    assert error.value.status_code == 400
    assert error.value.error == "registry.ollama.ai/library/tiny:latest does not support tools"


# ---- thinking -------------------------------------------------------------------------------------
def test_a_thinking_model_thinks_by_default_and_the_thoughts_go_to_thinking(
    client: ollama.Client, features: str
) -> None:
    chat = client.chat(model=features, messages=[{"role": "user", "content": "hi"}], options=OPTS)
    assert chat.message.thinking and chat.message.content == ""
    generated = client.generate(model=features, prompt="hi", options=OPTS)
    assert generated.thinking == chat.message.thinking  # same rendered prompt, same greedy output
    assert generated.response == ""


def test_think_false_leaves_the_output_as_content(client: ollama.Client, features: str) -> None:
    chat = client.chat(model=features, messages=[{"role": "user", "content": "hi"}], think=False, options=OPTS)
    assert chat.message.content and not chat.message.thinking
    generated = client.generate(model=features, prompt="hi", think=False, options=OPTS)
    assert generated.response == chat.message.content and not generated.thinking


def test_streamed_thinking_arrives_in_message_thinking_chunks(http: httpx.Client, features: str) -> None:
    body = {"model": features, "messages": [{"role": "user", "content": "hi"}], "think": True, "options": OPTS}
    lines = ndjson(http, "/api/chat", body)
    whole = http.post("/api/chat", json={**body, "stream": False}).json()
    assert "".join(line["message"].get("thinking", "") for line in lines) == whole["message"]["thinking"]
    assert all(line["message"]["content"] == "" for line in lines)
    generated = ndjson(http, "/api/generate", {"model": features, "prompt": "hi", "think": "high", "options": OPTS})
    assert "".join(line.get("thinking", "") for line in generated) == whole["message"]["thinking"]


def test_thinking_on_a_model_without_the_capability_is_ollamas_400(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as error:
        client.chat(model=TINY, messages=ASK, think=True)
    assert (error.value.status_code, error.value.error) == (400, f'"{TINY}" does not support thinking')
    assert client.chat(model=TINY, messages=ASK, think=False, options=OPTS).message.content


# ---- format ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_a_schema_format_gives_output_that_validates_against_it(
    client: ollama.Client, stream: bool
) -> None:
    options = OPTS | {"num_predict": 200}
    if stream:
        chat = "".join(c.message.content for c in client.chat(
            model=TINY, messages=ASK, format=ANSWER_SCHEMA, options=options, stream=True))
        generated = "".join(c.response for c in client.generate(
            model=TINY, prompt="Is it raining?", format=ANSWER_SCHEMA, options=options, stream=True))
    else:
        chat = client.chat(model=TINY, messages=ASK, format=ANSWER_SCHEMA, options=options).message.content
        generated = client.generate(model=TINY, prompt="Is it raining?", format=ANSWER_SCHEMA, options=options).response
    valid_answer(chat)
    valid_answer(generated)


@pytest.mark.parametrize("seed", range(4))
def test_json_format_output_is_a_json_object(client: ollama.Client, seed: int) -> None:
    """Random weights rarely close a free JSON string, so a cut-off answer must at least
    be the start of an object, and a finished one must parse as one."""
    options = {"temperature": 1.0, "seed": seed, "num_predict": 48, "num_ctx": 1024}
    for text, reason in (
        (lambda r: (r.message.content, r.done_reason))(
            client.chat(model=TINY, messages=[{"role": "user", "content": f"hi {seed}"}], format="json", options=options)),
        (lambda r: (r.response, r.done_reason))(
            client.generate(model=TINY, prompt=f"hello {seed}", format="json", options=options)),
    ):
        assert is_json_object_prefix(text), text
        if reason == "stop":
            assert isinstance(json.loads(text), dict)


def test_format_output_of_a_thinking_model_is_content(client: ollama.Client, features: str) -> None:
    """The grammar shapes the output from its first token, so none of it is thinking
    (HEAD would let the model think first, then constrain: see output_parser.py)."""
    response = client.chat(model=features, messages=ASK, format=ANSWER_SCHEMA, options=OPTS | {"num_predict": 200})
    valid_answer(response.message.content)
    assert not response.message.thinking


def test_without_format_the_same_request_is_not_json(client: ollama.Client) -> None:
    """The control: the grammar, not the model, makes the JSON above."""
    text = client.generate(model=TINY, prompt="hello 0", options={"temperature": 1.0, "seed": 0, "num_predict": 48}).response
    assert not is_json_object_prefix(text)


def test_an_invalid_format_is_rejected(http: httpx.Client) -> None:
    response = http.post("/api/generate", json={"model": TINY, "prompt": "x", "format": "yaml"})
    assert response.json() == {"error": 'invalid format: "yaml"; expected "json" or a valid JSON Schema object'}


# ---- suffix and raw -------------------------------------------------------------------------------
def test_suffix_renders_the_templates_fill_in_the_middle_prompt(client: ollama.Client, features: str) -> None:
    filled = client.generate(model=features, prompt="def add(a, b):", suffix="return c", options=OPTS)
    by_hand = client.generate(model=features, prompt="<PRE> def add(a, b): <SUF>return c <MID>", raw=True, options=OPTS)
    assert filled.prompt_eval_count == by_hand.prompt_eval_count
    assert filled.response == by_hand.response and filled.response


def test_suffix_on_a_model_without_insert_is_ollamas_400(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as error:
        client.generate(model=TINY, prompt="def f(", suffix="return x")
    assert error.value.status_code == 400
    assert error.value.error == "registry.ollama.ai/library/tiny:latest does not support insert"


def test_raw_sends_the_prompt_verbatim_and_returns_no_context(client: ollama.Client) -> None:
    chat = client.chat(model=TINY, messages=[{"role": "user", "content": "hi"}], options=OPTS)
    raw = client.generate(model=TINY, prompt="<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                          raw=True, options=OPTS)
    assert raw.response == chat.message.content
    assert raw.prompt_eval_count == chat.prompt_eval_count
    assert raw.context is None
    templated = client.generate(model=TINY, prompt="hi", options=OPTS)
    assert templated.context and templated.response == chat.message.content


@pytest.mark.parametrize("extra", [{"system": "be brief"}, {"template": "{{ .Prompt }}"}, {"context": [1, 2]}])
def test_raw_with_a_system_template_or_context_is_ollamas_400(http: httpx.Client, extra: dict[str, Any]) -> None:
    response = http.post("/api/generate", json={"model": TINY, "prompt": "x", "raw": True, **extra})
    assert response.status_code == 400
    assert response.json() == {"error": "raw mode does not support template, system, or context"}


# ---- images ---------------------------------------------------------------------------------------
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_images_for_a_model_without_vision_are_ollamas_error(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as generate_error:
        client.generate(model=TINY, prompt="what is this?", images=[PNG])
    with pytest.raises(ollama.ResponseError) as chat_error:
        client.chat(model=TINY, messages=[{"role": "user", "content": "what is this?", "images": [PNG]}])
    for error in (generate_error.value, chat_error.value):
        assert (error.status_code, error.error) == (500, "this model is missing data required for image input")


# ---- options --------------------------------------------------------------------------------------
def test_every_ollama_option_is_accepted_and_deprecated_ones_are_ignored(client: ollama.Client) -> None:
    options = {
        "num_keep": 4, "seed": 3, "num_predict": 6, "top_k": 20, "top_p": 0.8, "min_p": 0.05, "typical_p": 0.9,
        "repeat_last_n": 32, "temperature": 0.7, "repeat_penalty": 1.2, "presence_penalty": 0.5,
        "frequency_penalty": 0.5, "stop": ["\n\n"], "num_ctx": 1024, "num_batch": 256, "num_gpu": 0,
        "main_gpu": 0, "use_mmap": True, "num_thread": 1, "draft_num_predict": 0,
        # deprecated: accepted and ignored
        "mirostat": 2, "mirostat_tau": 5.0, "mirostat_eta": 0.1, "penalize_newline": True, "tfs_z": 1.0,
        "numa": False, "low_vram": False, "f16_kv": True, "logits_all": False, "vocab_only": False,
        "use_mlock": False,
    }
    first = client.generate(model=TINY, prompt="options", options=options)
    again = client.generate(model=TINY, prompt="options", options=options)
    assert first.done and first.eval_count <= 6
    assert first.response == again.response  # the seed is honoured
