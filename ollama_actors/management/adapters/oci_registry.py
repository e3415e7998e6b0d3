"""OciRegistry: the client side of Ollama's registry protocol (OCI distribution v2).

Synchronous httpx, called from one transfer actor's thread, never from trio.
One instance talks to one repository (``<namespace>/<model>`` on the name's host)
for one transfer. Every failure a client may see is a ``RegistryError`` (an
``OllamaError``) worded as Ollama words it; transport errors are translated here.

Invariants: a Bearer token is fetched only from a realm on the registry's own
host (CVE-2025-51471); redirects are followed only to http(s) URLs; digests in
URLs come from ``Digest`` values, never from registry text.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import httpx

from ollama_actors.domain.digests import Digest
from ollama_actors.domain.errors import OllamaError
from ollama_actors.domain.names import ModelName
from ollama_actors.management.domain.registry_auth import signing_payload, token_url

__all__ = [
    "MANIFEST_ACCEPT",
    "OciRegistry",
    "RangeNotSupportedError",
    "RegistryError",
    "TransientRegistryError",
    "registry_base",
]

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = f"{MANIFEST_MEDIA_TYPE}, application/vnd.oci.image.manifest.v1+json"
USER_AGENT = "ollama/0.0.0 (ollama-actors)"
CHUNK_SIZE = 1 << 20
# Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size.
UPLOAD_CHUNK = 64 << 20
MAX_MANIFEST_BYTES = 4 << 20

Progress = Callable[[int], None]  # bytes done so far


class Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def restart(self) -> None:
        """Drop what was written: the download starts again from byte 0."""


class Signer(Protocol):
    """Signs a token request as Ollama does (``adapters/ssh_key.Ed25519Signer``)."""

    def sign(self, data: bytes, /) -> str: ...


class RegistryError(OllamaError):
    """A registry refused, failed or misbehaved (Ollama's wording in ``message``)."""

    status = 500


class TransientRegistryError(RegistryError):
    """A failure worth retrying: the connection broke, or the registry answered 5xx/429."""


class RangeNotSupportedError(RegistryError):
    """The registry answered a Range request with the whole blob: fetch it as one stream."""


def registry_base(name: ModelName, *, insecure: bool) -> str:
    """``<scheme>://<host>``; ``insecure`` forces http; an ``http://`` name needs it."""
    if name.scheme == "http" and not insecure:
        raise RegistryError("insecure protocol http")
    return f"{'http' if insecure else name.scheme}://{name.host}"


class OciRegistry:
    def __init__(
        self, name: ModelName, *, insecure: bool, timeout: float = 30.0, upload_chunk: int = UPLOAD_CHUNK,
        transport: httpx.BaseTransport | None = None, signer: Signer | None = None,
    ) -> None:
        self._name = name
        self._signer = signer
        self._base = registry_base(name, insecure=insecure)
        self._repo = f"{name.namespace}/{name.model}"
        self._token: str | None = None
        self._upload_chunk = upload_chunk
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, read=timeout), headers={"User-Agent": USER_AGENT}, follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    # ---- pull ----
    def get_manifest(self) -> bytes:
        """The manifest's raw bytes (kept to be written byte for byte)."""
        url = f"{self._base}/v2/{self._repo}/manifests/{self._name.tag}"
        with self._send("GET", url, headers={"Accept": MANIFEST_ACCEPT}, stream=True) as response:
            if response.status_code == 404:
                raise RegistryError("pull model manifest: file does not exist", status=404)
            self._check(response, prefix="pull model manifest: ")
            return _read_bounded(response, MAX_MANIFEST_BYTES)

    def download_blob(self, digest: Digest, out: Writer, progress: Progress, *, offset: int = 0) -> None:
        """Write the blob's bytes from ``offset`` on to ``out`` (a Range request when
        ``offset`` > 0; a registry that ignores it makes ``out`` restart), reporting
        the count after each chunk."""
        url = f"{self._base}/v2/{self._repo}/blobs/{digest}"
        headers = {"Range": f"bytes={offset}-"} if offset else None
        with self._send("GET", url, headers=headers, stream=True) as response:
            if response.status_code == 404:
                raise RegistryError(f"pull model blob {digest}: file does not exist", status=404)
            if response.status_code == 416 and offset:  # nothing left past offset: done
                return
            self._check(response)
            done = offset
            if offset and response.status_code != 206:
                out.restart()
                done = 0
            for chunk in response.iter_raw():  # as received: a cut keeps every byte that came
                out.write(chunk)
                done += len(chunk)
                progress(done)

    def download_range(self, digest: Digest, start: int, end: int, write: Callable[[bytes], object]) -> None:
        """Hand bytes ``[start, end)`` of the blob to ``write``, chunk by chunk as received.

        Raises ``RangeNotSupportedError`` (before any byte is written) when the
        registry does not answer 206 with that range, and ``RegistryError`` when it
        sends more than asked (a hostile registry must not fill the disk).
        """
        url = f"{self._base}/v2/{self._repo}/blobs/{digest}"
        with self._send("GET", url, headers={"Range": f"bytes={start}-{end - 1}"}, stream=True) as response:
            if response.status_code == 404:
                raise RegistryError(f"pull model blob {digest}: file does not exist", status=404)
            self._check(response)
            content_range = response.headers.get("Content-Range", "")
            if response.status_code != 206 or not content_range.startswith(f"bytes {start}-{end - 1}/"):
                raise RangeNotSupportedError(f"registry ignored the range {start}-{end - 1} of {digest}")
            left = end - start
            for chunk in response.iter_raw():
                if len(chunk) > left:
                    raise RegistryError(f"registry sent more than the range {start}-{end - 1} of {digest}")
                left -= len(chunk)
                write(chunk)

    # ---- push ----
    def blob_exists(self, digest: Digest) -> bool:
        url = f"{self._base}/v2/{self._repo}/blobs/{digest}"
        with self._send("HEAD", url) as response:
            if response.status_code == 404:
                return False
            self._check(response)
            return True

    def upload_blob(
        self, digest: Digest, path: Path, size: int, progress: Progress, *, mount_from: str | None = None
    ) -> bool:
        """POST an upload, PATCH it in chunks when large, then PUT with the digest.

        With ``mount_from`` (another ``<namespace>/<model>`` of this registry that
        holds the blob) the POST first asks for a cross-repository mount: 201 means
        the registry linked the blob and nothing is uploaded (returns True); 202 is
        an ordinary upload session (the registry could not mount), used as such.
        """
        url = f"{self._base}/v2/{self._repo}/blobs/uploads/"
        if mount_from:
            url = str(httpx.URL(url).copy_merge_params({"mount": str(digest), "from": mount_from}))
        with self._send("POST", url) as response:
            self._check(response)
            if mount_from and response.status_code == 201:
                return True
            location = self._location(response)
        with path.open("rb") as f:
            done = 0
            while size > self._upload_chunk and done < size:
                data = f.read(self._upload_chunk)
                headers = {"Content-Type": "application/octet-stream", "Content-Range": f"{done}-{done + len(data) - 1}"}
                with self._send("PATCH", location, headers=headers, content=data) as response:
                    self._check(response)
                    location = self._location(response)
                done += len(data)
                progress(done)
            data = f.read() if done < size else b""
        url = httpx.URL(location).copy_merge_params({"digest": str(digest)})
        with self._send("PUT", str(url), headers={"Content-Type": "application/octet-stream"}, content=data) as response:
            self._check(response)
        progress(size)
        return False

    def put_manifest(self, raw: bytes, media_type: str = MANIFEST_MEDIA_TYPE) -> None:
        url = f"{self._base}/v2/{self._repo}/manifests/{self._name.tag}"
        with self._send("PUT", url, headers={"Content-Type": media_type or MANIFEST_MEDIA_TYPE}, content=raw) as response:
            self._check(response)

    # ---- the request / authorization loop (§6.1) ----
    @contextmanager
    def _send(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, content: bytes | None = None,
        stream: bool = False,
    ) -> Iterator[httpx.Response]:
        response = self._open(method, url, headers, content)
        try:
            if response.status_code == 401:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._token = self._fetch_token(challenge, url)
                response = self._open(method, url, headers, content)
                if response.status_code == 401:
                    raise RegistryError("unauthorized: access denied", status=401)
            yield response
        except httpx.HTTPError as error:  # the body broke off (the registry died mid-blob)
            raise TransientRegistryError(_transport_message(method, url, error)) from None
        finally:
            response.close()

    def _open(self, method: str, url: str, headers: dict[str, str] | None, content: bytes | None) -> httpx.Response:
        all_headers = dict(headers or {})
        if self._token:
            all_headers["Authorization"] = f"Bearer {self._token}"
        try:
            for _ in range(10):
                request = self._client.build_request(method, url, headers=all_headers, content=content)
                response = self._client.send(request, stream=True)
                if response.status_code not in (301, 302, 303, 307, 308) or method not in ("GET", "HEAD"):
                    return response
                target = response.url.join(response.headers.get("Location", ""))
                response.close()
                if target.scheme not in ("http", "https"):
                    raise RegistryError(f"refusing redirect to {target.scheme!r} URL")
                if target.host != httpx.URL(url).host:
                    all_headers.pop("Authorization", None)  # never hand our token to another host
                url = str(target)
            raise RegistryError("stopped after 10 redirects")
        except httpx.HTTPError as error:
            raise TransientRegistryError(_transport_message(method, url, error)) from None

    def _fetch_token(self, challenge: str, url: str) -> str:
        params = _parse_challenge(challenge)
        realm = params.pop("realm", "")
        if not realm:
            raise RegistryError("unauthorized: access denied", status=401)
        realm_url, origin = httpx.URL(realm), httpx.URL(url)
        if realm_url.host != origin.host:
            raise RegistryError(f'realm host "{realm_url.host}" does not match original host "{origin.host}"')
        try:
            response = self._token_request(realm, params)
        except httpx.HTTPError as error:
            raise RegistryError(f"token request: {error}") from None
        if response.status_code >= 400:
            raise RegistryError(f"{response.status_code}: {response.text[:512]}")
        body = response.json()
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError("unauthorized: no token in the registry's answer", status=401)
        return token

    def _token_request(self, realm: str, params: dict[str, str]) -> httpx.Response:
        """GET the token; with a signer, Ollama's signed request (``ts``, ``nonce``,
        ``Authorization: <key>:<signature>`` over the exact URL sent)."""
        if self._signer is None:
            query = [(k, v) for k, v in params.items() if k != "scope"]
            query += [("scope", s) for s in params.get("scope", "").split() if s]
            return self._client.get(realm, params=query)
        nonce = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        url = token_url(realm, params.get("service", ""), params.get("scope", "").split(" "),
                        ts=int(time.time()), nonce=nonce)
        signature = self._signer.sign(signing_payload("GET", url))
        return self._client.get(url, headers={"Authorization": signature})

    def _check(self, response: httpx.Response, *, prefix: str = "") -> None:
        if response.status_code < 400:
            return
        body = _read_bounded(response, 4096, truncate=True).decode("utf-8", "replace").strip()
        kind = TransientRegistryError if response.status_code >= 500 or response.status_code == 429 else RegistryError
        raise kind(f"{prefix}{response.status_code}: {body}", status=response.status_code)

    def _location(self, response: httpx.Response) -> str:
        location = response.headers.get("Docker-Upload-Location") or response.headers.get("Location")
        if not location:
            raise RegistryError("registry gave no upload location")
        target = response.url.join(location)
        if target.scheme not in ("http", "https"):
            raise RegistryError(f"refusing upload location {location!r}")
        return str(target)


def _transport_message(method: str, url: str, error: httpx.HTTPError) -> str:
    """Go's wording, which clients match on: ``Get "<url>": … connection refused``."""
    text = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError) and "refused" in text.lower():
        text = f"dial tcp {httpx.URL(url).netloc.decode()}: connect: connection refused"
    return f'{method.capitalize()} "{url}": {text}'


def _parse_challenge(header: str) -> dict[str, str]:
    """``Bearer realm="…",service="…",scope="…"`` → its parameters (quoted commas kept)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return {}
    out: dict[str, str] = {}
    while rest:
        key, _, rest = rest.lstrip(" ,").partition("=")
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        out[key.strip().lower()] = value
    return out


def _read_bounded(response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > limit:
            if truncate:
                return bytes(data[:limit])
            raise RegistryError(f"registry answer larger than {limit} bytes")
    return bytes(data)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK_SIZE), b""):
            h.update(block)
    return h.hexdigest()
