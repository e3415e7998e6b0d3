"""OciRegistry: against the real docker-registry, and its auth loop against a scripted server."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import httpx
import pytest

from ollama_actors.domain.digests import Digest
from ollama_actors.domain.names import parse_name
from ollama_actors.management.adapters.oci_registry import OciRegistry, RegistryError, registry_base
from tests.fixtures.registry import RunningRegistry


def _blob(tmp_path: Path, size: int) -> tuple[Path, Digest]:
    data = os.urandom(size)
    path = tmp_path / "blob"
    path.write_bytes(data)
    return path, Digest(hashlib.sha256(data).hexdigest())


def test_chunked_upload_then_download(tmp_path: Path, registry: RunningRegistry) -> None:
    oci = OciRegistry(parse_name(f"{registry.host}/unit/chunks:v1"), insecure=True, upload_chunk=64 * 1024)
    path, digest = _blob(tmp_path, 300 * 1024 + 7)
    assert not oci.blob_exists(digest)
    seen: list[int] = []
    oci.upload_blob(digest, path, path.stat().st_size, seen.append)
    assert seen[:4] == [65536, 131072, 196608, 262144] and seen[-1] == path.stat().st_size
    assert oci.blob_exists(digest)
    out = io.BytesIO()
    oci.download_blob(digest, out, lambda done: None)
    assert out.getvalue() == path.read_bytes()
    oci.close()


def test_manifest_round_trip_byte_for_byte(tmp_path: Path, registry: RunningRegistry) -> None:
    oci = OciRegistry(parse_name(f"{registry.host}/unit/manifest:v1"), insecure=True)
    path, digest = _blob(tmp_path, 1000)
    oci.upload_blob(digest, path, 1000, lambda done: None)
    raw = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": str(digest), "size": 1000},
        "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": str(digest), "size": 1000}],
    }).encode()
    oci.put_manifest(raw)
    assert oci.get_manifest() == raw
    oci.close()


def test_unknown_manifest_is_ollamas_error(registry: RunningRegistry) -> None:
    oci = OciRegistry(parse_name(f"{registry.host}/unit/none:v1"), insecure=True)
    with pytest.raises(RegistryError, match="^pull model manifest: file does not exist$"):
        oci.get_manifest()


def test_scheme_rules() -> None:
    assert registry_base(parse_name("h:1/n/m"), insecure=True) == "http://h:1"
    assert registry_base(parse_name("h/n/m"), insecure=False) == "https://h"
    with pytest.raises(RegistryError, match="insecure protocol http"):
        registry_base(parse_name("http://h/n/m"), insecure=False)


def _scripted(realm: str, token_seen: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            assert request.url.params.get_list("scope") == ["repository:n/m:pull", "repository:n/m:push"]
            return httpx.Response(200, json={"token": "T0K"})
        auth = request.headers.get("Authorization", "")
        token_seen.append(auth)
        if auth != "Bearer T0K":
            challenge = f'Bearer realm="{realm}",service="reg",scope="repository:n/m:pull repository:n/m:push"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200, content=b'{"schemaVersion":2}')

    return httpx.MockTransport(handle)


def test_bearer_challenge_gets_a_token_and_retries() -> None:
    seen: list[str] = []
    oci = OciRegistry(parse_name("reg.example/n/m:t"), insecure=False, transport=_scripted("https://reg.example/token", seen))
    assert oci.get_manifest() == b'{"schemaVersion":2}'
    assert seen == ["", "Bearer T0K"]


def test_realm_on_another_host_is_refused() -> None:
    seen: list[str] = []
    oci = OciRegistry(parse_name("reg.example/n/m:t"), insecure=False, transport=_scripted("https://evil.example/token", seen))
    with pytest.raises(RegistryError, match='realm host "evil.example" does not match original host "reg.example"'):
        oci.get_manifest()


def test_oversized_manifest_is_refused() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"x" * (5 << 20)))
    oci = OciRegistry(parse_name("reg.example/n/m:t"), insecure=False, transport=transport)
    with pytest.raises(RegistryError, match="larger than"):
        oci.get_manifest()


def test_redirect_to_another_scheme_is_refused() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(307, headers={"Location": "file:///etc/passwd"}))
    oci = OciRegistry(parse_name("reg.example/n/m:t"), insecure=False, transport=transport)
    with pytest.raises(RegistryError, match="refusing redirect"):
        oci.download_blob(Digest("0" * 64), io.BytesIO(), lambda done: None)
