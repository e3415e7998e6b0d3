"""Edge security: Ollama's CORS rules and allowed-host check, the optional API key,
body limits, and regressions for the past Ollama vulnerability classes (ollama.md §8)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ollama_actors.edge.app import create_app
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.security import BAD_ORIGIN, CorsPolicy, host_allowed
from ollama_actors.kernel.names import Names
from ollama_actors.settings import Settings, load_settings


def _app(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    settings = replace(Settings(models=tmp_path / "models", socket=None), **overrides)  # type: ignore[arg-type]
    return create_app(EdgeDeps(names=Names(), settings=settings, version="0.0.0"))


# --- CORS -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    ["http://localhost", "https://localhost:3000", "http://127.0.0.1:8080", "http://0.0.0.0",
     "app://obsidian.md", "file://x", "tauri://localhost", "vscode-webview://abc", "vscode-file://vscode-app"],
)
def test_the_builtin_origins_are_allowed(origin: str) -> None:
    assert CorsPolicy.from_origins(()).allows(origin)


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost.evil.example", "null", "https://127.0.0.2"])
def test_foreign_origins_are_refused_by_default(origin: str) -> None:
    assert not CorsPolicy.from_origins(()).allows(origin)


def test_ollama_origins_adds_exact_and_wildcard_entries() -> None:
    policy = CorsPolicy.from_origins(("https://app.example", "chrome-extension://*", "*.example.org"))
    assert policy.allows("https://app.example")
    assert policy.allows("chrome-extension://abcdef")
    assert policy.allows("https://x.example.org")
    assert not policy.allows("https://app.example.evil")
    assert CorsPolicy.from_origins(("*",)).allows("http://anything.example")


@pytest.mark.parametrize("entry", ["example.com", "ftp://example.com", "localhost:3000"])
def test_a_malformed_origin_stops_the_start_with_ollamas_message(entry: str) -> None:
    with pytest.raises(ValueError) as raised:
        CorsPolicy.from_origins((entry,))
    assert str(raised.value) == BAD_ORIGIN


def test_two_wildcards_in_one_origin_are_refused() -> None:
    with pytest.raises(ValueError, match="only one"):
        CorsPolicy.from_origins(("http://*.a.*",))


def test_serve_exits_2_with_one_line_for_a_bad_origin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from ollama_actors.daemon import serve

    monkeypatch.setenv("OLLAMA_ORIGINS", "example.com")
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path))
    code = serve(argparse.Namespace(host=None, models=None, socket=None, config=None))
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"Error: {BAD_ORIGIN}\n"


async def test_a_disallowed_origin_gets_403_and_an_allowed_one_is_echoed(tmp_path: Path) -> None:
    client = _app(tmp_path, origins=("https://app.example",)).test_client()
    refused = await client.get("/api/version", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403
    assert await refused.get_data() == b""
    allowed = await client.get("/api/version", headers={"Origin": "https://app.example"})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Origin" in allowed.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in allowed.headers


async def test_an_allowed_preflight_is_answered_204_with_ollamas_headers(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    response = await client.options(
        "/api/chat", headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "X-Stainless-Timeout" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Max-Age"] == "43200"


# --- allowed hosts (DNS rebinding, CVE-2024-28224) ---------------------------------


@pytest.mark.parametrize(
    "host",
    ["", "localhost", "localhost:11434", "127.0.0.1:11434", "[::1]:11434", "10.1.2.3", "192.168.0.5:80",
     "0.0.0.0", "myhost", "MyHost:11434", "box.local", "svc.internal", "app.localhost"],
)
def test_local_hosts_pass(host: str) -> None:
    assert host_allowed(host, hostname="myhost")


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:11434", "8.8.8.8", "localhost.evil.com", "local"])
def test_foreign_hosts_are_refused(host: str) -> None:
    assert not host_allowed(host, hostname="myhost")


async def test_a_foreign_host_gets_403_when_bound_to_loopback(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    response = await client.get("/api/version", headers={"Host": "attacker.example"})
    assert response.status_code == 403
    assert await response.get_data() == b""
    assert (await client.get("/api/version", headers={"Host": "localhost:11434"})).status_code == 200


async def test_every_host_passes_when_bound_to_all_interfaces(tmp_path: Path) -> None:
    client = _app(tmp_path, host="0.0.0.0").test_client()
    assert (await client.get("/api/version", headers={"Host": "attacker.example"})).status_code == 200


# --- API key ------------------------------------------------------------------------


def test_the_api_key_comes_from_the_environment_and_is_never_printed() -> None:
    settings = load_settings({"OLLAMA_API_KEY": "s3cret"})
    assert settings.api_key == "s3cret"
    assert "s3cret" not in repr(settings)


async def test_with_an_api_key_requests_without_it_get_401(tmp_path: Path) -> None:
    client = _app(tmp_path, api_key="s3cret").test_client()
    for path, method in (("/api/version", "GET"), ("/api/tags", "GET"), ("/api/chat", "POST"), ("/", "POST")):
        response = await client.open(path, method=method)
        assert response.status_code == 401, path
        assert await response.get_json() == {"error": "unauthorized"}
    wrong = await client.get("/api/version", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert (await client.get("/api/version", headers={"Authorization": "s3cret"})).status_code == 401


async def test_with_the_key_requests_pass_and_the_root_is_always_open(tmp_path: Path) -> None:
    client = _app(tmp_path, api_key="s3cret").test_client()
    assert (await client.get("/")).status_code == 200
    assert (await client.head("/")).status_code == 200
    ok = await client.get("/api/version", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


def test_the_cli_sends_the_key() -> None:
    import httpx

    from ollama_actors.cli.client import DaemonClient
    from ollama_actors.cli.host import resolve_daemon_address

    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200, json={"version": "1"})

    address = resolve_daemon_address({"OLLAMA_HOST": "127.0.0.1:1"})
    with DaemonClient(address, transport=httpx.MockTransport(handler), api_key="s3cret") as client:
        client.version()
    assert seen == ["Bearer s3cret"]


# --- body limits --------------------------------------------------------------------


async def test_a_body_over_the_limit_gets_413_in_ollamas_shape(tmp_path: Path) -> None:
    client = _app(tmp_path, max_body_bytes=1024).test_client()
    response = await client.post("/api/chat", data=b"{" + b" " * 4096 + b"}", headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert await response.get_json() == {"error": "request body too large"}


# --- path and digest validation (CVE-2024-37032, CVE-2025-44779, zip-slip) ---------


@pytest.mark.parametrize(
    "digest",
    ["sha256:../../../../etc/passwd", "sha256-" + "0" * 63 + "/", "sha256:" + "g" * 64, "..%2f..%2fetc%2fpasswd",
     "sha256:" + "0" * 64 + "/../x"],
)
async def test_blob_routes_refuse_digests_that_are_not_sha256_hex(tmp_path: Path, digest: str) -> None:
    client = _app(tmp_path).test_client()
    head = await client.head(f"/api/blobs/{digest}")
    post = await client.post(f"/api/blobs/{digest}", data=b"x")
    assert head.status_code in (400, 404)
    assert post.status_code in (400, 404)
    assert not any((tmp_path).rglob("passwd"))
    assert not (tmp_path / "x").exists()
