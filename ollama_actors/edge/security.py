"""Security at the edge: Ollama's CORS rules, its allowed-host check, an optional
API key, and request body limits.

Order, as in Ollama (``r.Use(cors.New(...), allowedHostsMiddleware(addr))``):
CORS first (a disallowed ``Origin`` → 403, an allowed preflight → 204), then the
allowed-host check (DNS rebinding, only when bound to loopback), then the API key
(ours; Ollama has none), then the body limit. See ``shared/reference/ollama.md`` §8.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from quart import Quart, Response, request

from ollama_actors.domain.errors import OllamaError
from ollama_actors.edge.errors import error_response
from ollama_actors.settings import Settings

__all__ = ["CorsPolicy", "host_allowed", "install_security", "is_loopback_bind"]

# Ollama's built-in allow list (envconfig.AllowedOrigins), always added to OLLAMA_ORIGINS.
DEFAULT_ORIGINS: tuple[str, ...] = tuple(
    f"{scheme}://{host}{port}"
    for host in ("localhost", "127.0.0.1", "0.0.0.0")
    for scheme in ("http", "https")
    for port in ("", ":*")
) + ("app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*")

_SCHEMES = (
    "http://",
    "https://",
    "chrome-extension://",
    "safari-extension://",
    "moz-extension://",
    "ms-browser-extension://",
)
BAD_ORIGIN = (
    "bad origin: origins must contain '*' or include "
    "http://,https://,chrome-extension://,safari-extension://,moz-extension://,ms-browser-extension://"
)
_ALLOW_METHODS = "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"
_ALLOW_HEADERS = ",".join(
    ["Authorization", "Content-Type", "User-Agent", "Accept", "X-Requested-With", "Openai-Beta"]
    + [
        f"X-Stainless-{part}"
        for part in (
            "Arch", "Async", "Custom-Poll-Interval", "Helper-Method", "Lang", "Os", "Package-Version",
            "Poll-Helper", "Retry-Count", "Runtime", "Runtime-Version", "Timeout",
        )
    ]
)
_PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

# Uploads stream to disk; every other body is read whole, so it is bounded.
UNLIMITED_BODY_PREFIXES = ("/api/blobs/",)


@dataclass(frozen=True)
class CorsPolicy:
    """gin-contrib/cors v1.7.2 as Ollama configures it."""

    allow_all: bool
    exact: frozenset[str]
    wildcards: tuple[tuple[str, str], ...]  # (prefix, suffix) around the one '*'

    @classmethod
    def from_origins(cls, origins: Iterable[str]) -> CorsPolicy:
        """Raise ValueError (Ollama's start-up message) for a malformed entry."""
        exact: set[str] = set()
        wildcards: list[tuple[str, str]] = []
        allow_all = False
        for origin in (*origins, *DEFAULT_ORIGINS):
            if origin == "*":
                allow_all = True
                continue
            stars = origin.count("*")
            if stars > 1:  # Ollama panics here ("only one * is allowed")
                raise ValueError(f"bad origin: only one '*' is allowed in {origin!r}")
            if stars == 1:
                prefix, _, suffix = origin.partition("*")
                wildcards.append((prefix, suffix))
            elif origin.startswith(_SCHEMES):
                exact.add(origin)
            else:
                raise ValueError(BAD_ORIGIN)
        return cls(allow_all, frozenset(exact), tuple(wildcards))

    def allows(self, origin: str) -> bool:
        if self.allow_all or origin in self.exact:
            return True
        return any(
            len(origin) >= len(p) + len(s) and origin.startswith(p) and origin.endswith(s)
            for p, s in self.wildcards
        )


def is_loopback_bind(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def host_allowed(host_header: str, *, hostname: str | None = None) -> bool:
    """Ollama's ``allowedHost``: loopback/private/unspecified IPs, localhost, the
    machine's name, and names under .localhost, .local or .internal."""
    host = _strip_port(host_header.strip()).lower()
    if host == "":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return address.is_loopback or address.is_private or address.is_unspecified or address.is_link_local
    if host == "localhost":
        return True
    own = (hostname if hostname is not None else socket.gethostname()).lower()
    if own and host == own:
        return True
    return host.endswith((".localhost", ".local", ".internal"))


def install_security(app: Quart, settings: Settings) -> None:
    """Install the checks as the app's first ``before_request`` hooks."""
    policy = CorsPolicy.from_origins(settings.origins)
    check_host = is_loopback_bind(settings.host)
    api_key = settings.api_key.encode() if settings.api_key else None
    limit = settings.max_body_bytes

    @app.before_request
    async def _guard() -> Response | None:
        origin = request.headers.get("Origin")
        host = request.headers.get("Host", "")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            if not policy.allows(origin):
                return Response(b"", status=403)
            if request.method == "OPTIONS":
                return Response(
                    b"",
                    status=204,
                    headers={
                        "Access-Control-Allow-Origin": "*" if policy.allow_all else origin,
                        "Access-Control-Allow-Methods": _ALLOW_METHODS,
                        "Access-Control-Allow-Headers": _ALLOW_HEADERS,
                        "Access-Control-Max-Age": "43200",
                        "Vary": _PREFLIGHT_VARY,
                    },
                )
        if check_host and not _over_unix_socket() and not host_allowed(host):
            return Response(b"", status=403)
        if api_key is not None and not (request.path == "/" and request.method in ("GET", "HEAD")):
            if not _bearer_matches(request.headers.get("Authorization", ""), api_key):
                response = error_response(OllamaError("unauthorized", status=401))
                response.headers["WWW-Authenticate"] = 'Bearer realm="ollama-actors"'
                return response
        if limit is not None and not request.path.startswith(UNLIMITED_BODY_PREFIXES):
            if request.content_length is not None and request.content_length > limit:
                return _too_large()
            body = request.body
            if hasattr(body, "_max_content_length"):  # chunked bodies: Quart counts as it buffers
                body._max_content_length = limit
        return None

    @app.after_request
    async def _cors_headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        host = request.headers.get("Host", "")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}") and policy.allows(origin):
            response.headers.setdefault("Access-Control-Allow-Origin", "*" if policy.allow_all else origin)
            if not policy.allow_all:
                response.vary.add("Origin")
        return response


def _over_unix_socket() -> bool:
    """Hypercorn gives unix-socket connections ``server: None``; browsers cannot reach
    them, so DNS rebinding does not apply (the CLI sends any Host there)."""
    return "server" in request.scope and request.scope["server"] is None


def _too_large() -> Response:
    response = error_response(OllamaError("request body too large", status=413))
    response.headers["Connection"] = "close"
    return response


def _bearer_matches(header: str, key: bytes) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), key)
