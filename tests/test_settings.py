"""Settings: Ollama's OLLAMA_HOST and variable rules, and flag > env > TOML > default precedence."""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from ollama_actors.daemon import settings_from_args
from ollama_actors.settings import DEFAULT_PORT, Settings, default_socket, load_settings, parse_host


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", ("example.com", DEFAULT_PORT)),
        ("127.0.0.1", ("127.0.0.1", DEFAULT_PORT)),
        ("0.0.0.0", ("0.0.0.0", DEFAULT_PORT)),
        ("example.com:1234", ("example.com", 1234)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("http://example.com", ("example.com", 80)),
        ("https://example.com", ("example.com", 443)),
        ("http://example.com:1234", ("example.com", 1234)),
        ("https://example.com:1234/path", ("example.com", 1234)),
        ("http://example.com/path/more", ("example.com", 80)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::1]", ("::1", DEFAULT_PORT)),
        ("http://[::1]", ("::1", 80)),
        ("::1", ("::1", DEFAULT_PORT)),
        (":8080", ("0.0.0.0", 8080)),
        ("example.com:", ("example.com", DEFAULT_PORT)),
        ("example.com:abc", ("example.com", DEFAULT_PORT)),
        ("example.com:99999", ("example.com", DEFAULT_PORT)),
        ("example.com:65535", ("example.com", 65535)),
        ("http://example.com:abc", ("example.com", 80)),
        ("[::1]:x", ("::1", DEFAULT_PORT)),
        ('"127.0.0.1:1234"', ("127.0.0.1", 1234)),
        ("'127.0.0.1:1234'", ("127.0.0.1", 1234)),
        ("  10.0.0.1:5  ", ("10.0.0.1", 5)),
    ],
)
def test_parse_host_follows_ollamas_ollama_host_rules(raw: str, expected: tuple[str, int]) -> None:
    assert parse_host(raw) == expected


@pytest.mark.parametrize(
    ("host", "port", "bind"),
    [("127.0.0.1", 11434, "127.0.0.1:11434"), ("::1", 8080, "[::1]:8080"), ("0.0.0.0", 0, "0.0.0.0:0")],
)
def test_bind_brackets_ipv6_hosts(host: str, port: int, bind: str) -> None:
    assert Settings(host=host, port=port).bind == bind


def test_defaults_are_ollamas_when_nothing_is_set(tmp_path: Path) -> None:
    settings = load_settings({"HOME": str(tmp_path)})
    assert (settings.host, settings.port) == ("127.0.0.1", 11434)
    assert settings.models == tmp_path / ".ollama" / "models"
    assert settings.keep_alive_s == 300.0
    assert settings.load_timeout_s == 300.0
    assert settings.num_parallel == 1
    assert settings.max_queue == 512
    assert settings.debug is False
    assert settings.noprune is False
    assert settings.origins == ()


def test_socket_defaults_to_xdg_runtime_dir(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": str(tmp_path)}
    assert load_settings(env).socket == Path("/run/user/1000/ollama-actors.sock")
    assert default_socket(env) == Path("/run/user/1000/ollama-actors.sock")


def test_socket_defaults_to_home_without_xdg_runtime_dir(tmp_path: Path) -> None:
    assert load_settings({"HOME": str(tmp_path)}).socket == tmp_path / ".ollama" / "ollama-actors.sock"


def test_ollama_socket_sets_the_socket_and_blank_disables_it(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert load_settings({"HOME": home, "OLLAMA_SOCKET": "/tmp/x.sock"}).socket == Path("/tmp/x.sock")
    assert load_settings({"HOME": home, "OLLAMA_SOCKET": ""}).socket is None
    assert load_settings({"HOME": home, "OLLAMA_SOCKET": '""'}).socket is None


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("10m", 600.0), ("1h30m", 5400.0), ("3600", 3600.0), ("0", 0.0), ("-1", math.inf), ("-1m", math.inf),
     ('"10m"', 600.0)],
)
def test_ollama_keep_alive_accepts_go_durations_and_integer_seconds(tmp_path: Path, raw: str, seconds: float) -> None:
    assert load_settings({"HOME": str(tmp_path), "OLLAMA_KEEP_ALIVE": raw}).keep_alive_s == seconds


