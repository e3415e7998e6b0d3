"""The servers under test as child processes: started, awaited, inspected, always killed.

Each server runs in its own session (process group), so that stopping it also ends
what it spawned (the daemon's runner processes): SIGTERM to the group, then SIGKILL
after a deadline. ``ServerStack`` registers every start, and closing it (in a
``finally`` of the run, or on an exception) stops all of them. Output goes to log
files in the run's folder, never to pipes that could fill and stall a server.
Loopback only: every bind is 127.0.0.1 on a free port chosen at run time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "LineReader",
    "Server",
    "ServerStack",
    "create_model",
    "free_port",
    "process_children",
    "python_tool",
    "runner_pids",
    "wait_http_ok",
]

STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the OS picks it; the race until bind is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A started server: its process, loopback URL and log file."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


class ServerStack(contextlib.AbstractContextManager["ServerStack"]):
    """Starts servers (and the in-process baseline's child) and stops every one of them
    on close, in reverse order; ``kill_all`` is the last resort of a SIGTERM handler."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._servers: list[Server] = []
        self._children: list[subprocess.Popen[bytes]] = []

    @property
    def folder(self) -> Path:
        """Where the servers' logs (and the daemon's store) go."""
        return self._folder

    def start(self, name: str, argv: list[str], *, port: int, env: Mapping[str, str],
              ready_path: str, ready_timeout_s: float) -> Server:
        """Start ``argv`` in ``env`` (the whole environment), in the run's folder (so no server
        imports code from wherever the harness was started), and wait until ``GET ready_path``
        answers 200. RuntimeError if it exits first or the deadline passes (it is then stopped
        with the others when the stack closes)."""
        log = self._folder / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                env=dict(env), cwd=self._folder, start_new_session=True,
            )
        server = Server(name, process, f"http://127.0.0.1:{port}", port, log)
        self._servers.append(server)
        wait_http_ok(server, ready_path, timeout_s=ready_timeout_s)
        return server

    def run_child(self, name: str, argv: list[str], *, cwd: Path, timeout_s: float) -> str:
        """Run ``argv`` to its end (in its own process group, tracked for ``kill_all``) and return
        its stdout; its stderr goes to ours (progress lines). RuntimeError on a non-zero exit;
        ``subprocess.TimeoutExpired`` (after killing it) past ``timeout_s``."""
        out = self._folder / f"{name}.out"
        with out.open("wb") as sink:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, cwd=cwd, start_new_session=True)
        self._children.append(process)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            raise
        finally:
            if process.poll() is not None:
                self._children.remove(process)
        if process.returncode != 0:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        return out.read_text()

    def spawn(self, name: str, argv: list[str], *, cwd: Path) -> subprocess.Popen[bytes]:
        """Start a long-lived child that talks over pipes (stdin: commands, stdout: replies;
        its stderr goes to ``<name>.log`` in the run's folder), in its own process group,
        tracked: stopped by ``stop_child`` or when the stack closes, killed by ``kill_all``."""
        log = self._folder / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sink,
                                       cwd=cwd, start_new_session=True)
        self._children.append(process)
        return process

    def stop_child(self, process: subprocess.Popen[bytes]) -> None:
        """Close a spawned child's pipes and stop its process group (SIGTERM, then SIGKILL)."""
        if process in self._children:
            self._children.remove(process)
        for pipe in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        _stop_group(process)

    def kill_all(self) -> None:
        """SIGKILL every tracked process group now, without waiting (safe in a signal handler)."""
        for process in [s.process for s in self._servers] + self._children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def stop(self, server: Server) -> None:
        """SIGTERM the server's process group, SIGKILL it after ``STOP_TIMEOUT_S``."""
        if server in self._servers:
            self._servers.remove(server)
        _stop_group(server.process)

    def __exit__(self, *exc_info: object) -> None:
        for server in reversed(list(self._servers)):
            self.stop(server)
        for process in reversed(list(self._children)):
            self.stop_child(process)


class LineReader:
    """Lines from a child's stdout pipe, each awaited with a deadline (``select``, no thread)."""

    def __init__(self, process: subprocess.Popen[bytes], name: str) -> None:
        assert process.stdout is not None
        self._process = process
        self._fd = process.stdout.fileno()
        self._name = name
        self._buffer = b""

    def read_line(self, timeout_s: float) -> bytes:
        """The next line (without its newline). RuntimeError if the child closes its stdout
        (it exited) or ``timeout_s`` passes first."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{self._name} sent no reply within {timeout_s:.0f} s")
            ready, _, _ = select.select([self._fd], [], [], min(left, 1.0))
            if not ready:
                continue
            data = os.read(self._fd, 1 << 20)
            if not data:
                code = self._process.poll()
                raise RuntimeError(f"{self._name} closed its output (exit status {code})")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):  # children that outlived their leader
            os.killpg(process.pid, signal.SIGKILL)
        return


def wait_http_ok(server: Server, path: str, *, timeout_s: float) -> None:
    """Poll ``GET path`` until 200; RuntimeError if the process exits or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {server.process.returncode}; see {server.log}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(path).status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer {path} within {timeout_s:.0f} s; see {server.log}")


def create_model(base_url: str, name: str, gguf: Path, parameters: dict[str, Any]) -> None:
    """Upload ``gguf`` as a blob and ``POST /api/create`` ``name`` from it (as the official client does)."""
    digest = "sha256:" + _sha256(gguf)
    with httpx.Client(base_url=base_url, timeout=300.0) as client:
        with gguf.open("rb") as body:
            client.post(f"/api/blobs/{digest}", content=body).raise_for_status()
        response = client.post("/api/create", json={
            "model": name, "files": {gguf.name: digest}, "parameters": parameters, "stream": False,
        })
        response.raise_for_status()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def runner_pids(base_url: str) -> list[int]:
    """Pids of the daemon's runner processes, from ``GET /x/runner/tree``."""
    tree = httpx.get(f"{base_url}/x/runner/tree", timeout=10.0).json()
    found: list[int] = []

    def walk(node: dict[str, Any]) -> None:
        runner = node.get("runner")
        if runner and runner.get("pid"):
            found.append(int(runner["pid"]))
        for child in node.get("children") or ():
            walk(child)

    walk(tree)
    return found


def process_children(pid: int) -> list[int]:
    """Direct children of ``pid`` (``/proc/<pid>/task/*/children``): a fallback for runner pids."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return children


def python_tool(name: str) -> list[str]:
    """The console script ``name`` next to this interpreter, else ``python -m name``."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", name.replace("-", "_")]

