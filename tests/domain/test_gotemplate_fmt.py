"""Values print as Go's ``fmt`` and ``encoding/json`` print them, including the Go
types Ollama hands its templates."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.domain.chat import ChatMessage, ToolCall, ToolFunctionCall
from ollama_actors.domain.gotemplate import Template, go_json, sprint, sprintf, template_messages, template_tools
from ollama_actors.domain.gotemplate.gofmt import format_float_json, sprintln

SPRINT = [
    ([1000000.0], "1e+06"),
    ([123456.0], "123456"),
    ([0.1], "0.1"),
    ([1e-05], "1e-05"),
    ([3.0], "3"),
    ([-0.0], "-0"),
    ([math.inf, -math.inf, math.nan], "+Inf -Inf NaN"),
    ([1, 2, "a", 3, "b", None], "1 2a3b<nil>"),
    ([[1, "x", 2.5, None]], "[1 x 2.5 <nil>]"),
    ([{"b": 1, "a": None}], "map[a:<nil> b:1]"),
    ([b"hi"], "[104 105]"),
    ([True, False], "true false"),
]


@pytest.mark.parametrize(("args", "text"), SPRINT)
def test_sprint_follows_go(args: list[Any], text: str) -> None:
    assert sprint(args) == text


SPRINTF = [
    ("%s|%v|%d", ["a", [1, 2], 42], "a|[1 2]|42"),
    ("%q|%q", ['a"b\n', 97], '"a\\"b\\n"|\'a\''),
    ("%5d|%-5d|%05d|%+d|%x|%X|%o|%b|%#x", [42, 42, 42, 42, 255, 255, 8, 5, 255], "   42|42   |00042|+42|ff|FF|10|101|0xff"),
    ("%.2f|%8.3f|%e|%g|%G|%.3g", [3.14159, 3.14159, 1234.5678, 0.00001, 1e21, 3.14159], "3.14|   3.142|1.234568e+03|1e-05|1E+21|3.14"),
    ("%c|%U|%t|%x|%.2s|%5s|%-5s|", [65, 0x1F600, True, "hi", "hello", "ab", "ab"], "A|U+1F600|true|6869|he|   ab|ab   |"),
    ("%d|%s|%t", ["x", 1, 1], "%!d(string=x)|%!s(int=1)|%!t(int=1)"),
    ("%d %d", [1], "1 %!d(MISSING)"),
    ("%d", [1, "x", None], "1%!(EXTRA string=x, <nil>)"),
    ("100%%|%", [], "100%|%!(NOVERB)"),
    ("%v|%d", [None, None], "<nil>|%!d(<nil>)"),
]


@pytest.mark.parametrize(("fmt", "args", "text"), SPRINTF)
def test_sprintf_follows_go(fmt: str, args: list[Any], text: str) -> None:
    assert sprintf(fmt, args) == text


def test_sprintln_separates_with_spaces_and_ends_with_a_newline() -> None:
    assert sprintln(["a", 1, "b"]) == "a 1 b\n"


GO_JSON = [
    ({"b": 1, "a": [True, None, 2.5]}, '{"a":[true,null,2.5],"b":1}'),
    ("<a&b>\u2028", '"\\u003ca\\u0026b\\u003e\\u2028"'),
    ("tab\tnl\nbs\\q\"\x01\b\f", '"tab\\tnl\\nbs\\\\q\\"\\u0001\\b\\f"'),
    (3.0, "3"),
    (1e21, "1e+21"),
    (1e-7, "1e-7"),
    (0.000001, "0.000001"),
    (123456789.0, "123456789"),
    (b"\x00\xff", '"AP8="'),
    ([], "[]"),
    ("é", '"é"'),
]


@pytest.mark.parametrize(("value", "text"), GO_JSON)
def test_go_json_matches_encoding_json(value: object, text: str) -> None:
    assert go_json(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_json_floats_read_back_exactly(value: float) -> None:
    assert float(format_float_json(value)) == value


def test_json_function_renders_empty_for_values_go_cannot_encode() -> None:
    assert Template.parse("[{{ json .X }}]").execute({"X": math.nan}) == "[]"


def test_tool_call_arguments_print_as_sorted_compact_json() -> None:
    call = ToolCall(ToolFunctionCall("f", {"z": "<x>", "a": [1, 2], "m": {"k": 1.5}}))
    (message,) = template_messages([ChatMessage("assistant", tool_calls=(call,))])
    assert sprint([message.ToolCalls[0].Function.Arguments]) == '{"a":[1,2],"m":{"k":1.5},"z":"\\u003cx\\u003e"}'


def test_argument_numbers_are_go_float64s() -> None:
    call = ToolCall(ToolFunctionCall("f", {"n": 10000000, "k": 2}))
    template = Template.parse("{{ range .M }}{{ range .ToolCalls }}{{ range $k, $v := .Function.Arguments }}{{ $k }}={{ $v }} {{ end }}{{ end }}{{ end }}")
    assert template.execute({"M": template_messages([ChatMessage("assistant", tool_calls=(call,))])}) == "k=2 n=1e+07 "


def test_message_without_tool_calls_prints_empty_slices_and_encodes_them_as_null() -> None:
    (message,) = template_messages([ChatMessage("user", "hi")])
    assert Template.parse("{{ .ToolCalls }}|{{ .Images }}").execute(message) == "[]|[]"  # type: ignore[arg-type]
    assert go_json(message) == (
        '{"Role":"user","Content":"hi","Thinking":"","Images":null,"ToolCalls":null,"ToolName":"","ToolCallID":""}'
    )


def test_no_tools_print_as_null_and_are_false() -> None:
    template = Template.parse("{{ .Tools }}|{{ if .Tools }}yes{{ else }}no{{ end }}|{{ json .Tools }}")
    assert template.execute({"Tools": template_tools(None)}) == "null|no|null"
    assert template.execute({"Tools": template_tools([])}) == "[]|no|[]"


def test_property_type_prints_bare_and_nested_properties_keep_their_order() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {
                "type": "object",
                "properties": {
                    "o": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": ["number", "null"]}}},
                },
            },
        },
    }
    (rendered,) = template_tools([tool])
    template = Template.parse("{{ range $n, $p := .Function.Parameters.Properties }}{{ $p.Type }} {{ json $p }}{{ end }}")
    assert template.execute(rendered) == (  # type: ignore[arg-type]
        'object {"type":"object","properties":{"z":{"type":"string"},"a":{"type":["number","null"]}}}'
    )
