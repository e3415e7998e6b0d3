"""Ollama's duration values: Go's ParseDuration syntax, numbers as seconds, negative = forever."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.domain.durations import format_go_duration, parse_go_duration, parse_keep_alive
from ollama_actors.domain.errors import BadRequestError, InvalidRequestError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("-1m", -60.0),
        ("+5s", 5.0),
        ("0", 0.0),
        ("-0", 0.0),
        ("0s", 0.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("2h45m30.5s", 9930.5),
        ("10ns", 1e-8),
        ("3us", 3e-6),
        ("3µs", 3e-6),
        ("1h1h", 7200.0),
    ],
)
def test_go_duration_syntax_parses_to_seconds(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3600", 'time: missing unit in duration "3600"'),
        ("1h30", 'time: missing unit in duration "1h30"'),
        ("-5", 'time: missing unit in duration "-5"'),
        ("1x", 'time: unknown unit "x" in duration "1x"'),
        ("5mx", 'time: unknown unit "mx" in duration "5mx"'),
        ("", 'time: invalid duration ""'),
        ("-", 'time: invalid duration "-"'),
        (".", 'time: invalid duration "."'),
        ("abc", 'time: invalid duration "abc"'),
        ("m5", 'time: invalid duration "m5"'),
    ],
)
def test_malformed_durations_are_rejected_in_gos_words(text: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_go_duration(text)
    assert str(caught.value) == message
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (300, 300.0),
        (1.5, 1.5),
        ("10m", 600.0),
        ("0s", 0.0),
        ("0", 0.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
    ],
)
def test_keep_alive_numbers_are_seconds_and_strings_are_go_durations(value: object, seconds: float) -> None:
    assert parse_keep_alive(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [-1, -0.5, -3600, "-1m", "-1s", "-1h30m"])
def test_negative_keep_alive_means_forever(value: object) -> None:
    assert parse_keep_alive(value) == math.inf


def test_bare_number_inside_a_keep_alive_string_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match=r'^time: missing unit in duration "3600"$'):
        parse_keep_alive("3600")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(True, "bool"), (False, "bool"), ({"a": 1}, "dict"), ([5], "list"), (None, "NoneType")],
)
def test_keep_alive_of_another_type_is_an_unsupported_type(value: object, type_name: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_keep_alive(value)
    assert str(caught.value) == f"Unsupported type: '{type_name}'"


def test_nan_keep_alive_is_rejected() -> None:
    with pytest.raises(BadRequestError):
        parse_keep_alive(float("nan"))


def test_blank_keep_alive_string_is_a_bad_request_not_a_crash() -> None:
    """Regression: an empty string once raised IndexError (a 500) instead of a 400."""
    with pytest.raises(InvalidRequestError, match="invalid duration"):
        parse_keep_alive("  ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (1.5, "1.5s"),
        (60, "1m0s"),
        (61.25, "1m1.25s"),
        (300, "5m0s"),
        (3600, "1h0m0s"),
        (5400, "1h30m0s"),
        (90061, "25h1m1s"),
        (0.5, "500ms"),
        (0.0015, "1.5ms"),
        (2.5e-6, "2.5µs"),
        (1e-9, "1ns"),
        (59.123456789, "59.123456789s"),
        (-60, "-1m0s"),
        (math.inf, "-1"),
    ],
)
def test_format_go_duration_writes_what_gos_duration_string_writes(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**12))
def test_formatted_whole_milliseconds_parse_back_to_the_same_value(millis: int) -> None:
    seconds = millis / 1000
    assert parse_go_duration(format_go_duration(seconds)) == pytest.approx(seconds, rel=1e-12, abs=1e-9)


@given(
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=0, max_value=59),
    st.integers(min_value=0, max_value=59),
)
def test_hours_minutes_seconds_compose_additively(hours: int, minutes: int, seconds: int) -> None:
    assert parse_go_duration(f"{hours}h{minutes}m{seconds}s") == hours * 3600 + minutes * 60 + seconds
