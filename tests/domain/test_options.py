"""Options: Ollama's merge order, its type checks and wording, unknown keys ignored."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.domain.errors import InvalidOptionError
from ollama_actors.domain.options import (
    DEFAULTS,
    OPTION_TYPES,
    check_option_types,
    merge_options,
)


def test_defaults_then_server_num_ctx_when_nothing_else_is_given() -> None:
    resolved = merge_options({}, None, default_num_ctx=8192)
    assert resolved.values == {**DEFAULTS, "num_ctx": 8192}
    assert resolved.ignored == ()


@pytest.mark.parametrize(
    ("model_params", "request_options", "expected"),
    [
        ({}, {}, {"temperature": 0.8, "num_ctx": 2048, "top_k": 40}),
        ({"temperature": 0.1}, {}, {"temperature": 0.1, "num_ctx": 2048, "top_k": 40}),
        ({"temperature": 0.1}, {"temperature": 0.5}, {"temperature": 0.5, "num_ctx": 2048, "top_k": 40}),
        ({"num_ctx": 1024}, {}, {"temperature": 0.8, "num_ctx": 1024, "top_k": 40}),
        ({"num_ctx": 1024}, {"num_ctx": 512}, {"temperature": 0.8, "num_ctx": 512, "top_k": 40}),
        ({"top_k": 5}, {"temperature": 0}, {"temperature": 0.0, "num_ctx": 2048, "top_k": 5}),
    ],
)
def test_later_sources_win_defaults_then_num_ctx_then_model_then_request(
    model_params: dict[str, Any], request_options: dict[str, Any], expected: dict[str, Any]
) -> None:
    values = merge_options(model_params, request_options, default_num_ctx=2048).values
    assert {key: values[key] for key in expected} == expected


def test_a_null_request_value_leaves_the_model_value_in_place() -> None:
    values = merge_options({"temperature": 0.2}, {"temperature": None}, default_num_ctx=2048).values
    assert values["temperature"] == 0.2


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("num_ctx", "4096", "integer"),
        ("num_ctx", True, "integer"),
        ("num_ctx", [1], "integer"),
        ("seed", {"a": 1}, "integer"),
        ("temperature", "hot", "float32"),
        ("temperature", False, "float32"),
        ("top_p", [0.5], "float32"),
        ("use_mmap", 1, "boolean"),
        ("use_mmap", "true", "boolean"),
        ("stop", "</s>", "array"),
        ("stop", {"a": "b"}, "array"),
    ],
)
def test_a_known_option_of_the_wrong_type_is_an_error_in_ollamas_words(key: str, value: object, kind: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        merge_options({}, {key: value}, default_num_ctx=2048)
    assert str(caught.value) == f'option "{key}" must be of type {kind}'
    assert caught.value.status == 400


@pytest.mark.parametrize("stop", [["a", 1], [None], [["x"]]])
def test_stop_must_be_an_array_of_strings(stop: list[object]) -> None:
    with pytest.raises(InvalidOptionError, match=r'^option "stop" must be of an array of strings$'):
        check_option_types({"stop": stop})


def test_stop_list_of_strings_is_kept_in_order() -> None:
    values = merge_options({"stop": ["<|eot_id|>"]}, {"stop": ["\n\n", "User:"]}, default_num_ctx=2048).values
    assert values["stop"] == ["\n\n", "User:"]


def test_model_stop_list_is_used_when_the_request_has_none() -> None:
    values = merge_options({"stop": ("<|eot_id|>", "<|end|>")}, {}, default_num_ctx=2048).values
    assert values["stop"] == ["<|eot_id|>", "<|end|>"]


def test_unknown_and_deprecated_keys_are_ignored_and_reported() -> None:
    resolved = merge_options(
        {}, {"temperature": 0.3, "bogus": 1, "mirostat": 2, "tfs_z": 1.0}, default_num_ctx=2048
    )
    assert resolved.ignored == ("bogus", "mirostat", "tfs_z")
    assert "bogus" not in resolved.values
    assert "mirostat" not in resolved.values
    assert resolved.values["temperature"] == 0.3


def test_unknown_keys_are_not_type_checked() -> None:
    assert check_option_types({"whatever": object()}) == ("whatever",)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("num_ctx", 4096.0, 4096),  # JSON numbers may arrive as floats
        ("top_k", 10, 10),
        ("temperature", 1, 1.0),
        ("seed", -1, -1),
        ("use_mmap", False, False),
    ],
)
def test_values_are_normalised_to_their_option_type(key: str, value: object, expected: object) -> None:
    got = merge_options({}, {key: value}, default_num_ctx=2048).values[key]
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(("num_ctx", "expected"), [(0, 4), (1, 4), (3, 4), (4, 4), (5, 5)])
def test_num_ctx_is_clamped_to_at_least_four(num_ctx: int, expected: int) -> None:
    assert merge_options({}, {"num_ctx": num_ctx}, default_num_ctx=2048).values["num_ctx"] == expected


def test_options_that_are_not_an_object_are_rejected() -> None:
    with pytest.raises(InvalidOptionError, match="options must be an object"):
        merge_options({}, ["temperature", 0.1], default_num_ctx=2048)  # type: ignore[arg-type]


def test_merging_does_not_modify_the_inputs() -> None:
    model = {"stop": ["a"], "temperature": 0.1}
    request = {"stop": ["b"]}
    merge_options(model, request, default_num_ctx=2048)
    assert model == {"stop": ["a"], "temperature": 0.1}
    assert request == {"stop": ["b"]}


_INTEGER_KEYS = sorted(k for k, kind in OPTION_TYPES.items() if kind == "integer")
_FLOAT_KEYS = sorted(k for k, kind in OPTION_TYPES.items() if kind == "float32")


@given(
    key=st.sampled_from(_INTEGER_KEYS + _FLOAT_KEYS),
    model_value=st.integers(min_value=4, max_value=10**6),
    request_value=st.integers(min_value=4, max_value=10**6),
)
def test_the_request_value_always_wins_over_the_model_value(key: str, model_value: int, request_value: int) -> None:
    values = merge_options({key: model_value}, {key: request_value}, default_num_ctx=2048).values
    assert values[key] == request_value


@given(st.dictionaries(st.text(min_size=1).filter(lambda k: k not in OPTION_TYPES), st.integers(), max_size=5))
def test_any_set_of_unknown_keys_is_reported_and_leaves_the_defaults(extra: dict[str, int]) -> None:
    resolved = merge_options({}, extra, default_num_ctx=2048)
    assert set(resolved.ignored) == set(extra)
    assert resolved.values == {**DEFAULTS, "num_ctx": 2048}