@pytest.mark.parametrize(
    ("raw", "seconds"), [("10m", 600.0), ("30", 30.0), ("0", math.inf), ("-1", math.inf), ("-5m", math.inf)]
)
def test_ollama_load_timeout_zero_or_negative_is_infinite(tmp_path: Path, raw: str, seconds: float) -> None:
    assert load_settings({"HOME": str(tmp_path), "OLLAMA_LOAD_TIMEOUT": raw}).load_timeout_s == seconds


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True), ("t", True), ("T", True), ("TRUE", True), ("true", True), ("True", True),
        ("0", False), ("f", False), ("F", False), ("FALSE", False), ("false", False), ("False", False),
        ("yes", True), ("no", True), ("2", True), ("'false'", False), (' "0" ', False),
    ],
)
def test_booleans_use_parsebool_and_any_other_non_empty_value_is_true(
    tmp_path: Path, raw: str, expected: bool
) -> None:
    settings = load_settings({"HOME": str(tmp_path), "OLLAMA_NOPRUNE": raw, "OLLAMA_DEBUG": raw})
    assert settings.noprune is expected
    assert settings.debug is expected


def test_an_empty_boolean_variable_keeps_the_default(tmp_path: Path) -> None:
    settings = load_settings({"HOME": str(tmp_path), "OLLAMA_ACTORS_BUNDLED_MODELS": "", "OLLAMA_NOPRUNE": ""})
    assert settings.bundled_models is True
    assert settings.noprune is False


@pytest.mark.parametrize(("raw", "expected"), [("4", 4), (" 8 ", 8), ("abc", 1), ("-2", 1), ("0", 1), ("", 1)])
def test_unparsable_unsigned_integers_fall_back_to_the_default(tmp_path: Path, raw: str, expected: int) -> None:
    assert load_settings({"HOME": str(tmp_path), "OLLAMA_NUM_PARALLEL": raw}).num_parallel == expected


def test_environment_variables_fill_their_settings(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path),
        "OLLAMA_HOST": "0.0.0.0:9999",
        "OLLAMA_MODELS": str(tmp_path / "store"),
        "OLLAMA_MAX_LOADED_MODELS": "2",
        "OLLAMA_MAX_QUEUE": "7",
        "OLLAMA_CONTEXT_LENGTH": "8192",
        "OLLAMA_ORIGINS": " http://a.example , app://b ,, ",
        "OLLAMA_NUM_THREAD": "3",
        "OLLAMA_ACTORS_GRACE_PERIOD": "5",
    }
    settings = load_settings(env)
    assert (settings.host, settings.port) == ("0.0.0.0", 9999)
    assert settings.models == tmp_path / "store"
    assert settings.max_loaded_models == 2
    assert settings.max_queue == 7
    assert settings.context_length == 8192
    assert settings.origins == ("http://a.example", "app://b")
    assert settings.num_thread == 3
    assert settings.grace_period_s == 5.0


def _write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_file_overrides_the_defaults(tmp_path: Path) -> None:
    config = _write_toml(
        tmp_path / "c.toml",
        'port = 2000\nhost = "10.0.0.1"\nkeep_alive_s = 60.0\norigins = ["app://x"]\nmodels = "~/m"\n',
    )
    settings = load_settings({"HOME": str(tmp_path)}, config_path=config)
    assert (settings.host, settings.port) == ("10.0.0.1", 2000)
    assert settings.keep_alive_s == 60.0
    assert settings.origins == ("app://x",)
    assert settings.models == Path("~/m").expanduser()


def test_toml_settings_may_sit_in_a_server_table(tmp_path: Path) -> None:
    config = _write_toml(tmp_path / "c.toml", "[server]\nmax_queue = 3\n")
    assert load_settings({"HOME": str(tmp_path)}, config_path=config).max_queue == 3


def test_unknown_toml_setting_is_an_error_naming_it(tmp_path: Path) -> None:
    config = _write_toml(tmp_path / "c.toml", "prot = 1\n")
    with pytest.raises(ValueError, match="unknown setting 'prot'"):
        load_settings({"HOME": str(tmp_path)}, config_path=config)


