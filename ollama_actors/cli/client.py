"""A small synchronous client of the daemon's Ollama API, used by the CLI only.

It mirrors Ollama's Go client (``api/client.go``) where users see the difference:

* a non-2xx reply raises :class:`ClientError` carrying the ``{"error": ...}`` text
  (or the raw body when it is not JSON) and the status;
* a streamed reply is read as NDJSON; a non-2xx status on a stream is reported as
  ``"<status> <reason>: <message>"`` (Go's ``StatusError`` text, e.g.
  ``500 Internal Server Error: ...``), and an ``{"error": ...}`` line arriving
  after the stream started raises with the bare message;
* a refused or missing connection raises :class:`DaemonUnreachableError` with the
  CLI's "could not connect" text.

Streams have no read timeout (a generation may think for minutes); connecting has
a short one. Environment proxies are ignored (``trust_env=False``): the daemon is
local, and the CLI entry point is the only reader of the environment.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from ollama_actors.cli.host import DaemonAddress

__all__ = ["ClientError", "DaemonClient", "DaemonUnreachableError", "JSON"]

# A decoded JSON object from the API. Any: replies are open-ended JSON documents
# whose fields the commands read defensively.
JSON = dict[str, Any]

CONNECT_TIMEOUT_S = 10.0
REPLY_TIMEOUT_S = 300.0  # plain (non-streamed) replies: show, tags, copy, delete
HEARTBEAT_TIMEOUT_S = 30.0
UNREACHABLE = "could not connect to ollama-actors daemon, run 'ollama-actors serve' to start it"
NO_DETAILS = "something went wrong, please see the ollama-actors daemon logs for details"


class ClientError(Exception):
    """The daemon answered with an error (``status`` is None for mid-stream errors)."""

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        if self.status is not None and self.reason:
            return f"{self.status} {self.reason}: {self.message}"
        return self.message


class DaemonUnreachableError(ClientError):
    """No daemon answers at the configured address."""

    def __init__(self, message: str = UNREACHABLE) -> None:
        super().__init__(message)


def _error_text(body: bytes) -> str:
    """The message of an error body: ``{"error": ...}`` if JSON, else the text itself."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        return text or NO_DETAILS
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        return decoded["error"] or NO_DETAILS
    return text or NO_DETAILS


