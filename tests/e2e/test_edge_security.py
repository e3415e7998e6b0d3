"""Edge security against a real daemon over TCP: the allowed-host check, the API key
(with the CLI), and hostile names and paths (ollama.md §8) that must change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.daemon import RunningDaemon, start_daemon


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> RunningDaemon:
    running = start_daemon(tmp_path_factory.mktemp("store"), api_key="s3cret")
    yield running
    running.stop()


def test_a_foreign_host_header_gets_403(keyed: RunningDaemon) -> None:
    response = httpx.get(f"{keyed.base_url}/", headers={"Host": "attacker.example"}, timeout=30)
    assert response.status_code == 403


def test_without_the_key_requests_get_401_and_the_root_stays_open(keyed: RunningDaemon) -> None:
    assert httpx.get(f"{keyed.base_url}/", timeout=30).status_code == 200
    denied = httpx.get(f"{keyed.base_url}/api/tags", timeout=30)
    assert denied.status_code == 401 and denied.json() == {"error": "unauthorized"}
    ok = httpx.get(f"{keyed.base_url}/api/tags", headers={"Authorization": "Bearer s3cret"}, timeout=30)
    assert ok.status_code == 200


def test_the_cli_sends_ollama_api_key(keyed: RunningDaemon, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env.update(HOME=str(tmp_path), OLLAMA_HOST=keyed.base_url)
    cli = [sys.executable, "-m", "ollama_actors", "list"]
    refused = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "unauthorized" in refused.stderr
    env["OLLAMA_API_KEY"] = "s3cret"
    allowed = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert allowed.returncode == 0, allowed.stderr
    assert "NAME" in allowed.stdout


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/delete", {"model": "../../../../etc/passwd"}),
        ("/api/show", {"model": "../../secret"}),
        ("/api/copy", {"source": "x", "destination": "../../escape"}),
        ("/api/create", {"model": "../../escape", "from": "x"}),
        ("/api/create", {"model": "ok", "files": {"../../../etc/passwd": "sha256:" + "0" * 64}}),
        ("/api/create", {"model": "ok", "files": {"a.gguf": "sha256:../../../../etc/passwd"}}),
    ],
)
def test_hostile_names_paths_and_digests_are_refused(keyed: RunningDaemon, path: str, body: dict) -> None:  # type: ignore[type-arg]
    method = "DELETE" if path == "/api/delete" else "POST"
    store = keyed.settings.models
    before = sorted(str(p) for p in store.rglob("*"))
    response = httpx.request(method, f"{keyed.base_url}{path}", json=body, timeout=30,
                             headers={"Authorization": "Bearer s3cret"})
    assert 400 <= response.status_code < 500, response.text
    assert sorted(str(p) for p in store.rglob("*")) == before
    assert not (store.parent / "escape").exists()
    assert str(store) not in response.text  # no server paths in errors (ollama issue 13223)


def test_the_unix_socket_is_not_subject_to_the_host_check(keyed: RunningDaemon) -> None:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(keyed.socket)), base_url="http://x") as client:
        assert client.get("/").status_code == 200


def test_the_unix_socket_gets_mode_0660_and_the_configured_group(tmp_path: Path) -> None:
    import grp
    import stat

    groups = [os.getgid(), *os.getgroups()]
    name = grp.getgrgid(groups[-1]).gr_name
    daemon = start_daemon(tmp_path / "models", socket_group=name)
    try:
        info = daemon.socket.stat()
        assert stat.S_IMODE(info.st_mode) == 0o660
        assert info.st_gid == grp.getgrnam(name).gr_gid
    finally:
        daemon.stop()


def test_an_unknown_socket_group_stops_the_start_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env.update(HOME=str(tmp_path), OLLAMA_ACTORS_SOCKET_GROUP="no-such-group-oa", OLLAMA_HOST="127.0.0.1:0")
    result = subprocess.run([sys.executable, "-m", "ollama_actors", "serve"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: unknown socket group 'no-such-group-oa': name an existing group or a gid"]


def test_body_limits_hold_for_chunked_bodies_but_not_for_blob_uploads(tmp_path: Path) -> None:
    import hashlib

    daemon = start_daemon(tmp_path / "models", max_body_bytes=1024)
    try:
        def chunks():  # type: ignore[no-untyped-def]
            yield b'{"model": "x", "prompt": "'
            for _ in range(8):
                yield b"a" * 1024
            yield b'"}'

        with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
            declared = client.post("/api/generate", content=b"{" + b" " * 4096 + b"}")
            assert declared.status_code == 413 and declared.json() == {"error": "request body too large"}
            chunked = client.post("/api/generate", content=chunks())
            assert chunked.status_code == 413 and chunked.json() == {"error": "request body too large"}
            blob = b"B" * 64 * 1024
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            assert client.post(f"/api/blobs/{digest}", content=blob).status_code == 201
    finally:
        daemon.stop()
