"""Let it crash: an exception inside a Runner is restarted by its supervisor; a client
that disconnects mid-stream stops its generation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import ollama
import pytest
import structlog

from ollama_actors.kernel import WhichChildren
from ollama_actors.kernel.reply import BlockingReply
from ollama_actors.kernel.messages import call
from ollama_actors.runner.actors.runner import RUNNER_CRASHED
from tests.fixtures.crashing_runtime import CRASH_MARKER, LATE_CRASH_MARKER, CrashingRuntime
from tests.fixtures.daemon import RunningDaemon, start_daemon
from tests.fixtures.daemons import upload_and_create
from tests.fixtures.tiny_gguf import write_tiny_llama_gguf

OPTS = {"num_predict": 4, "temperature": 0, "seed": 3, "num_ctx": 512}


@pytest.fixture(scope="module")
def crashy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    model = write_tiny_llama_gguf(tmp_path_factory.mktemp("long") / "long.gguf", context_length=65536)
    running = start_daemon(tmp_path_factory.mktemp("store"), runtime=CrashingRuntime(), num_thread=1)
    try:
        upload_and_create(running.base_url, "tiny:latest", model)
        yield running
    finally:
        running.stop()


def _runner_children(daemon: RunningDaemon) -> tuple:
    supervisor = daemon.names.whereis("runner_supervisor")
    assert supervisor is not None
    reply: BlockingReply[tuple] = BlockingReply()
    call(supervisor, WhichChildren(), reply)
    return reply.wait(10)


def test_exception_inside_a_runner_is_restarted_by_its_supervisor(crashy: RunningDaemon) -> None:
    client = ollama.Client(host=crashy.base_url, timeout=60)
    assert client.generate(model="tiny", prompt="before", options=OPTS).done
    [before] = _runner_children(crashy)
    with pytest.raises(ollama.ResponseError) as crashed:
        client.generate(model="tiny", prompt=CRASH_MARKER, options=OPTS)
    assert crashed.value.status_code == 500
    assert "model runner has unexpectedly stopped" in crashed.value.error
    after = client.generate(model="tiny", prompt="after", options=OPTS)
    assert after.done and after.eval_count == 4
    [restarted] = _runner_children(crashy)
    assert restarted.id == before.id
    assert restarted.restarts == before.restarts + 1
    assert restarted.last_exit and "injected fault" in restarted.last_exit
    assert client.generate(model="tiny", prompt="again", options=OPTS).done


def test_a_crash_mid_stream_ends_the_stream_with_one_error_line(crashy: RunningDaemon) -> None:
    body = {"model": "tiny", "prompt": LATE_CRASH_MARKER, "options": {**OPTS, "num_predict": 20}}
    with httpx.Client(base_url=crashy.base_url, timeout=60) as http:
        with http.stream("POST", "/api/generate", json=body) as response:
            assert response.status_code == 200
            objects = [json.loads(line) for line in response.iter_lines() if line]
    assert all(not o.get("done") for o in objects[:-1]) and len(objects) >= 2
    assert objects[-1] == {"error": RUNNER_CRASHED}


def test_a_crash_before_the_first_token_is_a_500_in_ollamas_shape(crashy: RunningDaemon) -> None:
    with httpx.Client(base_url=crashy.base_url, timeout=60) as http:
        response = http.post("/api/generate", json={"model": "tiny", "prompt": CRASH_MARKER, "options": OPTS})
        assert response.status_code == 500
        assert response.json() == {"error": RUNNER_CRASHED}
        assert http.get("/").status_code == 200


def test_client_disconnect_mid_stream_stops_its_generation(crashy: RunningDaemon) -> None:
    cancelled = threading.Event()
    seen: list[dict] = []

    def processor(logger: object, method: str, event: dict) -> dict:
        if event.get("event") == "generation_cancelled":
            seen.append(event)
            cancelled.set()
        return event

    structlog.configure(processors=[processor, structlog.processors.KeyValueRenderer()])
    try:
        body = {"model": "tiny", "prompt": "go on forever", "options": {"num_predict": -1, "num_ctx": 65536}}
        with httpx.Client(base_url=crashy.base_url, timeout=60) as http:
            with http.stream("POST", "/api/generate", json=body) as response:
                lines = response.iter_lines()
                first = [json.loads(next(lines)) for _ in range(3)]
                assert not any(o["done"] for o in first)
            # leaving the block closes the connection mid-stream
        assert cancelled.wait(10), "the runner did not notice the client leaving"
        quick = ollama.Client(host=crashy.base_url, timeout=30).generate(model="tiny", prompt="next", options=OPTS)
        assert quick.done and quick.eval_count == 4
    finally:
        structlog.reset_defaults()
