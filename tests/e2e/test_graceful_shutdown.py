"""Graceful shutdown of a real daemon process: SIGTERM during a stream lets it finish
within the grace period and exits 0; a second signal forces a quick exit; once
stopping, new requests get 503."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ollama_actors.edge.app import create_app
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.kernel.names import Names
from ollama_actors.settings import Settings
from tests.fixtures.daemons import TINY, upload_and_create

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Log:
    """The daemon's stderr, read by a thread as it comes (so the pipe never fills);
    ``wait_for`` blocks until a line containing a text arrived, or the deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(text in line for line in self.lines), timeout)


def _start(tmp_path: Path, tiny_model_path: Path, grace: int) -> tuple[subprocess.Popen[str], str, _Log]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env.update(HOME=str(tmp_path), OLLAMA_HOST=f"127.0.0.1:{port}", OLLAMA_SOCKET=str(tmp_path / "s.sock"),
               OLLAMA_ACTORS_BUNDLED_MODELS="false", OLLAMA_MODELS=str(tmp_path / "models"),
               OLLAMA_ACTORS_GRACE_PERIOD=str(grace), SLOW_STEP_S="0.4")
    process = subprocess.Popen([sys.executable, "-m", "tests.fixtures.slow_daemon"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = _Log(process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.1)
    upload_and_create(base, TINY, tiny_model_path)
    return process, base, log


class _Stream:
    """A streamed generate in a thread; ``first`` is set at its first line."""

    def __init__(self, base: str) -> None:
        self.lines: list[dict] = []  # type: ignore[type-arg]
        self.error: BaseException | None = None
        self.first = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(base,), daemon=True)
        self.thread.start()

    def _run(self, base: str) -> None:
        body = {"model": TINY, "prompt": "hello", "options": {"num_predict": 6, "temperature": 0, "seed": 1}}
        try:
            with httpx.stream("POST", f"{base}/api/generate", json=body, timeout=60) as response:
                for line in response.iter_lines():
                    if line:
                        self.lines.append(json.loads(line))
                        self.first.set()
        except BaseException as error:  # reported to the test
            self.error = error
            self.first.set()


def test_sigterm_during_a_stream_lets_it_finish_and_exits_0(tmp_path: Path, tiny_model_path: Path) -> None:
    process, base, _ = _start(tmp_path, tiny_model_path, grace=20)
    try:
        stream = _Stream(base)
        assert stream.first.wait(60) and stream.error is None
        process.send_signal(signal.SIGTERM)
        stream.thread.join(30)
        assert stream.error is None, stream.error
        assert stream.lines[0]["done"] is False  # the signal came mid-stream
        assert stream.lines[-1]["done"] is True
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_second_signal_forces_a_quick_exit(tmp_path: Path, tiny_model_path: Path) -> None:
    process, base, log = _start(tmp_path, tiny_model_path, grace=120)
    try:
        stream = _Stream(base)
        assert stream.first.wait(60) and stream.error is None
        process.send_signal(signal.SIGTERM)
        assert log.wait_for('"signal_received"', 30), log.lines[-5:]  # the first one was taken
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 128 + signal.SIGTERM
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.mark.parametrize("path", ["/", "/api/version", "/api/tags"])
async def test_new_requests_get_503_once_the_daemon_is_stopping(tmp_path: Path, path: str) -> None:
    deps = EdgeDeps(names=Names(), settings=Settings(models=tmp_path, socket=None), version="0")
    client = create_app(deps).test_client()
    assert (await client.get("/api/version")).status_code == 200
    deps.admission.draining = True
    response = await client.get(path)
    assert response.status_code == 503
    assert await response.get_json() == {"error": "server is shutting down"}
    assert response.headers["Connection"] == "close"