class DaemonClient:
    """Blocking calls to the daemon; one method per API endpoint the CLI uses.

    Raises:
        DaemonUnreachableError: the connection was refused or the socket is missing.
        ClientError: the daemon answered with an error.
    """

    def __init__(
        self,
        address: DaemonAddress,
        *,
        user_agent: str = "ollama-actors",
        transport: httpx.BaseTransport | None = None,
        api_key: str | None = None,
    ) -> None:
        headers = {"User-Agent": user_agent}
        if api_key:  # OLLAMA_API_KEY: the daemon then wants it on every request
            headers["Authorization"] = f"Bearer {api_key}"
        if transport is None and address.uds is not None:
            transport = httpx.HTTPTransport(uds=address.uds)
        self._http = httpx.Client(
            base_url=address.base_url,
            transport=transport,
            timeout=httpx.Timeout(REPLY_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            headers=headers,
            trust_env=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, timeout: float = REPLY_TIMEOUT_S
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method, path, json=body, timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S)
            )
        except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonUnreachableError() from exc
        except httpx.HTTPError as exc:
            raise ClientError(str(exc) or type(exc).__name__) from exc
        if response.status_code >= 400:
            raise ClientError(_error_text(response.content), response.status_code)
        return response

    def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> JSON:
        response = self._request(method, path, body)
        if not response.content:
            return {}
        decoded = response.json()
        return decoded if isinstance(decoded, dict) else {"value": decoded}

    def stream(self, path: str, body: Mapping[str, Any]) -> Generator[JSON, None, None]:
        """POST ``body`` and yield each NDJSON object of the reply as it arrives.

        Closing the iterator early (or a ``KeyboardInterrupt`` while reading)
        closes the response, which the daemon sees as a disconnect.
        """
        try:
            no_read_timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT_S)
            with self._http.stream("POST", path, json=body, timeout=no_read_timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ClientError(_error_text(response.content), response.status_code, response.reason_phrase)
                yield from self._lines(response)
        except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonUnreachableError() from exc
        except httpx.HTTPError as exc:
            raise ClientError(str(exc) or type(exc).__name__) from exc

    @staticmethod
    def _lines(response: httpx.Response) -> Iterator[JSON]:
        for line in response.iter_lines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise ClientError(line) from exc
            if isinstance(item, dict) and item.get("error"):
                raise ClientError(str(item["error"]))
            if isinstance(item, dict):
                yield item

    # --- endpoints -----------------------------------------------------------------

    def heartbeat(self) -> None:
        """``HEAD /``: is a daemon listening? (Ollama's CLI asks before each command.)"""
        self._request("HEAD", "/", timeout=HEARTBEAT_TIMEOUT_S)

    def version(self) -> str:
        """``GET /api/version``."""
        return str(self._json("GET", "/api/version").get("version", ""))

    def list_models(self) -> list[JSON]:
        """``GET /api/tags``: local models, newest first."""
        return list(self._json("GET", "/api/tags").get("models") or [])

    def list_running(self) -> list[JSON]:
        """``GET /api/ps``: loaded models."""
        return list(self._json("GET", "/api/ps").get("models") or [])

    def show(
        self,
        model: str,
        *,
        verbose: bool = False,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,  # Any: typed option values
    ) -> JSON:
        """``POST /api/show``; ``system``/``options`` are shown as the session's overrides."""
        body: JSON = {"model": model}
        if verbose:
            body["verbose"] = True
        if system:
            body["system"] = system
        if options:
            body["options"] = dict(options)
        return self._json("POST", "/api/show", body)

    def copy(self, source: str, destination: str) -> None:
        """``POST /api/copy``."""
        self._request("POST", "/api/copy", {"source": source, "destination": destination})

    def delete(self, model: str) -> None:
        """``DELETE /api/delete``."""
        self._request("DELETE", "/api/delete", {"model": model})

    def embed(self, body: Mapping[str, Any]) -> JSON:
        """``POST /api/embed``."""
        return self._json("POST", "/api/embed", body)

    def generate(self, body: Mapping[str, Any]) -> Generator[JSON, None, None]:
        """``POST /api/generate``, streamed."""
        return self.stream("/api/generate", body)

    def chat(self, body: Mapping[str, Any]) -> Generator[JSON, None, None]:
        """``POST /api/chat``, streamed."""
        return self.stream("/api/chat", body)

    def create(self, body: Mapping[str, Any]) -> Generator[JSON, None, None]:
        """``POST /api/create``: status lines, ending with ``success``."""
        return self.stream("/api/create", body)

    def pull(self, body: Mapping[str, Any]) -> Generator[JSON, None, None]:
        """``POST /api/pull``: progress lines."""
        return self.stream("/api/pull", body)

    def push(self, body: Mapping[str, Any]) -> Generator[JSON, None, None]:
        """``POST /api/push``: progress lines."""
        return self.stream("/api/push", body)

    def blob_exists(self, digest: str) -> bool:
        """``HEAD /api/blobs/<digest>``: 200 → True, 404 → False."""
        try:
            self._request("HEAD", f"/api/blobs/{digest}")
        except ClientError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def upload_blob(self, digest: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        """``POST /api/blobs/<digest>`` streaming ``chunks`` as the body (no write timeout).

        With ``size`` the body is sent with a Content-Length instead of chunked.
        """
        headers = {"Content-Length": str(size)} if size is not None else None
        try:
            response = self._http.post(
                f"/api/blobs/{digest}",
                content=chunks,
                headers=headers,
                timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_S),
            )
        except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonUnreachableError() from exc
        except httpx.HTTPError as exc:
            raise ClientError(str(exc) or type(exc).__name__) from exc
        if response.status_code >= 400:
            raise ClientError(_error_text(response.content), response.status_code)
