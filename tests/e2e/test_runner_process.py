"""Runner processes: each model lives in its own process, whose death is a message.

Faults on purpose, against a real daemon with real runner processes: SIGKILL mid
stream (three times in a row), SIGKILL while idle, a model whose process aborts on
every load, a model llama.cpp refuses, and unloading. Waits are bounded; the only
polls (with a deadline) are for "that process is gone" and "the restart happened".
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import ollama
import pytest
from gguf import GGUFWriter

from ollama_actors.runner.actors.runner import RUNNER_CRASHED
from ollama_actors.runner.adapters.runner_process import RunnerProcessRuntime
from tests.fixtures.daemon import RunningDaemon, start_daemon
from tests.fixtures.daemons import sha256_file, upload_and_create
from tests.fixtures.faulty_runtime import ABORT_LINE, AbortOnLoadRuntime
from tests.fixtures.tiny_gguf import write_tiny_llama_gguf

# Every request uses the same load options, so no request reloads the runner
# for another num_ctx; the large context keeps a generation with num_predict -1
# running far longer than any test needs to kill it.
NUM_CTX = 65536
OPTS = {"num_predict": 4, "temperature": 0, "seed": 3, "num_ctx": NUM_CTX}
DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runner-process-models")
    return {
        "tiny": write_tiny_llama_gguf(folder / "long.gguf", context_length=NUM_CTX),
        "aborts": write_tiny_llama_gguf(folder / "aborts.gguf", seed=7, context_length=NUM_CTX),
        "bogus": _write_unknown_architecture(folder / "bogus.gguf"),
    }


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> Iterator[RunningDaemon]:
    abort_hex = sha256_file(models["aborts"]).removeprefix("sha256:")
    runtime = RunnerProcessRuntime(factory=functools.partial(AbortOnLoadRuntime, abort_hex))
    running = start_daemon(tmp_path_factory.mktemp("store"), runtime=runtime, num_thread=1)
    try:
        for name, path in models.items():
            upload_and_create(running.base_url, f"{name}:latest", path)
        yield running
    finally:
        running.stop()


def _write_unknown_architecture(path: Path) -> Path:
    """A well-formed GGUF (the store accepts it) of an architecture llama.cpp lacks."""
    writer = GGUFWriter(str(path), arch="notanarch")
    writer.add_name("not-an-arch")
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _tree(daemon: RunningDaemon) -> dict[str, Any]:
    response = httpx.get(f"{daemon.base_url}/x/runner/tree", timeout=30)
    assert response.status_code == 200
    return response.json()


def _runners(daemon: RunningDaemon) -> list[dict[str, Any]]:
    [supervisor] = [c for c in _tree(daemon)["children"] if c["id"] == "runner_supervisor"]
    return supervisor["children"]


def _live_runner(daemon: RunningDaemon) -> dict[str, Any]:
    [runner] = [r for r in _runners(daemon) if r["alive"]]
    return runner


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S}s: {what}")
        time.sleep(0.02)


def _kill_mid_stream(daemon: RunningDaemon, pid: int) -> list[dict[str, Any]]:
    """Stream an endless generation, SIGKILL ``pid`` after three lines, return every line."""
    body = {"model": "tiny", "prompt": "tell me a long story", "options": {**OPTS, "num_predict": -1}}
    with httpx.Client(base_url=daemon.base_url, timeout=60) as http:
        with http.stream("POST", "/api/generate", json=body) as response:
            assert response.status_code == 200
            lines = (json.loads(line) for line in response.iter_lines() if line)
            first = [next(lines) for _ in range(3)]
            os.kill(pid, signal.SIGKILL)
            return first + list(lines)


def test_the_tree_shows_every_supervisor_and_the_runner_process(daemon: RunningDaemon) -> None:
    client = ollama.Client(host=daemon.base_url, timeout=60)
    assert client.generate(model="tiny", prompt="hello", options=OPTS).done
    tree = _tree(daemon)
    assert (tree["id"], tree["kind"], tree["alive"]) == ("root", "supervisor", True)
    children = {c["id"]: c for c in tree["children"]}
    assert list(children) == ["event_bus", "model_manager", "runner_supervisor", "scheduler", "transfer_supervisor"]
    assert children["transfer_supervisor"]["kind"] == "supervisor"
    assert children["runner_supervisor"]["kind"] == "supervisor"
    assert children["scheduler"]["kind"] == "worker" and children["scheduler"]["restart"] == "permanent"
    runner = _live_runner(daemon)
    assert runner["restart"] == "transient" and runner["state"] == "running"
    assert runner["runner"]["state"] == "ready" and len(runner["runner"]["model"]) == 64
    pid = runner["pid"]
    assert isinstance(pid, int) and pid != os.getpid() and _process_exists(pid)


def test_sigkill_mid_stream_ends_that_stream_and_the_next_request_reloads(daemon: RunningDaemon) -> None:
    """Three times over: one error line for that client, GET / answers, the next
    request succeeds on a fresh process, and the tree counts the restart."""
    client = ollama.Client(host=daemon.base_url, timeout=60)
    assert client.generate(model="tiny", prompt="warm up", options=OPTS).done
    for _ in range(3):
        before = _live_runner(daemon)
        objects = _kill_mid_stream(daemon, before["pid"])
        assert not any(o.get("done") for o in objects[:-1]) and len(objects) >= 4
        assert objects[-1]["error"].startswith(RUNNER_CRASHED)
        assert httpx.get(f"{daemon.base_url}/", timeout=10).status_code == 200
        after = client.generate(model="tiny", prompt="and now?", options=OPTS)
        assert after.done and after.eval_count == 4
        runner = _live_runner(daemon)
        assert runner["id"] == before["id"]
        assert runner["restarts"] == before["restarts"] + 1
        assert "kill" in runner["last_exit"].lower()
        assert runner["pid"] != before["pid"] and not _process_exists(before["pid"])


def test_sigkill_while_idle_restarts_the_runner_before_the_next_request(daemon: RunningDaemon) -> None:
    client = ollama.Client(host=daemon.base_url, timeout=60)
    assert client.generate(model="tiny", prompt="warm up", options=OPTS).done
    before = _live_runner(daemon)
    os.kill(before["pid"], signal.SIGKILL)

    def restarted() -> bool:
        runners = [r for r in _runners(daemon) if r["alive"] and r.get("runner")]
        return bool(runners) and runners[0]["restarts"] == before["restarts"] + 1 and runners[0]["runner"]["state"] == "ready"

    _wait_until(restarted, "the runner was restarted with a new process")
    assert _live_runner(daemon)["pid"] != before["pid"]
    assert client.generate(model="tiny", prompt="still there?", options=OPTS).eval_count == 4


def test_a_model_whose_process_aborts_on_load_fails_fast_without_a_restart_loop(daemon: RunningDaemon) -> None:
    client = ollama.Client(host=daemon.base_url, timeout=60)
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(ollama.ResponseError) as failed:
            client.generate(model="aborts", prompt="hi", options=OPTS)
        assert time.monotonic() - started < 10
        assert failed.value.status_code == 500
        assert failed.value.error == f"llama runner process has terminated: signal: aborted: {ABORT_LINE}"
    assert [r for r in _runners(daemon) if not r["alive"]] == []  # failed loads are not kept, nor restarted
    assert client.generate(model="tiny", prompt="others still work", options=OPTS).eval_count == 4


def test_a_model_llama_cpp_cannot_load_fails_with_its_load_error(daemon: RunningDaemon) -> None:
    with httpx.Client(base_url=daemon.base_url, timeout=60) as http:
        response = http.post("/api/generate", json={"model": "bogus", "prompt": "hi", "options": OPTS})
        assert response.status_code == 500
        assert response.json()["error"].startswith("unable to load model:")
        assert http.get("/").status_code == 200
    assert ollama.Client(host=daemon.base_url, timeout=60).generate(model="tiny", prompt="hi", options=OPTS).done


def test_unloading_ends_the_runner_process(daemon: RunningDaemon) -> None:
    client = ollama.Client(host=daemon.base_url, timeout=60)
    assert client.generate(model="tiny", prompt="hello", options=OPTS).done
    pid = _live_runner(daemon)["pid"]
    client.generate(model="tiny", keep_alive=0)
    _wait_until(lambda: not _process_exists(pid), f"runner process {pid} ended")
    assert not [r for r in _runners(daemon) if r["alive"]]
