"""What Ollama reads off a template: variables, capabilities, thinking and tool-call
tags, and the two tree rewrites of its legacy path."""

from __future__ import annotations

import pytest

from ollama_actors.domain.gotemplate import Template

QWEN3 = """
{{- if or .System .Tools .Thinking }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if and $last .Thinking }}
<think>{{ .Thinking }}</think>
{{ end }}
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- end }}
"""


def test_variables_are_the_root_fields_a_template_reads() -> None:
    template = Template.parse(QWEN3)
    assert template.variables() == frozenset({"System", "Tools", "Thinking", "Messages"})


def test_variables_skip_fields_of_range_and_with_elements_but_keep_dollar_fields() -> None:
    template = Template.parse("{{ with .A }}{{ .B }}{{ $.C }}{{ else }}{{ .D }}{{ end }}{{ range .E }}{{ .F }}{{ end }}")
    assert template.variables() == frozenset({"A", "C", "D", "E"})


def test_identifiers_are_ollamas_lower_cased_vars() -> None:
    template = Template.parse("{{ range .Messages }}{{ .Role }}{{ end }}{{ $.Tools }}")
    assert template.identifiers == frozenset({"messages", "role", "$", "tools"})


CAPABILITIES = [
    # template, uses_messages, uses_tools, uses_suffix, renders_thinking
    ("{{ .Prompt }}", False, False, False, False),
    ("{{ if .Suffix }}<PRE>{{ .Prompt }}<SUF>{{ .Suffix }}<MID>{{ end }}", False, False, True, False),
    ("{{ range .Messages }}{{ .Content }}{{ end }}{{ if .Tools }}{{ .Tools }}{{ end }}", True, True, False, False),
    (QWEN3, True, True, False, True),
    ("{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}", False, False, False, False),
]


@pytest.mark.parametrize(("source", "messages", "tools", "suffix", "thinking"), CAPABILITIES)
def test_capabilities_follow_ollamas_template_inspection(
    source: str, messages: bool, tools: bool, suffix: bool, thinking: bool
) -> None:
    template = Template.parse(source)
    assert (template.uses_messages, template.uses_tools, template.uses_suffix) == (messages, tools, suffix)
    assert template.renders_thinking_in_messages is thinking


THINKING_TAGS = [
    (QWEN3, ("<think>", "</think>")),
    (
        "{{- range $i, $_ := .Messages }}{{ if .Thinking }}\n  Some text before   {{ .Thinking }}    Some text after\n{{ end }}{{ end }}",
        ("Some text before", "Some text after"),
    ),
    ("{{- range .Messages }}{{ range .Parts }}<t>{{ .Thinking }}</t>{{ end }}{{ end }}", ("", "")),
    ("{{ .Thinking }}", ("", "")),
]


@pytest.mark.parametrize(("source", "tags"), THINKING_TAGS)
def test_thinking_tags_come_from_the_list_around_thinking_in_range_messages(source: str, tags: tuple[str, str]) -> None:
    assert Template.parse(source).thinking_tags == tags


TOOL_TAGS = [
    ("", "{"),
    ("{{if .ToolCalls}}{{end}}", "{"),
    ("{{if .ToolCalls}}```json\n{{end}}", "```json"),
    ("{{if .ToolCalls}}\n [ {{range .ToolCalls}}{{ . }}{{end}}]{{end}}", "["),
    ("{{if .ToolCalls}}{{range .ToolCalls}}{{ . }}{{end}}]{{end}}", "{"),
    ('{{if .ToolCalls}}{{range .ToolCalls}}\r\n{"name": "{{ .Function.Name }}"}{{end}}{{end}}', "{"),
    (QWEN3, "<tool_call>"),
    ("{{ range .Messages }}{{ if eq .Role \"x\" }}{{ else if .ToolCalls }}[TOOL_CALLS]{{ end }}{{ end }}", "[TOOL_CALLS]"),
]


@pytest.mark.parametrize(("source", "tag"), TOOL_TAGS)
def test_tool_call_tag_is_the_first_text_inside_if_tool_calls(source: str, tag: str) -> None:
    assert Template.parse(source).tool_call_tag == tag


def test_with_response_appends_response_only_when_neither_messages_nor_response_is_used() -> None:
    legacy = Template.parse("[INST] {{ .Prompt }} [/INST]")
    assert legacy.with_response().execute({"Prompt": "hi", "Response": "ok"}) == "[INST] hi [/INST]ok"
    with_messages = Template.parse("{{ range .Messages }}{{ end }}")
    assert with_messages.with_response() is with_messages
    with_response = Template.parse("{{ .Prompt }}{{ .Response }}!")
    assert with_response.with_response() is with_response


def test_cut_after_response_drops_everything_after_the_first_response_even_inside_blocks() -> None:
    template = Template.parse(
        "{{ if .System }}S:{{ .System }} {{ end }}U:{{ .Prompt }} A:{{ if .Prompt }}{{ .Response }} end{{ end }} tail"
    )
    cut = template.cut_after_response()
    assert cut.execute({"System": "s", "Prompt": "p", "Response": "r"}) == "S:s U:p A:r"
    assert template.execute({"System": "s", "Prompt": "p", "Response": "r"}) == "S:s U:p A:r end tail"


def test_cut_template_keeps_the_source_text_and_defines() -> None:
    template = Template.parse('{{ define "x" }}X{{ end }}{{ template "x" . }}{{ .Response }}<|end|>')
    cut = template.cut_after_response()
    assert str(cut) == str(template)
    assert cut.execute({"Response": "r"}) == "Xr"
