"""The official ``ollama`` client against a real daemon: the issue's user journey.

Upload a GGUF blob, create a model, generate and chat (streamed and not), embed,
list, show, see it in ps, copy and delete, and get Ollama's errors.
"""

from __future__ import annotations

import math
from pathlib import Path

import ollama
import pytest

from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.daemons import TINY, TINY_EMBED

OPTS = {"num_predict": 8, "temperature": 0, "seed": 42, "num_ctx": 512}


@pytest.fixture(scope="module")
def client(daemon: RunningDaemon) -> ollama.Client:
    return ollama.Client(host=daemon.base_url, timeout=60)


def test_client_uploads_a_blob_and_creates_a_model_from_it(client: ollama.Client, tiny_model_path: Path) -> None:
    digest = client.create_blob(tiny_model_path)
    assert digest.startswith("sha256:")
    progress = list(client.create(model="made-by-client", files={"tiny.gguf": digest}, system="Be brief.", stream=True))
    statuses = [p.status for p in progress]
    assert statuses[0] == "parsing GGUF"
    assert "writing manifest" in statuses and statuses[-1] == "success"
    shown = client.show("made-by-client")
    assert "SYSTEM Be brief." in shown.modelfile
    assert shown.details.family == "llama"
    client.delete("made-by-client")


def test_generate_without_streaming_returns_ollamas_final_fields(client: ollama.Client) -> None:
    response = client.generate(model=TINY, prompt="hello there", options=OPTS)
    assert response.done is True
    assert response.done_reason == "length"
    assert response.eval_count == 8
    assert response.prompt_eval_count and response.prompt_eval_count > 0
    for field in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(getattr(response, field), int)
    assert response.total_duration >= response.eval_duration
    assert response.context and all(isinstance(t, int) for t in response.context)
    assert isinstance(response.response, str) and response.response


def test_generate_is_deterministic_with_a_seed_and_streams_the_same_text(client: ollama.Client) -> None:
    whole = client.generate(model=TINY, prompt="once upon a time", options=OPTS).response
    parts = list(client.generate(model=TINY, prompt="once upon a time", options=OPTS, stream=True))
    assert parts[-1].done is True and parts[-1].done_reason == "length"
    assert all(not p.done for p in parts[:-1])
    assert "".join(p.response for p in parts) == whole


def test_generate_context_continues_a_conversation(client: ollama.Client) -> None:
    first = client.generate(model=TINY, prompt="one", options=OPTS)
    second = client.generate(model=TINY, prompt="two", context=first.context, options=OPTS)
    assert second.prompt_eval_count > first.prompt_eval_count


def test_chat_streams_and_not_streams(client: ollama.Client) -> None:
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}]
    whole = client.chat(model=TINY, messages=messages, options=OPTS)
    assert whole.message.role == "assistant" and whole.message.content
    assert whole.done_reason == "length" and whole.eval_count == 8
    chunks = list(client.chat(model=TINY, messages=messages, options=OPTS, stream=True))
    assert chunks[-1].done and chunks[-1].message.content == ""
    assert "".join(c.message.content for c in chunks) == whole.message.content


def test_stop_sequence_ends_generation_with_stop(client: ollama.Client) -> None:
    free = client.generate(model=TINY, prompt="abc", options={**OPTS, "num_predict": 16}).response
    assert len(free) > 2
    stop_at = free[1:3]
    stopped = client.generate(model=TINY, prompt="abc", options={**OPTS, "num_predict": 16, "stop": [stop_at]})
    assert stopped.done_reason == "stop"
    assert stop_at not in stopped.response


def test_embed_returns_normalised_vectors_in_input_order(client: ollama.Client) -> None:
    response = client.embed(model=TINY_EMBED, input=["the cat", "a dog", "the cat"])
    vectors = response.embeddings
    assert len(vectors) == 3 and len(vectors[0]) == 64
    for v in vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-4)
    assert vectors[0] == pytest.approx(vectors[2])
    assert vectors[0] != pytest.approx(vectors[1])
    truncated = client.embed(model=TINY_EMBED, input="the cat", dimensions=16)
    assert len(truncated.embeddings[0]) == 16


def test_legacy_embeddings_endpoint(client: ollama.Client) -> None:
    response = client.embeddings(model=TINY_EMBED, prompt="the cat")
    assert len(response.embedding) == 64


def test_list_show_and_ps(client: ollama.Client) -> None:
    names = [m.model for m in client.list().models]
    assert TINY in names and TINY_EMBED in names
    shown = client.show(TINY)
    assert shown.details.format == "gguf"
    assert shown.capabilities == ["completion"]
    assert shown.modelinfo["general.architecture"] == "llama"
    assert shown.modelfile.startswith('# Modelfile generated by "ollama show"')
    embed_caps = client.show(TINY_EMBED).capabilities
    assert embed_caps == ["embedding"]
    client.generate(model=TINY, prompt="warm up", options=OPTS)
    running = {m.model: m for m in client.ps().models}
    assert TINY in running
    assert running[TINY].context_length == 512
    assert running[TINY].expires_at is not None


def test_copy_then_delete(client: ollama.Client) -> None:
    client.copy(TINY, "tiny-copy:v1")
    assert "tiny-copy:v1" in [m.model for m in client.list().models]
    assert client.generate(model="tiny-copy:v1", prompt="x", options=OPTS).done
    client.delete("tiny-copy:v1")
    assert "tiny-copy:v1" not in [m.model for m in client.list().models]
    assert TINY in [m.model for m in client.list().models]  # shared blobs survive


def test_unknown_model_errors_are_ollamas(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as generate_error:
        client.generate(model="nope", prompt="x")
    assert generate_error.value.status_code == 404
    assert generate_error.value.error == "model 'nope' not found"
    with pytest.raises(ollama.ResponseError) as chat_error:
        client.chat(model="nope", messages=[{"role": "user", "content": "x"}])
    assert chat_error.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as show_error:
        client.show("nope")
    assert show_error.value.error == "model 'nope:latest' not found"
    with pytest.raises(ollama.ResponseError) as delete_error:
        client.delete("nope")
    assert delete_error.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as embed_error:
        client.embed(model="nope", input="x")
    assert embed_error.value.error == 'model "nope" not found, try pulling it first'


def test_embedding_model_cannot_generate(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as error:
        client.generate(model=TINY_EMBED, prompt="x")
    assert error.value.status_code == 400
    assert error.value.error == f'"{TINY_EMBED}" does not support generate'


def test_empty_prompt_loads_and_keep_alive_zero_unloads(client: ollama.Client) -> None:
    loaded = client.generate(model=TINY, prompt="")
    assert loaded.done_reason == "load"
    assert TINY in [m.model for m in client.ps().models]
    unloaded = client.generate(model=TINY, prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert TINY not in [m.model for m in client.ps().models]


async def test_async_client_streams_a_chat(daemon: RunningDaemon) -> None:
    client = ollama.AsyncClient(host=daemon.base_url, timeout=60)
    stream = await client.chat(model=TINY, messages=[{"role": "user", "content": "hi"}], options=OPTS, stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].done and chunks[-1].eval_count == 8
    listed = await client.list()
    assert TINY in [m.model for m in listed.models]
