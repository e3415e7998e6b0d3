"""Security at the edge: Ollama's CORS rules, its allowed-host check, an optional
API key, and request body limits.

Order, as in Ollama (``r.Use(cors.New(...), allowedHostsMiddleware(addr))``):
CORS first (a disallowed ``Origin`` → 403, an allowed preflight → 204), then the
allowed-host check (DNS rebinding, only when bound to loopback), then the API key
(ours; Ollama has none), then the body limit. See ``shared/reference/ollama.md`` §8.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from quart import Quart, Request, Response, request

from ollama_actors.domain.errors import OllamaError
from ollama_actors.edge.errors import error_response
from ollama_actors.edge.headers import first_values
from ollama_actors.settings import Settings

__all__ = ["CorsPolicy", "EdgeSecurity", "host_allowed", "install_security", "is_loopback_bind"]

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
    verdict = _address_allowed(host)
    if verdict is not None:
        return verdict
    if host == "localhost":
        return True
    own = (hostname if hostname is not None else socket.gethostname()).lower()
    if own and host == own:
        return True
    return host.endswith((".localhost", ".local", ".internal"))


@functools.lru_cache(maxsize=256)
def _address_allowed(host: str) -> bool | None:
    """For an IP address: whether a request naming it is allowed; None for a name.
    Cached: parsing the address is most of the check, and every request has one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address.is_loopback or address.is_private or address.is_unspecified or address.is_link_local


class EdgeSecurity:
    """The checks, built once from the settings; run by the edge pipeline
    (``create_app``, ``edge.app``) on the request object and its headers read in one pass
    (``edge.headers.first_values``)."""

    def __init__(self, settings: Settings) -> None:
        self.policy = CorsPolicy.from_origins(settings.origins)
        self._check_host = is_loopback_bind(settings.host)
        self._api_key = settings.api_key.encode() if settings.api_key else None
        self._limit = settings.max_body_bytes

    def check(self, req: Request, headers: Mapping[str, str]) -> Response | None:
        """Before the view: a response that refuses the request, or None to go on."""
        policy = self.policy
        origin = headers.get("origin")
        host = headers.get("host", "")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            if not policy.allows(origin):
                return Response(b"", status=403)
            if req.method == "OPTIONS":
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
        if self._check_host and not _over_unix_socket(req) and not host_allowed(host):
            return Response(b"", status=403)
        api_key = self._api_key
        if api_key is not None and not (req.path == "/" and req.method in ("GET", "HEAD")):
            if not _bearer_matches(headers.get("authorization", ""), api_key):
                response = error_response(OllamaError("unauthorized", status=401))
                response.headers["WWW-Authenticate"] = 'Bearer realm="ollama-actors"'
                return response
        limit = self._limit
        if limit is not None and not req.path.startswith(UNLIMITED_BODY_PREFIXES):
            # No Content-Length header: Werkzeug's content_length is None, no need to ask.
            if "content-length" in headers and req.content_length is not None and req.content_length > limit:
                return _too_large()
            body = req.body
            if hasattr(body, "_max_content_length"):  # chunked bodies: Quart counts as it buffers
                body._max_content_length = limit
        return None

    def add_cors_headers(self, headers: Mapping[str, str], response: Response) -> None:
        """After the view: the CORS answer headers for an allowed cross-origin request."""
        origin = headers.get("origin")
        if origin is None:
            return
        host = headers.get("host", "")
        policy = self.policy
        if origin not in (f"http://{host}", f"https://{host}") and policy.allows(origin):
            response.headers.setdefault("Access-Control-Allow-Origin", "*" if policy.allow_all else origin)
            if not policy.allow_all:
                response.vary.add("Origin")


def install_security(app: Quart, settings: Settings) -> None:
    """Install the checks as ``before_request``/``after_request`` hooks of their own
    (``create_app`` runs them in its edge pipeline instead)."""
    security = EdgeSecurity(settings)

    @app.before_request
    async def _guard() -> Response | None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        return security.check(req, first_values(req.headers.items()))

    @app.after_request
    async def _cors_headers(response: Response) -> Response:
        security.add_cors_headers(first_values(request.headers.items()), response)
        return response


def _over_unix_socket(req: Request) -> bool:
    """Hypercorn gives unix-socket connections ``server: None``; browsers cannot reach
    them, so DNS rebinding does not apply (the CLI sends any Host there)."""
    scope = req.scope
    return "server" in scope and scope["server"] is None


def _too_large() -> Response:
    response = error_response(OllamaError("request body too large", status=413))
    response.headers["Connection"] = "close"
    return response


def _bearer_matches(header: str, key: bytes) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), key)
