"""Ollama's signed token request: the user's ed25519 key and the exact bytes it signs.

No network: the key lives in a temp folder and the registry is an httpx.MockTransport.
"""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ollama_actors.domain.names import parse_name
from ollama_actors.management.adapters.oci_registry import OciRegistry
from ollama_actors.management.adapters.ssh_key import Ed25519Signer
from ollama_actors.management.domain.registry_auth import signing_payload, token_url


def _public_key(line: str) -> Ed25519PublicKey:
    key = serialization.load_ssh_public_key(line.encode())
    assert isinstance(key, Ed25519PublicKey)
    return key


def test_token_url_is_encoded_as_gos_url_values() -> None:
    url = token_url("https://registry.ollama.ai/v2/token?x=1", "ollama.com",
                    "repository:library/llama3:pull repository:me/m:pull,push".split(" "), ts=1700000000, nonce="a-b_c")
    assert url == ("https://registry.ollama.ai/v2/token?nonce=a-b_c"
                   "&scope=repository%3Alibrary%2Fllama3%3Apull&scope=repository%3Ame%2Fm%3Apull%2Cpush"
                   "&service=ollama.com&ts=1700000000&x=1")


def test_signing_payload_is_method_url_and_the_base64_hex_digest_of_the_body() -> None:
    empty_hex = hashlib.sha256(b"").hexdigest().encode()
    assert signing_payload("GET", "https://r/t?a=1") == b"GET,https://r/t?a=1," + base64.b64encode(empty_hex)


def test_the_key_is_created_on_first_use_in_openssh_format_and_private(tmp_path: Path) -> None:
    signer = Ed25519Signer(tmp_path / ".ollama" / "id_ed25519")
    assert signer.ensure() is True and signer.ensure() is False
    assert stat.S_IMODE(signer.path.stat().st_mode) == 0o600
    assert signer.path.read_bytes().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    public = signer.path.with_name("id_ed25519.pub").read_text()
    assert public.startswith("ssh-ed25519 AAAA") and public.strip() == signer.public_key()


def test_the_signature_verifies_against_the_public_key(tmp_path: Path) -> None:
    signer = Ed25519Signer(tmp_path / "id_ed25519")
    data = signing_payload("GET", "https://registry.ollama.ai/v2/token?nonce=n&ts=1")
    blob, signature = signer.sign(data).split(":")
    assert blob == signer.public_key().split(" ")[1]  # the key blob, without the type
    _public_key(signer.public_key()).verify(base64.b64decode(signature), data)  # raises if wrong


def test_the_token_request_carries_a_signature_over_the_url_it_was_sent_to(tmp_path: Path) -> None:
    signer = Ed25519Signer(tmp_path / "id_ed25519")
    signed: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/token":
            signed.append(request)
            return httpx.Response(200, json={"token": "T0K"})
        if request.headers.get("Authorization") != "Bearer T0K":
            challenge = ('Bearer realm="https://registry.ollama.ai/v2/token",service="ollama.com",'
                         'scope="repository:library/m:pull"')
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200, content=b'{"schemaVersion":2}')

    oci = OciRegistry(parse_name("m:latest"), insecure=False, transport=httpx.MockTransport(handle), signer=signer)
    assert oci.get_manifest() == b'{"schemaVersion":2}'
    request = signed[0]
    sent = str(request.url)
    assert request.url.params["service"] == "ollama.com" and request.url.params["scope"] == "repository:library/m:pull"
    assert request.url.params["ts"].isdigit() and len(request.url.params["nonce"]) == 22
    blob, signature = request.headers["Authorization"].split(":")
    assert blob == signer.public_key().split(" ")[1]
    _public_key(signer.public_key()).verify(base64.b64decode(signature), signing_payload("GET", sent))
