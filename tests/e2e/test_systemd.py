"""systemd integration of a real daemon process: sd_notify (READY only once the port
answers, STATUS, WATCHDOG, STOPPING), socket activation (LISTEN_FDS/LISTEN_PID → the
inherited sockets are served, nothing is bound), and the unit files themselves."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ollama_actors.systemd import SystemdEnv

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0

# Puts the passed sockets at fds 3, 4, … and names this very process in LISTEN_PID,
# as systemd does, then becomes the daemon (exec keeps the pid).
ACTIVATE = """
import fcntl, os, sys
n = int(sys.argv[1]); high = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 100) for fd in sys.argv[2:2 + n]]
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i); os.close(fd)
os.environ["LISTEN_FDS"] = str(n); os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.executable, [sys.executable, "-m", "ollama_actors", "serve"])
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "NOTIFY_", "LISTEN_", "WATCHDOG_"))}
    env.update(HOME=str(tmp_path), OLLAMA_ACTORS_BUNDLED_MODELS="false", OLLAMA_MODELS=str(tmp_path / "models"),
               OLLAMA_SOCKET=str(tmp_path / "d.sock"), OLLAMA_ACTORS_GRACE_PERIOD="2", **extra)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(START_TIMEOUT)
    yield sock
    sock.close()


def _stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_ready_arrives_only_once_the_port_answers_then_stopping(tmp_path: Path, notify_socket: socket.socket) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = _env(tmp_path, OLLAMA_HOST=f"127.0.0.1:{port}", NOTIFY_SOCKET=str(tmp_path / "notify"),
               WATCHDOG_USEC="200000")
    process = subprocess.Popen([sys.executable, "-m", "ollama_actors", "serve"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        messages: list[str] = []
        while not any("READY=1" in m for m in messages):
            messages.append(notify_socket.recv(4096).decode())
            if not any("READY=1" in m for m in messages):
                assert not any("WATCHDOG=1" in m for m in messages)
        assert _answers(url), "READY=1 was sent before the port answered"
        ready = next(m for m in messages if "READY=1" in m).split("\n")
        assert any(line.startswith("STATUS=serving on") for line in ready)
        watchdogs = 0
        deadline = time.monotonic() + 10
        while watchdogs < 3 and time.monotonic() < deadline:
            watchdogs += notify_socket.recv(4096).decode().count("WATCHDOG=1")
        assert watchdogs >= 3
        process.send_signal(signal.SIGTERM)
        rest: list[str] = []
        while not any("STOPPING=1" in m for m in rest):
            rest.append(notify_socket.recv(4096).decode())
        assert process.wait(30) == 0
    finally:
        _stop(process)


def test_the_sockets_passed_with_listen_fds_are_served(tmp_path: Path) -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(64)
    unix_path = tmp_path / "activated.sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(unix_path))
    unix.listen(64)
    port = tcp.getsockname()[1]
    # The configured address is not bound: only the inherited sockets are served.
    env = _env(tmp_path, OLLAMA_HOST=f"127.0.0.1:{_free_port()}")
    process = subprocess.Popen(
        [sys.executable, "-c", ACTIVATE, "2", str(tcp.fileno()), str(unix.fileno())],
        env=env, cwd=ROOT, pass_fds=(tcp.fileno(), unix.fileno()),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(f"http://127.0.0.1:{port}/api/version"):
            assert process.poll() is None, "the daemon exited"
            assert time.monotonic() < deadline, "the inherited TCP socket was not served"
            time.sleep(0.1)
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(unix_path))) as client:
            assert client.get("http://localhost/api/version").status_code == 200
        assert not (tmp_path / "d.sock").exists()  # OLLAMA_SOCKET was not bound either
        assert _stop(process) == 0
    finally:
        _stop(process)
        tcp.close()
        unix.close()


def test_take_reads_and_clears_the_activation_variables() -> None:
    environ = {"LISTEN_FDS": "2", "LISTEN_PID": "4242", "LISTEN_FDNAMES": "a:b", "NOTIFY_SOCKET": "@x",
               "WATCHDOG_USEC": "3000000"}
    taken = SystemdEnv.take(environ, pid=4243)  # not ours: ignored, still cleared
    assert taken.listen_fds == () and "LISTEN_FDS" not in environ and "LISTEN_PID" not in environ
    assert taken.watchdog_interval_s == 1.5 and taken.notify_socket == "@x"
    assert SystemdEnv.take({}).notify("READY=1") is False


def test_notify_speaks_the_abstract_namespace() -> None:
    name = f"oa-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert SystemdEnv(notify_socket="@" + name).notify("READY=1", "STATUS=up")
        assert sock.recv(100) == b"READY=1\nSTATUS=up"


def test_systemd_analyze_accepts_both_unit_files(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (scripts/setup --test installs Debian's systemd package)")
    # As the install step does: point ExecStart at this checkout's entry point.
    service = (ROOT / "config" / "ollama-actors.service").read_text()
    service = service.replace("/opt/ollama-actors/.venv/bin/ollama-actors", str(Path(sys.executable).parent / "ollama-actors"))
    (tmp_path / "ollama-actors.service").write_text(service)
    shutil.copy(ROOT / "config" / "ollama-actors.socket", tmp_path / "ollama-actors.socket")
    result = subprocess.run([tool, "verify", str(tmp_path / "ollama-actors.service"), str(tmp_path / "ollama-actors.socket")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ollama-actors" not in result.stderr, result.stderr


async def test_status_lines_report_models_and_requests_in_flight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace
    from functools import partial

    import trio

    from ollama_actors import daemon as daemon_module
    from ollama_actors.settings import Settings

    monkeypatch.setattr(daemon_module, "STATUS_INTERVAL_S", 0.1)
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    await sock.bind(str(tmp_path / "notify"))
    settings = replace(Settings(), host="127.0.0.1", port=0, socket=None, models=tmp_path / "models",
                       bundled_models=False, grace_period_s=1.0)
    stop = trio.Event()
    seen: list[str] = []
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(daemon_module.serve_daemon, settings, stop=stop,
                                        systemd=SystemdEnv(notify_socket=str(tmp_path / "notify"))))
            while not any(m.startswith("STATUS=serving:") for m in seen):
                seen.append((await sock.recv(4096)).decode())
            stop.set()
    sock.close()
    status = next(m for m in seen if m.startswith("STATUS=serving:"))
    assert status == "STATUS=serving: 0 models loaded, 0 requests in flight"
