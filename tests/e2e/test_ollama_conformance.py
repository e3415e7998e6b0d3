"""Conformance: every method of the official ``ollama`` client (0.6.x) against the daemon.

The client's public surface, sync and async, is listed from the installed
package and checked below method by method, so a method added to the client
shows up here as a failing coverage test. ``web_search``/``web_fetch`` talk to
ollama.com, not to the daemon, and are out of scope. ``systemone`` posts to
``/v1/systemone``, which the Ollama reference does not describe; the daemon
answers it as Ollama answers any unknown path (404). ``pull``/``push`` run
against a real registry (Debian's docker-registry on loopback) and against an
unreachable one.

Then the wire itself with raw httpx: NDJSON framing, how a stream ends, the
timestamp formats and the version string.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import ollama
import pytest

from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.daemons import TINY, TINY_EMBED
from tests.fixtures.registry import RunningRegistry

OPTS = {"num_predict": 6, "temperature": 0, "seed": 1}
NOT_THE_DAEMON = {"web_search", "web_fetch"}  # ollama.com cloud APIs
COVERED = {"generate", "chat", "embed", "embeddings", "create", "create_blob", "list", "show", "ps", "copy",
           "delete", "pull", "push", "systemone"}
UNREACHABLE_REGISTRY = "127.0.0.1:9/library/tiny:latest"  # nothing listens on port 9


def _public_methods(cls: type) -> set[str]:
    return {
        name for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(member) and name != "close"
    }


@pytest.fixture(scope="module")
def client(daemon: RunningDaemon) -> Iterator[ollama.Client]:
    with ollama.Client(host=daemon.base_url, timeout=60) as client:
        yield client


@pytest.fixture
async def aclient(daemon: RunningDaemon) -> AsyncIterator[ollama.AsyncClient]:
    async with ollama.AsyncClient(host=daemon.base_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def http(daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.base_url, timeout=60) as client:
        yield client


def test_every_client_method_is_covered() -> None:
    for cls in (ollama.Client, ollama.AsyncClient):
        assert _public_methods(cls) - NOT_THE_DAEMON == COVERED, cls.__name__


# --- the sync Client ------------------------------------------------------------------------


def test_generate(client: ollama.Client) -> None:
    whole = client.generate(model=TINY, prompt="hi", options=OPTS, keep_alive="1m")
    assert isinstance(whole, ollama.GenerateResponse)
    assert whole.done and whole.done_reason == "length" and whole.eval_count == 6
    assert whole.model == TINY and whole.context
    parts = list(client.generate(model=TINY, prompt="hi", options=OPTS, stream=True))
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert "".join(p.response for p in parts) == whole.response
    raw = client.generate(model=TINY, prompt="<|im_start|>user\nhi", raw=True, options=OPTS)
    assert raw.done and raw.context is None
    shaped = client.generate(model=TINY, prompt="json please", format="json", options={**OPTS, "num_predict": 12})
    assert shaped.response.lstrip().startswith("{")


def test_chat(client: ollama.Client) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
    whole = client.chat(model=TINY, messages=messages, options=OPTS)
    assert isinstance(whole, ollama.ChatResponse)
    assert whole.message.role == "assistant" and whole.message.content
    assert whole.done and whole.done_reason == "length"
    parts = list(client.chat(model=TINY, messages=messages, options=OPTS, stream=True))
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="no-such-model", messages=messages)
    assert missing.value.status_code == 404 and "not found" in missing.value.error


def test_embed_and_embeddings(client: ollama.Client) -> None:
    embedded = client.embed(model=TINY_EMBED, input=["first", "second"])
    assert isinstance(embedded, ollama.EmbedResponse)
    assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) > 0
    assert embedded.prompt_eval_count and embedded.prompt_eval_count > 0
    single = client.embed(model=TINY_EMBED, input="first")
    assert single.embeddings[0] == pytest.approx(embedded.embeddings[0], abs=1e-5)
    legacy = client.embeddings(model=TINY_EMBED, prompt="first")
    assert isinstance(legacy, ollama.EmbeddingsResponse) and len(legacy.embedding) == len(single.embeddings[0])


def test_create_blob_create_show_copy_list_delete(client: ollama.Client, tiny_model_path: Path) -> None:
    digest = client.create_blob(tiny_model_path)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    final = client.create(model="conformance", files={"tiny.gguf": digest}, system="Be kind.",
                          parameters={"temperature": 0.5, "stop": ["<|im_end|>"]}, stream=False)
    assert isinstance(final, ollama.ProgressResponse) and final.status == "success"
    streamed = list(client.create(model="conformance-2", from_="conformance", template="{{ .Prompt }}", stream=True))
    assert streamed[-1].status == "success"
    shown = client.show("conformance-2")
    assert isinstance(shown, ollama.ShowResponse)
    assert shown.template == "{{ .Prompt }}" and "SYSTEM Be kind." in (shown.modelfile or "")
    assert shown.details and shown.details.format == "gguf" and shown.modelinfo
    assert isinstance(shown.modified_at, datetime) and "completion" in (shown.capabilities or [])
    assert client.copy("conformance-2", "conformance-3").status == "success"
    names = {m.model for m in client.list().models}
    assert {"conformance:latest", "conformance-2:latest", "conformance-3:latest"} <= names
    for name in ("conformance", "conformance-2", "conformance-3"):
        assert client.delete(name).status == "success"
    assert "conformance:latest" not in {m.model for m in client.list().models}
    with pytest.raises(ollama.ResponseError) as gone:
        client.delete("conformance")
    assert gone.value.status_code == 404


def test_list_and_ps(client: ollama.Client) -> None:
    listed = client.list()
    assert isinstance(listed, ollama.ListResponse)
    tiny = next(m for m in listed.models if m.model == TINY)
    assert tiny.size and tiny.digest and len(tiny.digest) == 64 and isinstance(tiny.modified_at, datetime)
    client.generate(model=TINY, prompt="", keep_alive="5m")
    running = client.ps()
    assert isinstance(running, ollama.ProcessResponse)
    entry = next(m for m in running.models if m.model == TINY)
    assert entry.expires_at and entry.expires_at > datetime.now(timezone.utc)
    assert entry.size and entry.details and entry.details.family == "llama"


def test_systemone_is_an_unknown_path(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as unknown:
        client.systemone(model=TINY, state="s", questions={})
    assert unknown.value.status_code == 404


def test_push_and_pull(client: ollama.Client, registry: RunningRegistry) -> None:
    remote = f"{registry.host}/conformance/tiny:sync"
    client.copy(TINY, remote)
    try:
        pushed = list(client.push(remote, insecure=True, stream=True))
        assert pushed[0].status == "retrieving manifest" and pushed[-1].status == "success"
        assert any(p.status.startswith("pushing ") and p.digest and p.completed == p.total for p in pushed)
        assert client.push(remote, insecure=True).status == "success"
        client.delete(remote)
        assert client.pull(remote, insecure=True).status == "success"
        pulled = list(client.pull(remote, insecure=True, stream=True))
        assert pulled[0].status == "pulling manifest" and pulled[-1].status == "success"
        assert client.show(remote).details.family == "llama"
    finally:
        client.delete(remote)


def test_pull(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as failed:
        client.pull(UNREACHABLE_REGISTRY, insecure=True)
    assert failed.value.status_code != 404 and "connection refused" in failed.value.error


def test_push(client: ollama.Client) -> None:
    client.copy(TINY, UNREACHABLE_REGISTRY)
    try:
        with pytest.raises(ollama.ResponseError) as failed:
            client.push(UNREACHABLE_REGISTRY, insecure=True)
        assert failed.value.status_code != 404 and "connection refused" in failed.value.error
    finally:
        client.delete(UNREACHABLE_REGISTRY)


# --- the AsyncClient ------------------------------------------------------------------------


async def test_async_generate_and_chat(aclient: ollama.AsyncClient) -> None:
    whole = await aclient.generate(model=TINY, prompt="hi", options=OPTS)
    assert whole.done and whole.eval_count == 6
    parts = [p async for p in await aclient.generate(model=TINY, prompt="hi", options=OPTS, stream=True)]
    assert "".join(p.response for p in parts) == whole.response and parts[-1].done
    chat = await aclient.chat(model=TINY, messages=[{"role": "user", "content": "hi"}], options=OPTS)
    assert chat.message.role == "assistant" and chat.done
    chunks = [c async for c in await aclient.chat(model=TINY, messages=[{"role": "user", "content": "hi"}],
                                                   options=OPTS, stream=True)]
    assert "".join(c.message.content or "" for c in chunks) == chat.message.content


async def test_async_embed_and_embeddings(aclient: ollama.AsyncClient) -> None:
    embedded = await aclient.embed(model=TINY_EMBED, input=["a", "b"])
    assert len(embedded.embeddings) == 2
    legacy = await aclient.embeddings(model=TINY_EMBED, prompt="a")  # not normalised, as Ollama's
    assert len(legacy.embedding) == len(embedded.embeddings[0])


async def test_async_model_management(aclient: ollama.AsyncClient, tiny_model_path: Path) -> None:
    digest = await aclient.create_blob(tiny_model_path)
    progress = [p async for p in await aclient.create(model="async-made", files={"t.gguf": digest}, stream=True)]
    assert progress[-1].status == "success"
    assert (await aclient.show("async-made")).details.family == "llama"
    assert (await aclient.copy("async-made", "async-copy")).status == "success"
    digests = {m.model: m.digest for m in (await aclient.list()).models}
    assert digests["async-made:latest"] == digests["async-copy:latest"]  # a copy is the same manifest
    await aclient.generate(model="async-copy", prompt="")
    # Ollama keys runners by model file: a copy may be served by the runner of another name.
    assert digests["async-copy:latest"] in {m.digest for m in (await aclient.ps()).models}
    await aclient.generate(model="async-copy", prompt="", keep_alive=0)
    for name in ("async-made", "async-copy"):
        assert (await aclient.delete(name)).status == "success"


async def test_async_systemone_is_an_unknown_path(aclient: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as unknown:
        await aclient.systemone(model=TINY, state="s", questions={})
    assert unknown.value.status_code == 404


async def test_async_push_and_pull(aclient: ollama.AsyncClient, registry: RunningRegistry) -> None:
    remote = f"{registry.host}/conformance/tiny:async"
    await aclient.copy(TINY, remote)
    try:
        pushed = [p async for p in await aclient.push(remote, insecure=True, stream=True)]
        assert pushed[-1].status == "success"
        await aclient.delete(remote)
        pulled = [p async for p in await aclient.pull(remote, insecure=True, stream=True)]
        assert pulled[0].status == "pulling manifest" and pulled[-1].status == "success"
        assert (await aclient.pull(remote, insecure=True)).status == "success"
    finally:
        await aclient.delete(remote)


async def test_async_pull(aclient: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as failed:
        await aclient.pull(UNREACHABLE_REGISTRY, insecure=True)
    assert failed.value.status_code != 404 and "connection refused" in failed.value.error


async def test_async_push(aclient: ollama.AsyncClient) -> None:
    await aclient.copy(TINY, UNREACHABLE_REGISTRY)
    try:
        with pytest.raises(ollama.ResponseError) as failed:
            await aclient.push(UNREACHABLE_REGISTRY, insecure=True)
        assert failed.value.status_code != 404 and "connection refused" in failed.value.error
    finally:
        await aclient.delete(UNREACHABLE_REGISTRY)


# --- the wire, with raw httpx ------------------------------------------------------------------


def _stream_lines(http: httpx.Client, path: str, body: dict) -> tuple[httpx.Response, bytes]:
    with http.stream("POST", path, json=body) as response:
        return response, response.read()


STREAMS = [
    ("/api/generate", {"model": TINY, "prompt": "hi", "options": OPTS}),
    ("/api/chat", {"model": TINY, "messages": [{"role": "user", "content": "hi"}], "options": OPTS}),
    ("/api/create", {"model": "wire-made", "from": TINY, "system": "x"}),
    ("/api/generate", {"model": TINY, "prompt": "hi", "options": {"num_predict": 3, "stop": 5}}),  # bad option
]


@pytest.mark.parametrize(("path", "body"), STREAMS)
def test_streams_are_ndjson_without_blank_lines_and_end_with_done_or_error(
    http: httpx.Client, path: str, body: dict
) -> None:
    response, data = _stream_lines(http, path, body)
    if response.status_code != 200:  # failed before streaming: one JSON error object
        assert response.headers["content-type"].startswith("application/json")
        assert set(json.loads(data)) == {"error"}
        return
    assert response.headers["content-type"] == "application/x-ndjson"
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    assert lines and all(lines), "no blank lines"
    objects = [json.loads(line) for line in lines]
    last = objects[-1]
    if path == "/api/create":
        assert last == {"status": "success"} or "error" in last
        http.request("DELETE", "/api/delete", json={"model": "wire-made"})
    else:
        assert last.get("done") is True or "error" in last
        assert not any(o.get("done") for o in objects[:-1])


def test_a_load_only_generate_is_one_json_object_as_in_ollama(http: httpx.Client) -> None:
    response = http.post("/api/generate", json={"model": TINY, "prompt": ""})  # stream defaults to true
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["done"] is True and body["done_reason"] == "load" and body["response"] == ""


def test_timestamps_parse_with_fromisoformat(http: httpx.Client) -> None:
    http.post("/api/generate", json={"model": TINY, "prompt": "", "keep_alive": "2m"}).raise_for_status()
    now = datetime.now(timezone.utc)
    for model in http.get("/api/ps").json()["models"]:
        expires = datetime.fromisoformat(model["expires_at"])
        assert expires.tzinfo is not None and expires > now
    for model in http.get("/api/tags").json()["models"]:
        modified = datetime.fromisoformat(model["modified_at"])
        assert modified.tzinfo is not None and modified <= now
    shown = http.post("/api/show", json={"model": TINY}).json()
    assert datetime.fromisoformat(shown["modified_at"]).tzinfo is not None
    generated = http.post("/api/generate", json={"model": TINY, "prompt": "", "stream": False}).json()
    assert generated["created_at"].endswith("Z") and datetime.fromisoformat(generated["created_at"])


def test_version_is_a_dotted_version(http: httpx.Client) -> None:
    response = http.get("/api/version")
    assert response.status_code == 200
    assert set(response.json()) == {"version"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([-+.][0-9A-Za-z.-]+)?", response.json()["version"])
