"""The tool-call parser: Ollama's ``tools.Parser`` cases, with tags from real templates."""

from __future__ import annotations

from typing import Any

import pytest

from ollama_actors.domain.gotemplate import Template
from ollama_actors.runner.domain.tool_parser import ToolCallParser

QWEN = (
    '{{if .ToolCalls}}<tool_call>{{range .ToolCalls}}{"name": "{{.Function.Name}}", '
    '"arguments": {{.Function.Arguments}}}{{end}}</tool_call>{{end}}'
)
JSON = '{{if .ToolCalls}}{{range .ToolCalls}}{"name": "{{.Function.Name}}", "arguments": {{.Function.Arguments}}}{{end}}{{end}}'
MISTRAL = (
    '{{if .ToolCalls}}[TOOL_CALLS] [{{range .ToolCalls}}{"name": "{{.Function.Name}}", '
    '"arguments": {{.Function.Arguments}}}{{end}}][/TOOL_CALLS]{{end}}'
)
LIST = '{{if .ToolCalls}}[{{range .ToolCalls}}{"name": "{{.Function.Name}}", "arguments": {{.Function.Arguments}}}{{end}}]{{end}}'
DEEPSEEK = (
    "{{if .ToolCalls}}<|tool▁calls▁begin|>{{range .ToolCalls}}<|tool▁call▁begin|>function<|tool▁sep|>"
    'get_current_weather\n```json\n{"location": "Tokyo"}\n```<|tool▁call▁end|>{{end}}<|tool▁calls▁end|>'
    "<|end▁of▁sentence|>{{end}}"
)
NAMES = ("get_temperature", "get_conditions", "say_hello", "say_hello_world", "get_address", "add")
TOOLS = [{"type": "function", "function": {"name": n}} for n in NAMES]

Call = tuple[str, dict[str, Any]]


def run(template: str, inputs: list[str]) -> tuple[str, list[Call], list[int]]:
    parser = ToolCallParser.for_tools(Template.parse(template).tool_call_tag, TOOLS)
    content, calls = "", []
    for text in inputs:
        parser, found, said = parser.add(text)
        calls.extend(found)
        content += said
    return content, [(c.function.name, c.function.arguments) for c in calls], [c.function.index for c in calls]


