"""Settings: Ollama's OLLAMA_HOST and variable rules, and flag > env > TOML > default precedence."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

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
