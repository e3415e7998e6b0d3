"""Wire details with raw httpx: content types, NDJSON framing, Ollama's error shapes,
hostile input that must change nothing, and the unix socket."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.daemons import TINY

OPTS = {"num_predict": 4, "temperature": 0, "seed": 1, "num_ctx": 512}


@pytest.fixture(scope="module")
def http(daemon: RunningDaemon) -> httpx.Client:
    with httpx.Client(base_url=daemon.base_url, timeout=60) as client:
        yield client


def test_root_answers_like_ollama(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200 and response.text == "Ollama is running"
    assert http.head("/").status_code == 200
    assert http.get("/api/version").json()["version"]


def test_unknown_path_and_wrong_method_answer_in_plain_text(http: httpx.Client) -> None:
    missing = http.get("/api/nothing-here")
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    wrong = http.get("/api/generate")
    assert (wrong.status_code, wrong.text) == (405, "405 method not allowed")


def test_streamed_generate_is_ndjson_one_object_per_line(http: httpx.Client) -> None:
    with http.stream("POST", "/api/generate", json={"model": TINY, "prompt": "hi", "options": OPTS}) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [line for line in response.iter_lines() if line]
    objects = [json.loads(line) for line in lines]
    assert all(o["model"] == TINY for o in objects)
    assert [o["done"] for o in objects] == [False] * (len(objects) - 1) + [True]
    assert objects[-1]["created_at"].endswith("Z")


def test_non_streamed_response_is_one_json_object(http: httpx.Client) -> None:
    response = http.post("/api/chat", json={"model": TINY, "messages": [{"role": "user", "content": "hi"}],
                                            "stream": False, "options": OPTS})
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["done"] is True and body["message"]["role"] == "assistant"


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/generate", b"", 400, "missing request body"),
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/generate", b"{not json", 400, None),
        ("/api/generate", b"[1, 2]", 400, None),
        ("/api/generate", json.dumps({"model": TINY, "prompt": 5}).encode(), 400, None),
        ("/api/generate", json.dumps({"model": TINY, "prompt": "x", "options": {"temperature": "hot"}}).encode(),
         400, 'option "temperature" must be of type float32'),
        ("/api/generate", json.dumps({"model": TINY, "prompt": "x", "keep_alive": "3600"}).encode(),
         400, 'time: missing unit in duration "3600"'),
        ("/api/generate", json.dumps({"model": TINY, "prompt": "x", "keep_alive": True}).encode(), 400, None),
        ("/api/generate", json.dumps({"model": "bad name!", "prompt": "x"}).encode(), 400, "invalid model name"),
        ("/api/generate", json.dumps({"model": TINY, "prompt": "x", "top_logprobs": 50}).encode(),
         400, "top_logprobs must be between 0 and 20"),
        ("/api/generate", json.dumps({"model": TINY, "prompt": "x", "raw": True, "system": "s"}).encode(),
         400, "raw mode does not support template, system, or context"),
        ("/api/generate", json.dumps({"model": TINY, "prompt": "x", "format": "yaml"}).encode(), 400, None),
        ("/api/chat", json.dumps({"model": "", "messages": []}).encode(), 400, "model is required"),
        ("/api/chat", json.dumps({"model": TINY, "messages": "hi"}).encode(), 400, None),
        ("/api/embed", json.dumps({"model": TINY, "input": 5}).encode(), 400, "invalid input type"),
        ("/api/show", json.dumps({}).encode(), 400, "model is required"),
        ("/api/create", json.dumps({"model": "x"}).encode(), 400, "neither 'from' or 'files' was specified"),
        ("/api/create", json.dumps({"model": "x", "files": {"../evil.gguf": "sha256:" + "a" * 64}}).encode(),
         400, "file path must be relative"),
        ("/api/create", json.dumps({"model": "x", "files": {"m.gguf": "nope"}}).encode(), 400, "invalid digest format"),
        ("/api/create", json.dumps({"model": "x", "from": TINY, "template": "{{ .Prompt"}).encode(), 400, None),
        ("/api/copy", json.dumps({"source": TINY, "destination": "bad name!"}).encode(), 400,
         'destination "bad name!" is invalid'),
        ("/api/copy", json.dumps({"source": "missing", "destination": "y"}).encode(), 404, 'model "missing" not found'),
    ],
)
def test_bad_input_gets_ollamas_error_shape(
    http: httpx.Client, path: str, body: bytes, status: int, error: str | None
) -> None:
    before = http.get("/api/tags").json()
    response = http.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error"} and isinstance(payload["error"], str) and payload["error"]
    if error is not None:
        assert payload["error"] == error
    assert http.get("/api/tags").json() == before  # nothing changed


def test_blob_endpoints_validate_digests_and_verify_content(http: httpx.Client) -> None:
    data = b"GGUF-not-really-a-model"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert http.head("/api/blobs/sha256:bad").status_code == 400
    assert http.post("/api/blobs/../../etc/passwd", content=data).status_code in (400, 404)
    missing = http.head(f"/api/blobs/{digest}")
    assert missing.status_code == 404
    wrong = http.post(f"/api/blobs/sha256:{'0' * 64}", content=data)
    assert wrong.status_code == 400
    assert wrong.json()["error"].startswith('digest mismatch, expected "sha256:000')
    assert http.head(f"/api/blobs/sha256:{'0' * 64}").status_code == 404
    assert http.post(f"/api/blobs/{digest}", content=data).status_code == 201
    assert http.head(f"/api/blobs/{digest}").status_code == 200
    assert http.post(f"/api/blobs/{digest}", content=data).status_code == 200  # already there


def test_create_from_a_blob_that_is_not_gguf_is_rejected(http: httpx.Client) -> None:
    data = b"definitely not a gguf file"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    http.post(f"/api/blobs/{digest}", content=data)
    response = http.post("/api/create", json={"model": "broken", "files": {"x.gguf": digest}})
    assert response.status_code == 400
    assert "broken:latest" not in [m["name"] for m in http.get("/api/tags").json()["models"]]


def test_the_unix_socket_serves_the_same_api(daemon: RunningDaemon) -> None:
    transport = httpx.HTTPTransport(uds=str(daemon.socket))
    with httpx.Client(transport=transport, base_url="http://localhost", timeout=30) as client:
        assert client.get("/").text == "Ollama is running"
        assert TINY in [m["name"] for m in client.get("/api/tags").json()["models"]]
    assert (daemon.socket.stat().st_mode & 0o777) == 0o660  # owner and its group, nobody else


def test_an_error_before_the_body_was_read_does_not_stall_the_connection(http: httpx.Client) -> None:
    """Regression: a 404 to a POST with a body left the body unread and the next request
    on the same keep-alive connection hung."""
    for _ in range(20):
        missing = http.post("/api/no-such-endpoint", content=b"x" * 50_000)
        assert missing.status_code == 404
        assert missing.headers.get("connection") == "close"
        assert http.head("/").status_code == 200
