"""Which daemon the CLI talks to: ``OLLAMA_HOST``, else the daemon's unix socket, else TCP.

Order (the invariant this module protects; the daemon binds the same places):

1. ``OLLAMA_HOST`` when set and not blank, parsed with Ollama's rules
   (``envconfig.Host``): ``[scheme://]host[:port][/path]``, default port 11434
   (80 for ``http://``, 443 for ``https://``), bare ``ollama.com`` means
   ``https://ollama.com:443``, IPv6 in brackets, a bad port falls back to the
   default. ``unix:///path`` and ``unix:/path`` select a unix socket.
2. The daemon's unix socket when that file exists: ``OLLAMA_SOCKET`` (blank means
   "no socket"), default ``$XDG_RUNTIME_DIR/ollama-actors.sock`` when
   ``XDG_RUNTIME_DIR`` is set, else ``~/.ollama/ollama-actors.sock``.
3. TCP ``127.0.0.1:11434``.

The environment is passed in as a mapping and the existence test is injected, so
the rules are testable without touching ``os.environ`` or the file system; the
CLI entry point is the only place that reads the real environment.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_PORT",
    "DaemonAddress",
    "default_socket_path",
    "parse_ollama_host",
    "resolve_daemon_address",
]

DEFAULT_PORT = 11434
SOCKET_NAME = "ollama-actors.sock"
# Base URL used over a unix socket: httpx needs a host; the daemon ignores it.
UDS_BASE_URL = "http://localhost"


@dataclass(frozen=True)
class DaemonAddress:
    """Where to send API requests: ``base_url``, through unix socket ``uds`` if set."""

    base_url: str
    uds: str | None = None


def _clean(value: str) -> str:
    # Ollama reads every variable with whitespace, then quotes, trimmed.
    return value.strip().strip("\"'")


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort``: ``None`` where Go returns an error."""
    colon = hostport.rfind(":")
    if colon < 0:
        return None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != colon:
            return None
        host, rest_start = hostport[1:end], end + 1
    else:
        host, rest_start = hostport[:colon], 0
        if ":" in host:
            return None
    if "[" in hostport[1 if rest_start else 0 :] or "]" in hostport[rest_start:]:
        return None
    return host, hostport[colon + 1 :]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _connectable(host: str) -> str:
    # A bind address (empty, 0.0.0.0, ::) is not something to dial: use loopback,
    # as Ollama's ConnectableHost does.
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_port(text: str, default: int) -> int:
    if re.fullmatch(r"[+-]?\d+", text) and 0 <= int(text) <= 65535:
        return int(text)
    return default


def parse_ollama_host(raw: str) -> DaemonAddress:
    """Parse an ``OLLAMA_HOST`` value into a connectable address (Ollama's rules).

    Never raises: like Ollama, anything unparsable degrades to the default host
    or port rather than failing.
    """
    value = _clean(raw).strip()  # Host() trims again after Var's quote trimming
    if value.startswith("unix:"):
        path = value[len("unix:") :]
        return DaemonAddress(UDS_BASE_URL, uds=path[2:] if path.startswith("//") else path)
    scheme, sep, hostport = value.partition("://")
    default_port = DEFAULT_PORT
    if not sep:
        scheme, hostport = "http", value
        if value == "ollama.com":
            scheme, hostport = "https", "ollama.com:443"
    elif scheme in ("http", "https"):
        default_port = 80 if scheme == "http" else 443
    hostport, _, path = hostport.partition("/")
    split = _split_host_port(hostport)
    if split is None:
        bare = hostport.strip("[]")
        host = bare if _is_ip(bare) else (hostport or "127.0.0.1")
        port = default_port
    else:
        host, port = split[0], _parse_port(split[1], default_port)
    base = f"{scheme}://{_join_host_port(_connectable(host), port)}"
    return DaemonAddress(f"{base}/{path}" if path else base)


def _expand_home(path: str, home: str) -> str:
    if path == "~" or path.startswith("~/"):
        return home + path[1:]
    return path


def default_socket_path(env: Mapping[str, str], *, home: str | None = None) -> str | None:
    """The daemon's unix socket path for this environment; ``None`` when disabled.

    ``OLLAMA_SOCKET`` set to a blank value disables the socket (the daemon's
    settings read it the same way).
    """
    home = env.get("HOME") or home or str(Path.home())
    if "OLLAMA_SOCKET" in env:
        chosen = _clean(env["OLLAMA_SOCKET"])
        return _expand_home(chosen, home) if chosen else None
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, SOCKET_NAME)
    return os.path.join(home, ".ollama", SOCKET_NAME)


def resolve_daemon_address(
    env: Mapping[str, str],
    *,
    exists: Callable[[str], bool] = os.path.exists,
    home: str | None = None,
) -> DaemonAddress:
    """Pick the daemon address: ``OLLAMA_HOST``, else an existing socket, else TCP."""
    host = _clean(env.get("OLLAMA_HOST", ""))
    if host:
        return parse_ollama_host(host)
    socket = default_socket_path(env, home=home)
    if socket is not None and exists(socket):
        return DaemonAddress(UDS_BASE_URL, uds=socket)
    return DaemonAddress(f"http://127.0.0.1:{DEFAULT_PORT}")
