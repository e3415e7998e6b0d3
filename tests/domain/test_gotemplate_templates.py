"""Real Ollama templates render to the exact text Ollama produces.

Template texts are Ollama's built-in templates (ChatML, Llama 3, Mistral, Gemma,
Phi-3) and library templates with tools (Llama 3.1, Mistral v0.3); expected texts
are written out: Ollama's own test data for the built-ins, and Go's rendering rules
(compact, key-sorted, HTML-escaped JSON) for the tool cases.
"""

from __future__ import annotations

import pytest

from ollama_actors.domain.chat import ChatMessage, ToolCall, ToolFunctionCall
from ollama_actors.domain.gotemplate import Template
from ollama_actors.domain.prompt import build_chat_prompt, build_generate_prompt

CHATML = "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
LLAMA3 = (
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n"
    "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)
MISTRAL = (
    '[INST] {{ range $index, $_ := .Messages }}\n{{- if eq .Role "system" }}{{ .Content }}\n\n'
    '{{ else if eq .Role "user" }}{{ .Content }}[/INST]\n'
    '{{- else if eq .Role "assistant" }} {{ .Content }}</s>[INST] {{ end }}\n{{- end }}'
)
GEMMA = (
    '{{- $system := "" }}\n{{- range .Messages }}\n{{- if eq .Role "system" }}\n'
    "{{- if not $system }}{{ $system = .Content }}\n"
    '{{- else }}{{ $system = printf "%s\\n\\n%s" $system .Content }}\n{{- end }}\n{{- continue }}\n'
    '{{- else if eq .Role "user" }}<start_of_turn>user\n{{- if $system }}\n{{ $system }}\n'
    '{{- $system = "" }}\n{{- end }}\n{{- else if eq .Role "assistant" }}<start_of_turn>model\n'
    "{{- end }}\n{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n"
)
GEMMA3 = (
    "{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
    '{{- if eq .Role "user" }}<start_of_turn>user\n{{- if and (eq $i 1) $.System }}\n{{ $.System }}\n{{ end }}\n'
    '{{ .Content }}<end_of_turn>\n{{ else if eq .Role "assistant" }}<start_of_turn>model\n'
    "{{ .Content }}<end_of_turn>\n{{ end }}\n{{- if $last }}<start_of_turn>model\n{{ end }}\n{{- end }}\n"
)
PHI3 = "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n"
LEGACY_CHATML = (
    "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n{{ .Response }}<|im_end|>\n"
)
LEGACY_MISTRAL = "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] "

LLAMA31 = (
    '{{- if or .System .Tools }}<|start_header_id|>system<|end_header_id|>\n'
    '{{- if .System }}\n'
    '\n'
    '{{ .System }}\n'
    '{{- end }}\n'
    '{{- if .Tools }}\n'
    '\n'
    'Cutting Knowledge Date: December 2023\n'
    '\n'
    'When you receive a tool call response, use the output to format an answer to the orginal user question.\n'
    '\n'
    'You are a helpful assistant with tool calling capabilities.\n'
    '{{- end }}<|eot_id|>\n'
    '{{- end }}\n'
    '{{- range $i, $_ := .Messages }}\n'
    '{{- $last := eq (len (slice $.Messages $i)) 1 }}\n'
    '{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>\n'
    '{{- if and $.Tools $last }}\n'
    '\n'
    'Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n'
    '\n'
    'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. Do not use variables.\n'
    '\n'
    '{{ range $.Tools }}\n'
    '{{- . }}\n'
    '{{ end }}\n'
    'Question: {{ .Content }}<|eot_id|>\n'
    '{{- else }}\n'
    '\n'
    '{{ .Content }}<|eot_id|>\n'
    '{{- end }}{{ if $last }}<|start_header_id|>assistant<|end_header_id|>\n'
    '\n'
    '{{ end }}\n'
    '{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>\n'
    '{{- if .ToolCalls }}\n'
    '{{ range .ToolCalls }}\n'
    '{"name": "{{ .Function.Name }}", "parameters": {{ .Function.Arguments }}}{{ end }}\n'
    '{{- else }}\n'
    '\n'
    '{{ .Content }}\n'
    '{{- end }}{{ if not $last }}<|eot_id|>{{ end }}\n'
    '{{- else if eq .Role "tool" }}<|start_header_id|>ipython<|end_header_id|>\n'
    '\n'
    '{{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>\n'
    '\n'
    '{{ end }}\n'
    '{{- end }}\n'
    '{{- end }}'
)  # Llama 3.1/3.2 with tools

MISTRAL_TOOLS = (
    '{{- if .Messages }}\n'
    '{{- range $index, $_ := .Messages }}\n'
    '{{- if eq .Role "user" }}\n'
    '{{- if and (eq (len (slice $.Messages $index)) 1) $.Tools }}[AVAILABLE_TOOLS] {{ $.Tools }}[/AVAILABLE_TOOLS]\n'
    '{{- end }}[INST] {{ if and $.System (eq (len (slice $.Messages $index)) 1) }}{{ $.System }}\n'
    '\n'
    '{{ end }}{{ .Content }}[/INST]\n'
    '{{- else if eq .Role "assistant" }}\n'
    '{{- if .Content }} {{ .Content }}\n'
    '{{- else if .ToolCalls }}[TOOL_CALLS] [\n'
    '{{- range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}\n'
    '{{- end }}]\n'
    '{{- end }}</s>\n'
    '{{- else if eq .Role "tool" }}[TOOL_RESULTS] {"content": {{ .Content }}} [/TOOL_RESULTS]\n'
    '{{- end }}\n'
    '{{- end }}\n'
    '{{- else }}[INST] {{ if .System }}{{ .System }}\n'
    '\n'
    '{{ end }}{{ .Prompt }}[/INST]\n'
    '{{- end }} {{ .Response }}\n'
    '{{- if .Response }}</s>\n'
    '{{- end }}'
)  # Mistral v0.3 with tools

SYSTEM = ChatMessage("system", "You are a helpful assistant.")
USER1 = ChatMessage("user", "Hello, how are you?")
ASSISTANT = ChatMessage("assistant", "I'm doing great. How can I help you today?")
USER2 = ChatMessage("user", "I'd like to show off how chat templating works!")
CONVERSATION = [SYSTEM, USER1, ASSISTANT, USER2]

BUILT_INS = [
    (
        CHATML,
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello, how are you?<|im_end|>\n"
        "<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n"
        "<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n<|im_start|>assistant\n",
    ),
    (
        LLAMA3,
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nI'd like to show off how chat templating works!<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    (
        MISTRAL,
        "[INST] You are a helpful assistant.\n\nHello, how are you?[/INST] I'm doing great. How can I help you today?"
        "</s>[INST] I'd like to show off how chat templating works![/INST]",
    ),
    (
        GEMMA,
        "<start_of_turn>user\nYou are a helpful assistant.\nHello, how are you?<end_of_turn>\n"
        "<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n"
        "<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n",
    ),
    (
        GEMMA3,
        "<start_of_turn>user\nYou are a helpful assistant.\n\nHello, how are you?<end_of_turn>\n"
        "<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n"
        "<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n\n",
    ),
    (
        PHI3,
        "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello, how are you?<|end|>\n"
        "<|assistant|>\nI'm doing great. How can I help you today?<|end|>\n"
        "<|user|>\nI'd like to show off how chat templating works!<|end|>\n<|assistant|>\n",
    ),
]


@pytest.mark.parametrize(("source", "expected"), BUILT_INS, ids=["chatml", "llama3", "mistral", "gemma", "gemma3", "phi3"])
def test_built_in_templates_render_a_conversation_like_ollama(source: str, expected: str) -> None:
    assert build_chat_prompt(Template.parse(source), CONVERSATION) == expected


def test_legacy_template_renders_turn_by_turn() -> None:
    expected = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello, how are you?<|im_end|>\n"
        "<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n"
        "<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n<|im_start|>assistant\n"
    )
    assert build_chat_prompt(Template.parse(LEGACY_CHATML), CONVERSATION) == expected


