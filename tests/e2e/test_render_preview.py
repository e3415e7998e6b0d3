"""POST /x/modelfile/render: the prompt preview is exactly the text the runner feeds the model.

Exactness is checked against the runner itself: a non-raw /api/generate returns
``context`` = the tokens of (rendered prompt + generated text), so the preview
plus the response must tokenize to exactly that context.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llama_cpp import Llama

from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.daemons import TINY

GO_TEMPLATE = (
    "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{ range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)


@pytest.fixture(scope="module")
def http(daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.base_url, timeout=120) as client:
        client.post("/api/create", json={
            "model": "tiny-go", "from": TINY, "template": GO_TEMPLATE, "system": "Be brief.",
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "stream": False,
        }).raise_for_status()
        yield client


@pytest.fixture(scope="module")
def vocab(tiny_model_path: Path) -> Llama:
    return Llama(str(tiny_model_path), vocab_only=True, verbose=False)


def _preview(http: httpx.Client, **body: Any) -> str:
    response = http.post("/x/modelfile/render", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["prompt"])


@pytest.mark.parametrize("model", [TINY, "tiny-go"])
def test_the_preview_is_the_prompt_the_runner_generates_from(http: httpx.Client, vocab: Llama, model: str) -> None:
    preview = _preview(http, model=model, prompt="what is the capital of france")
    generated = http.post("/api/generate", json={
        "model": model, "prompt": "what is the capital of france", "stream": False,
        "options": {"temperature": 0, "num_predict": 6},
    }).json()
    tokens = vocab.tokenize((preview + generated["response"]).encode(), add_bos=False, special=True)
    assert tokens == generated["context"]


def test_a_jinja_model_previews_its_chat_template(http: httpx.Client) -> None:
    assert _preview(http, model=TINY, prompt="hello") == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"


def test_a_go_template_model_renders_system_and_message_history_first(http: httpx.Client) -> None:
    """.System feeds the header, and the system message stays in .Messages too (Ollama's collate)."""
    assert _preview(http, model="tiny-go", messages=[{"role": "user", "content": "and now?"}]) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n" * 2 +
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
        "<|im_start|>user\nand now?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_system_and_template_override_the_models(http: httpx.Client) -> None:
    """A legacy template renders the model's MESSAGE turns one execution each, then the prompt."""
    prompt = _preview(http, model="tiny-go", system="Be long.", template="{{ .System }}|{{ .Prompt }}", prompt="q")
    assert prompt == "Be long.|hihello|q"


def test_a_template_alone_renders_messages_tools_and_think(http: httpx.Client) -> None:
    template = (
        "{{ if .Tools }}tools={{ .Tools }}\n{{ end }}think={{ .Think }}\n"
        "{{ range .Messages }}[{{ .Role }}] {{ .Content }}\n{{ end }}"
    )
    tool = {"type": "function", "function": {"name": "add", "description": "a+b", "parameters": {
        "type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}}}
    prompt = _preview(http, template=template, think=True, tools=[tool],
                      messages=[{"role": "user", "content": "1+1?"}])
    assert prompt.startswith('tools=[{"type":"function","function":{"name":"add"')
    assert prompt.endswith("think=true\n[user] 1+1?\n")


def test_a_suffix_renders_fill_in_the_middle(http: httpx.Client) -> None:
    prompt = _preview(http, template="<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>", prompt="def f(", suffix="return 1")
    assert prompt == "<PRE> def f( <SUF>return 1 <MID>"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"template": "{{ .Prompt"}, 400, r"template error: template: :1(:\d+)?: unclosed action"),
        ({"model": TINY, "template": "a\n{{ if .System }}"}, 400, r"template error: template: :2(:\d+)?: unexpected EOF"),
        ({"messages": []}, 400, "model or template is required"),
        ({"model": "no-such-model", "prompt": "x"}, 404, "model 'no-such-model' not found"),
    ],
)
def test_bad_requests_are_reported_with_ollamas_error_shape(
    http: httpx.Client, body: dict[str, Any], status: int, error: str
) -> None:
    response = http.post("/x/modelfile/render", json=body)
    assert response.status_code == status
    assert re.fullmatch(error, response.json()["error"]), response.json()  # template errors: line[:column]