TOKYO = {"location": "Tokyo"}
CASES: list[tuple[str, str, list[str], str, list[Call]]] = [
    ("just text", QWEN, ["Hello, how can I help you today?"], "Hello, how can I help you today?", []),
    ("empty input", QWEN, [""], "", []),
    ("tool call", QWEN, ['<tool_call>{"name": "get_conditions", "arguments": {"location": "San Francisco"}}</tool_call>'], "", [("get_conditions", {"location": "San Francisco"})]),
    ("empty args", QWEN, ['<tool_call>{"name": "get_conditions", "arguments": {}}</tool_call>'], "", [("get_conditions", {})]),
    ("text before the call", QWEN, ['Let me check. <tool_call>{"name": "get_temperature", "arguments": {"city": "New York"}}</tool_call>'], "Let me check. ", [("get_temperature", {"city": "New York"})]),
    ("two calls in a list", MISTRAL, ['[TOOL_CALLS] [{"name": "get_temperature", "arguments": {"city": "London", "format": "fahrenheit"}}, {"name": "get_conditions", "arguments": {"location": "Tokyo"}}][/TOOL_CALLS]'], "", [("get_temperature", {"city": "London", "format": "fahrenheit"}), ("get_conditions", TOKYO)]),
    ("two qwen calls", QWEN, ['Both! <tool_call>{"name": "get_temperature", "arguments": {"city": "London"}}</tool_call><tool_call>{"name": "get_conditions", "arguments": {"location": "Tokyo"}}</tool_call>'], "Both! ", [("get_temperature", {"city": "London"}), ("get_conditions", TOKYO)]),
    ("deepseek", DEEPSEEK, ["<think>Wait</think><|tool▁calls▁begin|><|tool▁call▁begin|>function<|tool▁sep|>get_temperature\n```json\n{\"city\": \"Tokyo\"}\n```<|tool▁call▁end|><|tool▁calls▁end|><|end▁of▁sentence|>"], "<think>Wait</think>", [("get_temperature", {"city": "Tokyo"})]),
    ("deepseek incremental", DEEPSEEK, ["<think>Wait</think>", "<|too", "l▁calls▁begin", "|>", "<|tool▁call▁begin|>function<|tool▁sep|>get_temperature\n", "```json\n", "{\"city\": \"Tokyo\"}\n", "```", "<|tool▁call▁end|>", "<|tool▁calls▁end|>"], "<think>Wait</think>", [("get_temperature", {"city": "Tokyo"})]),
    ("json streamed", JSON, ["{", '"name": "get_temperature",', '"arguments": {', '"city": "Tokyo"', "}", "}"], "", [("get_temperature", {"city": "Tokyo"})]),
    ("json maybe a call", JSON, ["{", '"name": "get_temperature",', '"arguments": {'], "", []),
    ("json not a call", JSON, ["{", '"name": "search", ', '"arguments": {', '"query": "capital?"', "}", "}"], '{"name": "search", "arguments": {"query": "capital?"}}', []),
    ("json object then a call", JSON, ['{"name": "jeff"}', '{"name": "get_conditions", "arguments": {"location": "SF"}}'], '{"name": "jeff"}{"name": "get_conditions", "arguments": {"location": "SF"}}', []),
    ("json code", JSON, ['for { fmt.Println("hello") }'], 'for { fmt.Println("hello") }', []),
    ("list of two", LIST, ["[", "{", '"name": "get_temperature", ', '"arguments": {', '"city": "London"', "}", "},", "{", '"name": "get_conditions", ', '"arguments": {', '"location": "Tokyo"', "}", "}]"], "", [("get_temperature", {"city": "London"}), ("get_conditions", TOKYO)]),
    ("list invalid", LIST, ["[", "{", '"name": "search", ', '"arguments": {', '"query": "x"', "}", "}"], "", []),
    ("list not a call", LIST, ["[special", " del", "ivery]"], "[special delivery]", []),
    ("name collision streamed", QWEN, ["<tool_call>", "{", '"name": "say_hello', '_world",', '"arguments": {}}', "}"], "", [("say_hello_world", {})]),
    ("name collision twice", QWEN, ["<tool_call>", "{", '"name": "say_hello', '_world",', '"arguments": {}}', "</tool_call>", "<tool_call>", "{", '"name": "say_hello', '",', '"arguments": {}}', "</tool_call>"], "", [("say_hello_world", {}), ("say_hello", {})]),
    ("partial name waits", QWEN, ['<tool_call>{"name": "say_hello'], "", []),
    ("shorter then longer", QWEN, ['<tool_call>{"name": "say_hello", "arguments": {}}</tool_call><tool_call>{"name": "say_hello_world", "arguments": {}}'], "", [("say_hello", {}), ("say_hello_world", {})]),
    ("name that contains another", JSON, ["{", '"name": "get_address",', '"arguments": {', '"location": "London"', "}", "}"], "", [("get_address", {"location": "London"})]),
    ("arguments before name", QWEN, ['<tool_call>{"arguments": {"a": "5", "b": "10"}, "name": "add"}</tool_call>'], "", [("add", {"a": "5", "b": "10"})]),
    ("arguments as a JSON string", QWEN, ['<tool_call>{"name": "add", "arguments": "{\\"a\\": 1}"}</tool_call>'], "", [("add", {"a": 1})]),
    ("parameters key", QWEN, ['<tool_call>{"name": "add", "parameters": {"a": 1}}</tool_call>'], "", [("add", {"a": 1})]),
    ("keyed by the tool name", QWEN, ['<tool_call>{"add": {"a": 1}}</tool_call>'], "", [("add", {"a": 1})]),
    ("nested call object", QWEN, ['<tool_call>{"call": {"name": "add", "arguments": {"b": 2}}}</tool_call>'], "", [("add", {"b": 2})]),
    ("no recognisable shape: whole object", QWEN, ['<tool_call>add {"a": 1, "b": 2}</tool_call>'], "", [("add", {"a": 1, "b": 2})]),
    ("a call without arguments is not a call", QWEN, ['<tool_call>{"name": "say_hello"}</tool_call>'], "", []),
    ("braces inside strings", QWEN, ['<tool_call>{"name": "add", "arguments": {"a": "}{\\"", "b": "x"}}</tool_call>'], "", [("add", {"a": '}{"', "b": "x"})]),
    ("text after a named tag is never shown", QWEN, ['<tool_call>{"name": "add", "arguments": {}}</tool_call> and more'], "", [("add", {})]),
    ("leading text disables bracket parsing", JSON, ['Sure: {"name": "add", "arguments": {"a": 1}}'], 'Sure: {"name": "add", "arguments": {"a": 1}}', []),
]


@pytest.mark.parametrize(("template", "inputs", "content", "calls"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_calls_and_content_are_parsed_as_ollama_parses_them(
    template: str, inputs: list[str], content: str, calls: list[Call]
) -> None:
    got_content, got_calls, indexes = run(template, inputs)
    assert got_content == content
    assert got_calls == calls
    assert indexes == list(range(len(calls)))


@pytest.mark.parametrize(("template", "inputs", "content", "calls"), [c[1:] for c in CASES if c[0] in {
    "tool call", "two qwen calls", "json streamed", "list of two", "arguments before name", "braces inside strings"}])
def test_character_by_character_streaming_finds_the_same_calls(
    template: str, inputs: list[str], content: str, calls: list[Call]
) -> None:
    _, got_calls, _ = run(template, list("".join(inputs)))
    assert got_calls == calls


def test_arguments_keep_the_models_key_order() -> None:
    _, calls, _ = run(QWEN, ['<tool_call>{"name": "add", "arguments": {"z": 1, "a": 2, "m": 3}}</tool_call>'])
    assert list(calls[0][1]) == ["z", "a", "m"]


def test_content_at_the_end_returns_an_unfinished_bracket_buffer_when_no_call_was_found() -> None:
    parser = ToolCallParser.for_tools("{", TOOLS)
    parser, calls, content = parser.add('{"name": "get_temperature", "argu')
    assert (calls, content) == ((), "")
    assert parser.content() == '{"name": "get_temperature", "argu'
    named = ToolCallParser.for_tools("<tool_call>", TOOLS)
    named, _, _ = named.add("<tool_call>{oops")
    assert named.content() == ""


def test_the_tag_comes_from_the_template_and_defaults_to_a_brace() -> None:
    assert Template.parse(QWEN).tool_call_tag == "<tool_call>"
    assert Template.parse(MISTRAL).tool_call_tag == "[TOOL_CALLS] ["  # Go keeps the text up to "{"
    assert Template.parse("{{ .Prompt }}").tool_call_tag == "{"