def test_legacy_template_without_response_gets_one_and_a_trailing_assistant_is_a_prefill() -> None:
    history = [USER1, ASSISTANT, ChatMessage("user", "What is your name?"), ChatMessage("assistant", "My name is")]
    expected = (
        "[INST] Hello, how are you?[/INST] I'm doing great. How can I help you today?"
        "[INST] What is your name?[/INST] My name is"
    )
    assert build_chat_prompt(Template.parse(LEGACY_MISTRAL), history) == expected


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather <now> & later",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {
                "unit": {"type": "string", "enum": ["c", "f"]},
                "city": {"type": "string", "description": "City name"},
            },
        },
    },
}
WEATHER_TOOL_JSON = (
    '{"type":"function","function":{"name":"get_weather","description":"Get the weather \\u003cnow\\u003e \\u0026 later",'
    '"parameters":{"type":"object","required":["city"],"properties":{"city":{"type":"string","description":"City name"},'
    '"unit":{"type":"string","enum":["c","f"]}}}}}'
)
LLAMA_HEADER = (
    "<|start_header_id|>system<|end_header_id|>\n\n"
    "Cutting Knowledge Date: December 2023\n\n"
    "When you receive a tool call response, use the output to format an answer to the orginal user question.\n\n"
    "You are a helpful assistant with tool calling capabilities.<|eot_id|>"
)