def test_missing_toml_file_is_the_same_as_none(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert load_settings(env, config_path=tmp_path / "absent.toml") == load_settings(env)


def test_config_path_can_come_from_the_environment(tmp_path: Path) -> None:
    config = _write_toml(tmp_path / "c.toml", "max_queue = 9\n")
    assert load_settings({"HOME": str(tmp_path), "OLLAMA_ACTORS_CONFIG": str(config)}).max_queue == 9


@pytest.mark.parametrize(
    ("toml", "env", "overrides", "expected_port"),
    [
        (None, None, None, DEFAULT_PORT),
        (2000, None, None, 2000),
        (2000, "3000", None, 3000),
        (None, "3000", None, 3000),
        (2000, "3000", 4000, 4000),
        (2000, None, 4000, 4000),
        (None, None, 4000, 4000),
    ],
)
def test_precedence_is_overrides_then_environment_then_toml_then_defaults(
    tmp_path: Path, toml: int | None, env: str | None, overrides: int | None, expected_port: int
) -> None:
    config = _write_toml(tmp_path / "c.toml", f"port = {toml}\n" if toml is not None else "")
    environment = {"HOME": str(tmp_path)}
    if env is not None:
        environment["OLLAMA_HOST"] = f"127.0.0.1:{env}"
    settings = load_settings(
        environment, config_path=config, overrides={"port": overrides} if overrides is not None else None
    )
    assert settings.port == expected_port


def test_overrides_of_none_are_ignored(tmp_path: Path) -> None:
    settings = load_settings({"HOME": str(tmp_path), "OLLAMA_MAX_QUEUE": "5"}, overrides={"max_queue": None})
    assert settings.max_queue == 5


def test_environment_only_replaces_the_settings_it_names(tmp_path: Path) -> None:
    config = _write_toml(tmp_path / "c.toml", "max_queue = 3\nnum_parallel = 2\n")
    settings = load_settings({"HOME": str(tmp_path), "OLLAMA_NUM_PARALLEL": "4"}, config_path=config)
    assert (settings.max_queue, settings.num_parallel) == (3, 4)


def test_load_settings_reads_nothing_but_the_env_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_MAX_QUEUE", "1")
    assert load_settings({"HOME": str(tmp_path)}).max_queue == 512


# ---- config/default.toml, strict TOML values, serve --config (issue 7) ----

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TOML = REPO / "config" / "default.toml"
_UNSET_OR_COMPUTED = {"socket", "socket_group", "num_thread", "api_key"}  # commented out in the file


def _documented_keys(text: str) -> tuple[set[str], set[str]]:
    """(active keys, keys shown commented out as ``# key = value``) of a TOML file."""
    active = set(re.findall(r"^([a-z_]+)\s*=", text, flags=re.M))
    commented = set(re.findall(r"^#\s?([a-z_]+)\s*=", text, flags=re.M))
    return active, commented


def test_default_toml_documents_every_setting_settings_py_knows() -> None:
    active, commented = _documented_keys(DEFAULT_TOML.read_text(encoding="utf-8"))
    known = {f.name for f in fields(Settings)}
    assert active | commented == known
    assert commented == _UNSET_OR_COMPUTED  # the rest are set to their defaults


def test_default_toml_values_are_the_defaults(tmp_path: Path) -> None:
    env = {"HOME": str(Path.home()), "XDG_RUNTIME_DIR": str(tmp_path)}
    assert load_settings(env, config_path=DEFAULT_TOML) == load_settings(env)


def test_default_toml_commented_examples_are_valid_settings(tmp_path: Path) -> None:
    """Uncommenting an example gives a valid file."""
    text = DEFAULT_TOML.read_text(encoding="utf-8")
    uncommented = re.sub(r"^#\s?([a-z_]+\s*=)", r"\1", text, flags=re.M)
    config = _write_toml(tmp_path / "c.toml", uncommented)
    settings = load_settings({"HOME": str(tmp_path)}, config_path=config)
    assert settings.num_thread == 8 and settings.api_key == "change-me"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('port = "abc"\n', "invalid setting port in .*: expected an integer, got 'abc'"),
        ("debug = 1\n", "invalid setting debug in .*: expected true or false"),
        ("keep_alive_s = \"5m\"\n", "invalid setting keep_alive_s in .*: expected a number of seconds"),
        ('origins = "app://x"\n', "invalid setting origins in .*: expected a list of strings"),
        ("models = 3\n", "invalid setting models in .*: expected a path"),
        ("port = 70000\n", r"invalid setting port: 70000 \(allowed: from 0 to 65535\)"),
        ("num_parallel = 0\n", r"invalid setting num_parallel: 0 \(allowed: at least 1\)"),
        ('traces_exporter = "zipkin"\n', r"invalid setting traces_exporter: 'zipkin' \(allowed: one of none"),
        ("port = \n", "is not valid TOML"),
        ("server = 3\n", r"\[server\] in .* must be a table"),
    ],
)
def test_invalid_toml_settings_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = _write_toml(tmp_path / "c.toml", text)
    with pytest.raises(ValueError, match=message) as caught:
        load_settings({"HOME": str(tmp_path)}, config_path=config)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "none"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "none"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, "otlp"),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, "none"),
    ],
)
def test_tracing_follows_the_standard_otel_variables(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    assert load_settings({"HOME": str(tmp_path), **env}).traces_exporter == expected


def _serve_args(**given: str | None) -> argparse.Namespace:
    values: dict[str, str | None] = {"host": None, "models": None, "socket": None, "config": None}
    values.update(given)
    return argparse.Namespace(**values)


@pytest.mark.parametrize(
    ("in_file", "in_env", "flag", "expected"),
    [(None, None, None, DEFAULT_PORT), (2000, None, None, 2000), (2000, 3000, None, 3000),
     (2000, 3000, 4000, 4000), (None, None, 4000, 4000)],
)
def test_serve_flags_beat_environment_beat_config_file_beat_defaults(
    tmp_path: Path, in_file: int | None, in_env: int | None, flag: int | None, expected: int
) -> None:
    config = _write_toml(tmp_path / "c.toml", f"port = {in_file}\n" if in_file else "")
    env = {"HOME": str(tmp_path)} | ({"OLLAMA_HOST": f"127.0.0.1:{in_env}"} if in_env else {})
    args = _serve_args(config=str(config), host=f"127.0.0.1:{flag}" if flag else None)
    assert settings_from_args(args, env).port == expected


def test_serve_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="configuration file .*absent.toml not found"):
        settings_from_args(_serve_args(config=str(tmp_path / "absent.toml")), {"HOME": str(tmp_path)})
    env = {"HOME": str(tmp_path), "OLLAMA_ACTORS_CONFIG": str(tmp_path / "gone.toml")}
    with pytest.raises(ValueError, match="configuration file .*gone.toml not found"):
        settings_from_args(_serve_args(), env)


