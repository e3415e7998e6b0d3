"""Which daemon address the CLI picks: Ollama's OLLAMA_HOST rules, then the socket, then TCP."""

from __future__ import annotations

import pytest

from ollama_actors.cli.host import DaemonAddress, default_socket_path, parse_ollama_host, resolve_daemon_address

# Ollama's envconfig TestHost table, with one deliberate difference: bind-only
# addresses (empty host, 0.0.0.0, ::) become loopback, because the CLI dials them.
HOSTS = [
    ("1.2.3.4", "http://1.2.3.4:11434"),
    (":1234", "http://127.0.0.1:1234"),
    ("1.2.3.4:1234", "http://1.2.3.4:1234"),
    ("example.com", "http://example.com:11434"),
    ("example.com:1234", "http://example.com:1234"),
    (":0", "http://127.0.0.1:0"),
    (":66000", "http://127.0.0.1:11434"),
    (":-1", "http://127.0.0.1:11434"),
    ("example.com:abc", "http://example.com:11434"),
    ("[::1]", "http://[::1]:11434"),
    ("[::]", "http://[::1]:11434"),
    ("::1", "http://[::1]:11434"),
    ("[::1]:1337", "http://[::1]:1337"),
    (" 1.2.3.4 ", "http://1.2.3.4:11434"),
    ('"1.2.3.4"', "http://1.2.3.4:11434"),
    (' " 1.2.3.4 " ', "http://1.2.3.4:11434"),
    ("'1.2.3.4'", "http://1.2.3.4:11434"),
    ("http://1.2.3.4", "http://1.2.3.4:80"),
    ("http://1.2.3.4:4321", "http://1.2.3.4:4321"),
    ("https://1.2.3.4", "https://1.2.3.4:443"),
    ("https://1.2.3.4:4321", "https://1.2.3.4:4321"),
    ("https://example.com/ollama", "https://example.com:443/ollama"),
    ("ollama.com", "https://ollama.com:443"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080"),
]


@pytest.mark.parametrize(("value", "expected"), HOSTS)
def test_ollama_host_is_parsed_with_ollamas_rules(value: str, expected: str) -> None:
    assert parse_ollama_host(value) == DaemonAddress(expected)


@pytest.mark.parametrize(
    ("value", "path"),
    [("unix:///run/user/1/oa.sock", "/run/user/1/oa.sock"), ("unix:/tmp/oa.sock", "/tmp/oa.sock")],
)
def test_unix_host_selects_a_socket(value: str, path: str) -> None:
    assert parse_ollama_host(value) == DaemonAddress("http://localhost", uds=path)


def test_ollama_host_wins_over_an_existing_socket() -> None:
    env = {"OLLAMA_HOST": "example.com:1", "OLLAMA_SOCKET": "/s.sock"}
    assert resolve_daemon_address(env, exists=lambda p: True) == DaemonAddress("http://example.com:1")


def test_blank_ollama_host_counts_as_unset() -> None:
    assert resolve_daemon_address({"OLLAMA_HOST": "  ", "HOME": "/h"}, exists=lambda p: False) == DaemonAddress(
        "http://127.0.0.1:11434"
    )


def test_existing_socket_from_ollama_socket_is_used() -> None:
    address = resolve_daemon_address({"OLLAMA_SOCKET": "/run/oa.sock"}, exists=lambda p: p == "/run/oa.sock")
    assert address == DaemonAddress("http://localhost", uds="/run/oa.sock")


def test_missing_socket_falls_back_to_tcp() -> None:
    address = resolve_daemon_address({"OLLAMA_SOCKET": "/run/oa.sock"}, exists=lambda p: False)
    assert address == DaemonAddress("http://127.0.0.1:11434")


def test_default_socket_lives_in_xdg_runtime_dir() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/u"}
    assert default_socket_path(env) == "/run/user/1000/ollama-actors.sock"


def test_default_socket_without_xdg_runtime_dir_lives_in_dot_ollama() -> None:
    assert default_socket_path({"HOME": "/home/u"}) == "/home/u/.ollama/ollama-actors.sock"


def test_blank_ollama_socket_disables_the_socket() -> None:
    assert default_socket_path({"OLLAMA_SOCKET": "", "HOME": "/h"}) is None
    assert resolve_daemon_address({"OLLAMA_SOCKET": ""}, exists=lambda p: True) == DaemonAddress(
        "http://127.0.0.1:11434"
    )


def test_ollama_socket_expands_home_and_strips_quotes() -> None:
    assert default_socket_path({"OLLAMA_SOCKET": '"~/oa.sock"', "HOME": "/home/u"}) == "/home/u/oa.sock"


def test_socket_in_xdg_runtime_dir_is_found_when_it_exists() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/7"}
    address = resolve_daemon_address(env, exists=lambda p: p == "/run/user/7/ollama-actors.sock")
    assert address.uds == "/run/user/7/ollama-actors.sock"
