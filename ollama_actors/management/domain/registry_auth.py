"""The signed token request Ollama sends to a registry's auth realm (pure).

Ollama (``server/auth.go``) answers a ``WWW-Authenticate: Bearer`` challenge by
asking the realm for a token with a URL made of the realm's own query plus
``service``, one ``scope`` per scope, ``ts`` (Unix seconds) and a random
``nonce``, encoded as Go's ``url.Values.Encode`` does (keys sorted, values
query-escaped). It signs ``GET,<that URL>,<base64 of the hex SHA-256 of the
empty body>`` with the user's ed25519 key. registry.ollama.ai checks the
signature against the keys a user registered, so the bytes must match exactly.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

__all__ = ["signing_payload", "token_url"]


def token_url(realm: str, service: str, scopes: Sequence[str], *, ts: int, nonce: str) -> str:
    """The realm URL with Ollama's token query, encoded byte for byte like Go's."""
    parts = urlsplit(realm)
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        values.setdefault(key, []).append(value)
    values.setdefault("service", []).append(service)
    for scope in scopes or ("",):  # Go splits "" into one empty scope
        values.setdefault("scope", []).append(scope)
    values.setdefault("ts", []).append(str(ts))
    values.setdefault("nonce", []).append(nonce)
    query = "&".join(f"{quote_plus(k, safe='~')}={quote_plus(v, safe='~')}"
                     for k in sorted(values) for v in values[k])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def signing_payload(method: str, url: str, body: bytes = b"") -> bytes:
    """``<METHOD>,<url>,<base64(hex(sha256(body)))>``: the bytes Ollama signs."""
    digest = hashlib.sha256(body).hexdigest().encode()
    return f"{method},{url},{base64.b64encode(digest).decode()}".encode()