def test_serve_config_flag_beats_the_config_variable(tmp_path: Path) -> None:
    flag = _write_toml(tmp_path / "flag.toml", "max_queue = 5\n")
    variable = _write_toml(tmp_path / "variable.toml", "max_queue = 6\n")
    env = {"HOME": str(tmp_path), "OLLAMA_ACTORS_CONFIG": str(variable)}
    assert settings_from_args(_serve_args(config=str(flag)), env).max_queue == 5
    assert settings_from_args(_serve_args(), env).max_queue == 6


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "ollama_actors", "serve", *args],
        env={**clean, "HOME": str(tmp_path), **(env or {})},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )


def test_serve_with_an_invalid_config_file_stops_with_one_line(tmp_path: Path) -> None:
    config = _write_toml(tmp_path / "bad.toml", "[server]\nmax_queue = -3\n")
    done = _serve(tmp_path, "--config", str(config))
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["Error: invalid setting max_queue: -3 (allowed: at least 1)"]


def test_serve_with_an_invalid_environment_stops_with_one_line(tmp_path: Path) -> None:
    done = _serve(tmp_path, env={"OTEL_TRACES_EXPORTER": "zipkin"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: invalid setting traces_exporter: 'zipkin' (allowed: one of none, otlp, console)"
    ]
