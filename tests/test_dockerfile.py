"""The Dockerfile's promises, checked without a Docker engine (none here to build it):
multi-stage, non-root, models in a volume, port 11434, a health check that needs only
Python, and every file it copies present. docs/operations.md lists what this cannot check."""

from __future__ import annotations

import http.server
import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def _instructions(text: str) -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    out = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    return out


def _stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


@pytest.fixture(scope="module")
def final() -> list[Instruction]:
    return _stages(_instructions(DOCKERFILE.read_text(encoding="utf-8")))[-1]


def _one(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, got {found}"
    return found[0]


def test_it_is_multi_stage_and_the_final_stage_has_no_compiler() -> None:
    stages = _stages(_instructions(DOCKERFILE.read_text(encoding="utf-8")))
    assert len(stages) >= 2
    assert "AS build" in stages[0][0].args
    final_runs = " ".join(i.args for i in stages[-1] if i.keyword == "RUN")
    assert not re.search(r"\b(gcc|g\+\+|cmake)\b", final_runs)


def test_the_daemon_runs_as_a_non_root_user_set_before_the_entrypoint(final: list[Instruction]) -> None:
    keywords = [i.keyword for i in final]
    user = _one(final, "USER").args.split(":")[0]
    assert user not in ("root", "0")
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    created = " ".join(i.args for i in final if i.keyword == "RUN")
    assert re.search(rf"useradd .*--uid 1000 .*\b{user}\b", created)
    assert json.loads(_one(final, "ENTRYPOINT").args) == ["ollama-actors"]
    assert json.loads(_one(final, "CMD").args) == ["serve"]


def test_port_11434_is_exposed_and_served_on_every_interface(final: list[Instruction]) -> None:
    assert _one(final, "EXPOSE").args.split() == ["11434"]
    assert _env(final)["OLLAMA_HOST"] == "0.0.0.0:11434"


def test_the_models_live_in_a_volume_owned_by_the_user(final: list[Instruction]) -> None:
    volumes = [PurePosixPath(v) for v in json.loads(_one(final, "VOLUME").args)]
    env = _env(final)
    models = PurePosixPath(env["OLLAMA_MODELS"])
    assert any(volume in models.parents or volume == models for volume in volumes)
    assert PurePosixPath(env["HOME"]) in models.parents  # ~/.ollama/models, as Ollama's image
    runs = " ".join(i.args for i in final if i.keyword == "RUN")
    for volume in volumes:
        assert str(volume) in runs, f"{volume} is not created in the image (it would be root's)"
    assert re.search(r"chown -R ollama:ollama [^&]*/home/ollama", runs)


def test_the_unix_socket_sits_in_a_directory_the_user_owns(final: list[Instruction]) -> None:
    socket_dir = str(PurePosixPath(_env(final)["OLLAMA_SOCKET"]).parent)
    runs = " ".join(i.args for i in final if i.keyword == "RUN")
    assert re.search(rf"mkdir -p [^&]*{re.escape(socket_dir)}", runs)
    assert re.search(rf"chown -R ollama:ollama [^&]*{re.escape(socket_dir)}", runs)


def test_every_file_copied_from_the_context_exists() -> None:
    copies = [i for i in _instructions(DOCKERFILE.read_text(encoding="utf-8")) if i.keyword == "COPY"]
    assert copies
    for copy in copies:
        parts = [p for p in copy.args.split() if not p.startswith("--")]
        if "--from=" in copy.args:
            continue
        for source in parts[:-1]:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"


def test_the_configuration_file_it_names_is_the_one_it_copies(final: list[Instruction]) -> None:
    config = _env(final)["OLLAMA_ACTORS_CONFIG"]
    copied = [i.args.split() for i in final if i.keyword == "COPY" and "--from=" not in i.args]
    assert [REPO / src for src, dst in copied if dst == config] == [REPO / "config" / "default.toml"]


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"Ollama is running")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _health_command(final: list[Instruction]) -> list[str]:
    check = _one(final, "HEALTHCHECK").args
    command = json.loads(check[check.index("CMD") + 3:].strip())
    assert command[:2] == ["python", "-c"], "the check must need nothing but the image's Python"
    return command


def test_the_health_check_needs_only_python_and_asks_get_root(
    final: list[Instruction], answering_port: int
) -> None:
    command = _health_command(final)
    assert "http://127.0.0.1:11434/" in command[2]
    script = command[2].replace(":11434/", f":{answering_port}/")
    assert subprocess.run([sys.executable, "-c", script], timeout=30).returncode == 0


def test_the_health_check_fails_when_nothing_answers(final: list[Instruction]) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    port = server.server_address[1]
    server.server_close()  # a port nobody listens on
    script = _health_command(final)[2].replace(":11434/", f":{port}/")
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30).returncode != 0
