"""Model names follow Ollama's §3.1 grammar: parsing, defaults, validity, display forms."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.domain import names
from ollama_actors.domain.errors import InvalidModelNameError
from ollama_actors.domain.names import ModelName, is_valid_name, parse_name

VALID = [
    # raw, (scheme, host, namespace, model, tag), display
    ("llama3", ("https", "registry.ollama.ai", "library", "llama3", "latest"), "llama3:latest"),
    ("llama3.2:1b", ("https", "registry.ollama.ai", "library", "llama3.2", "1b"), "llama3.2:1b"),
    ("orca-mini:3b-q8_0", ("https", "registry.ollama.ai", "library", "orca-mini", "3b-q8_0"), "orca-mini:3b-q8_0"),
    ("user/model", ("https", "registry.ollama.ai", "user", "model", "latest"), "user/model:latest"),
    ("jmorgan/mymodel", ("https", "registry.ollama.ai", "jmorgan", "mymodel", "latest"), "jmorgan/mymodel:latest"),
    (
        "localhost:5000/ns/model:tag",
        ("https", "localhost:5000", "ns", "model", "tag"),
        "localhost:5000/ns/model:tag",
    ),
    (
        "http://localhost:5000/ns/model:tag",
        ("http", "localhost:5000", "ns", "model", "tag"),
        "localhost:5000/ns/model:tag",
    ),
    ("https://example.com/ns/m", ("https", "example.com", "ns", "m", "latest"), "example.com/ns/m:latest"),
    ("example.com:5000/ns/m:v1", ("https", "example.com:5000", "ns", "m", "v1"), "example.com:5000/ns/m:v1"),
    # namespace kept whenever the host is not the default, even if it is "library"
    ("example.com/library/m", ("https", "example.com", "library", "m", "latest"), "example.com/library/m:latest"),
    # defaults are recognised case-insensitively; case is preserved
    (
        "REGISTRY.OLLAMA.AI/LIBRARY/Llama3:Latest",
        ("https", "REGISTRY.OLLAMA.AI", "LIBRARY", "Llama3", "Latest"),
        "Llama3:Latest",
    ),
    ("registry.ollama.ai/Alice/m", ("https", "registry.ollama.ai", "Alice", "m", "latest"), "Alice/m:latest"),
    ("h/ns/m", ("https", "h", "ns", "m", "latest"), "h/ns/m:latest"),
    ("_m:_t", ("https", "registry.ollama.ai", "library", "_m", "_t"), "_m:_t"),
    ("m:1.0-rc_1", ("https", "registry.ollama.ai", "library", "m", "1.0-rc_1"), "m:1.0-rc_1"),
    ("a" * 80, ("https", "registry.ollama.ai", "library", "a" * 80, "latest"), "a" * 80 + ":latest"),
    ("m:" + "t" * 80, ("https", "registry.ollama.ai", "library", "m", "t" * 80), "m:" + "t" * 80),
    ("n" * 80 + "/m", ("https", "registry.ollama.ai", "n" * 80, "m", "latest"), "n" * 80 + "/m:latest"),
    ("h" * 350 + "/n/m", ("https", "h" * 350, "n", "m", "latest"), "h" * 350 + "/n/m:latest"),
]

INVALID = [
    "",
    "m:",  # separator with nothing after it
    "/m",
    "a//m",
    "m/",
    ":t",
    "a/b/c/d",  # host would contain "/"
    "x/y/z/w:t",
    "m@sha256:" + "a" * 64,  # @digest is not supported at HEAD
    "m:t@sha256-" + "a" * 64,
    "-m",
    ".m",
    "m:-t",
    "m:.t",
    "my.ns/m",  # namespace allows no "."
    "ns/m:t/x",
    "a:b:c",
    "m m",
    " m",
    "m\n",
    "héllo",
    "m:t\u00e9",
    "../m",
    "h/../m",
    "../../etc/passwd",
    "..:5000/ns/m",
    "a" * 81,
    "m:" + "t" * 81,
    "n" * 81 + "/m",
    "h" * 351 + "/n/m",
    "ftp://h/ns/m",  # only http/https mean anything (deviation: Ollama accepts any text)
    "://h/ns/m",
    "http://m",
    "http://m:t",
    "a://b://c/ns/m",
    "m:cloud:local",
]


@pytest.mark.parametrize(("raw", "parts", "display"), VALID)
def test_valid_names_parse_into_parts_and_display(raw: str, parts: tuple[str, ...], display: str) -> None:
    name = parse_name(raw)
    assert (name.scheme, name.host, name.namespace, name.model, name.tag) == parts
    assert name.display == display
    assert name.full == f"{parts[1]}/{parts[2]}/{parts[3]}:{parts[4]}"
    assert str(name) == name.full
    assert name.manifest_parts == parts[1:]
    assert is_valid_name(raw)


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_names_raise_invalid_model_name(raw: str) -> None:
    with pytest.raises(InvalidModelNameError) as info:
        parse_name(raw)
    assert str(info.value) == "invalid model name"
    assert info.value.status == 400
    assert not is_valid_name(raw)


def test_non_string_input_is_an_invalid_name() -> None:
    with pytest.raises(InvalidModelNameError):
        parse_name(None)  # type: ignore[arg-type]


def test_the_scheme_does_not_change_identity() -> None:
    plain = parse_name("localhost:5000/ns/m:v1")
    insecure = parse_name("http://localhost:5000/ns/m:v1")
    assert plain == insecure and hash(plain) == hash(insecure)
    assert insecure.scheme == "http"


def test_equality_is_case_sensitive_but_casefold_key_is_not() -> None:
    a, b = parse_name("Llama3:Latest"), parse_name("llama3:latest")
    assert a != b
    assert a.casefold_key == b.casefold_key
    assert a.same_model(b)
    assert not a.same_model(parse_name("llama3:other"))


def test_constructing_an_invalid_name_directly_is_refused() -> None:
    with pytest.raises(InvalidModelNameError):
        ModelName("https", "registry.ollama.ai", "..", "m", "latest")
    good = parse_name("m")
    with pytest.raises(InvalidModelNameError):
        dataclasses.replace(good, tag="a/b")


def test_module_all_is_sorted_and_exported() -> None:
    assert names.__all__ == sorted(names.__all__)
    assert all(hasattr(names, item) for item in names.__all__)


_HOST = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,40}", fullmatch=True)
_NAMESPACE = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,20}", fullmatch=True)
_PART = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_NAMES = st.builds(ModelName, st.sampled_from(["http", "https"]), _HOST, _NAMESPACE, _PART, _PART)


@given(_NAMES)
def test_full_form_round_trips(name: ModelName) -> None:
    parsed = parse_name(name.full)
    assert parsed == name
    assert parse_name(f"{name.scheme}://{name.full}").scheme == name.scheme


@given(_NAMES)
def test_display_form_round_trips_up_to_the_casing_of_defaults(name: ModelName) -> None:
    parsed = parse_name(name.display)
    assert parsed.casefold_key == name.casefold_key
    assert (parsed.model, parsed.tag) == (name.model, name.tag)
    assert parsed.display == name.display


@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_and_never_yields_a_path_escape(raw: str) -> None:
    try:
        name = parse_name(raw)
    except InvalidModelNameError:
        assert not is_valid_name(raw)
        return
    for part in name.manifest_parts:
        assert "/" not in part and part not in ("", ".", "..") and part.isascii()
