"""The daemon's outer contract: it serves a store written by Ollama as it is, it creates
the user's registry key under HOME, it stops cleanly on SIGTERM, and it exits non-zero
when its root supervisor gives up."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pykka
import pytest

from ollama_actors.kernel.messages import cast
from tests.fixtures.daemon import RunningDaemon, start_daemon
from tests.fixtures.ollama_store import build_ollama_store


@dataclass(frozen=True)
class NoSuchCommand:
    """A cast no actor handles: an unexpected message crashes its receiver (OTP)."""


def _wait_for_new(daemon: RunningDaemon, name: str, old: pykka.ActorRef | None, timeout: float = 10) -> pykka.ActorRef | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ref = daemon.names.whereis(name)
        if ref is not None and ref is not old:
            return ref
        if not daemon.thread.is_alive():
            return None
        time.sleep(0.01)
    raise AssertionError(f"{name} was not restarted within {timeout}s")


def test_a_store_written_by_ollama_is_served_as_it_is(tmp_path: Path) -> None:
    fixture = build_ollama_store(tmp_path / "models")
    daemon = start_daemon(tmp_path / "models")
    try:
        tags = httpx.get(f"{daemon.base_url}/api/tags", timeout=30).json()["models"]
        assert sorted(m["name"] for m in tags) == sorted(m.display for m in fixture.models.values())
        for model in tags:
            assert len(model["digest"]) == 64 and model["size"] > 0
            assert model["details"]["format"] == "gguf"
        assert set(fixture.blobs) <= {f"sha256:{p.name[7:]}" for p in (tmp_path / "models" / "blobs").iterdir()}
    finally:
        daemon.stop()


def test_daemon_reports_failure_when_the_root_supervisor_gives_up(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "models")
    scheduler = daemon.names.whereis("scheduler")
    for _ in range(4):  # the root allows 3 restarts in 10 s
        assert scheduler is not None
        cast(scheduler, NoSuchCommand())
        scheduler = _wait_for_new(daemon, "scheduler", scheduler)
        if scheduler is None:
            break
    daemon.thread.join(30)
    assert not daemon.thread.is_alive()
    assert daemon.outcome and daemon.outcome[0].root_failed is True


def test_serve_stops_cleanly_on_sigterm_and_removes_its_socket(tmp_path: Path) -> None:
    socket = tmp_path / "s.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env.update(HOME=str(tmp_path), OLLAMA_HOST="127.0.0.1:0", OLLAMA_SOCKET=str(socket),
               OLLAMA_ACTORS_BUNDLED_MODELS="false", OLLAMA_MODELS=str(tmp_path / "models"))
    process = subprocess.Popen([sys.executable, "-m", "ollama_actors", "serve"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        before: list[str] = []
        for line in process.stdout:  # bounded by the timeout of the suite and the process
            if "daemon_listening" in line:
                break
            before.append(line)
        assert socket.exists()
        key = tmp_path / ".ollama" / "id_ed25519"  # created under HOME, as `ollama serve` does
        public = (tmp_path / ".ollama" / "id_ed25519.pub").read_text()
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        assert public.startswith("ssh-ed25519 AAAA")
        printed = "".join(before)
        assert f"Couldn't find '{key}'. Generating new private key.\n" in printed
        assert f"Your new public key is: \n\n{public}\n" in printed
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://x") as client:
            assert client.get("/").text == "Ollama is running"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert not socket.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_second_daemon_refuses_a_socket_in_use(tmp_path: Path) -> None:
    first = start_daemon(tmp_path / "a")
    try:
        from ollama_actors.edge.server import prepare_unix_socket

        with pytest.raises(OSError, match="already listening"):
            prepare_unix_socket(first.socket)
    finally:
        first.stop()