def test_llama31_lists_tools_as_json_before_the_last_question() -> None:
    rendered = build_chat_prompt(Template.parse(LLAMA31), [ChatMessage("user", "Weather in Paris?")], tools=[WEATHER_TOOL])
    assert rendered == (
        LLAMA_HEADER + "<|start_header_id|>user<|end_header_id|>\n\n"
        "Given the following functions, please respond with a JSON for a function call with its proper arguments "
        "that best answers the given prompt.\n\n"
        'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. '
        "Do not use variables.\n\n" + WEATHER_TOOL_JSON + "\n\nQuestion: Weather in Paris?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_llama31_renders_tool_calls_and_tool_results() -> None:
    call = ToolCall(ToolFunctionCall("get_weather", {"unit": "c", "city": "Paris", "days": 10000000}))
    history = [
        ChatMessage("user", "Weather in Paris?"),
        ChatMessage("assistant", tool_calls=(call,)),
        ChatMessage("tool", "22C", tool_name="get_weather"),
    ]
    rendered = build_chat_prompt(Template.parse(LLAMA31), history, tools=[WEATHER_TOOL])
    assert rendered == (
        LLAMA_HEADER + "<|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
        '{"name": "get_weather", "parameters": {"city":"Paris","days":10000000,"unit":"c"}}<|eot_id|>'
        "<|start_header_id|>ipython<|end_header_id|>\n\n22C<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_llama31_without_tools_is_a_plain_chat() -> None:
    rendered = build_chat_prompt(Template.parse(LLAMA31), [ChatMessage("user", "Hi")])
    assert rendered == "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"


def test_mistral_prints_tools_with_the_last_user_turn_and_calls_as_json() -> None:
    add = {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers",
            "parameters": {"type": "object", "required": ["a", "b"], "properties": {"b": {"type": "integer"}, "a": {"type": "integer"}}},
        },
    }
    history = [
        ChatMessage("system", "Be exact."),
        ChatMessage("user", "2+3?"),
        ChatMessage("assistant", tool_calls=(ToolCall(ToolFunctionCall("add", {"b": 3, "a": 2})),)),
        ChatMessage("tool", "5"),
        ChatMessage("user", "And 1+1?"),
    ]
    rendered = build_chat_prompt(Template.parse(MISTRAL_TOOLS), history, tools=[add])
    assert rendered == (
        '[INST] 2+3?[/INST][TOOL_CALLS] [{"name": "add", "arguments": {"a":2,"b":3}}]</s>'
        '[TOOL_RESULTS] {"content": 5} [/TOOL_RESULTS]'
        '[AVAILABLE_TOOLS] [{"type":"function","function":{"name":"add","description":"Add two numbers",'
        '"parameters":{"type":"object","required":["a","b"],"properties":{"a":{"type":"integer"},"b":{"type":"integer"}}}}}]'
        "[/AVAILABLE_TOOLS][INST] Be exact.\n\nAnd 1+1?[/INST] "
    )


def test_tools_print_as_json_and_a_missing_parameters_object_as_nulls() -> None:
    """Ollama's own debug-render expectation for ``{{ .Tools }}``."""
    template = Template.parse("{{ if .Tools }}{{ .Tools }}{{ end }}{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}")
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Get weather information"}}
    rendered = build_chat_prompt(template, [ChatMessage("user", "Get the weather")], tools=[tool])
    assert rendered == (
        '[{"type":"function","function":{"name":"get_weather","description":"Get weather information",'
        '"parameters":{"type":"","properties":null}}}]user: Get the weather\n'
    )


def test_ranging_over_arguments_and_properties_visits_keys_in_order() -> None:
    template = Template.parse(
        "{{- range .Messages }}{{- range .ToolCalls }}{{- range $k, $v := .Function.Arguments }}{{ $k }}={{ $v }};"
        "{{- end }}{{- end }}{{- end }}|{{- range .Tools }}{{- range $name, $prop := .Function.Parameters.Properties }}"
        "{{ $name }}:{{ $prop.Type }}:{{ toTypeScriptType $prop }};{{- end }}{{- end }}"
    )
    call = ToolCall(ToolFunctionCall("get_weather", {"unit": "c", "city": "Tokyo"}))
    history = [ChatMessage("assistant", tool_calls=(call,))]
    assert build_chat_prompt(template, history, tools=[WEATHER_TOOL]) == "city=Tokyo;unit=c;|city:string:string;unit:string:string;"


def test_fill_in_the_middle_renders_prompt_and_suffix_once() -> None:
    template = Template.parse("{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>\n{{- else }}{{ .Prompt }}\n{{- end }}")
    assert build_generate_prompt(template, prompt="def add(", suffix="return x") == "<PRE> def add( <SUF>return x <MID>"
    assert build_generate_prompt(template, prompt="hello") == "hello"
