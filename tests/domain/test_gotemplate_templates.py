"""Real Ollama templates render to the exact text Ollama produces.

Template texts are Ollama's built-in templates (ChatML, Llama 2, Llama 3, Mistral,
Gemma, Phi-3, Command-R) and library templates with tools or thinking (Llama 3.1,
Mistral v0.3, Qwen 2.5, DeepSeek-R1); expected texts are written out: Ollama's own
test data for the built-ins, and for the other cases the text Go's ``text/template``
renders with Ollama's template values (compact, key-sorted, HTML-escaped JSON).
"""

from __future__ import annotations

import pytest

from ollama_actors.domain.chat import ChatMessage, ToolCall, ToolFunctionCall
from ollama_actors.domain.gotemplate import Template, template_tools
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


LLAMA2 = """{{- $system := "" }}[INST] {{ range .Messages }}
{{- if eq .Role "system" }}
{{- if not $system }}{{ $system = .Content }}
{{- else }}{{ $system = printf "%s\\n\\n%s" $system .Content }}
{{- end }}
{{- else if eq .Role "user" }}<<SYS>>
{{- if $system }}
{{ $system }}
{{ $system = "" }}
{{- end }}<</SYS>>

{{ .Content }} [/INST]
{{- else if eq .Role "assistant" }} {{ .Content }}</s><s>[INST] {{ end }}
{{- end }}"""

COMMAND_R = """{{- if or .Tools .System }}<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>
{{- if .Tools }}# Safety Preamble
The instructions in this section override those in the task description and style guide sections. Don't answer questions that are harmful or immoral.

# System Preamble
## Basic Rules
You are a powerful conversational AI trained by Cohere to help people. You are augmented by a number of tools, and your job is to use and consume the output of these tools to best help the user. You will see a conversation history between yourself and a user, ending with an utterance from the user. You will then see a specific instruction instructing you what kind of response to generate. When you answer the user's requests, you cite your sources in your answers, according to those instructions.

{{ if .System }}# User Preamble
{{ .System }}
{{- end }}

## Available Tools
Here is a list of tools that you have available to you:
{{- range .Tools }}

```python
def {{ .Function.Name }}(
{{- range $name, $property := .Function.Parameters.Properties }}{{ $name }}: {{ $property.Type }}, {{ end }}) -> List[Dict]:
    '''{{ .Function.Description }}

{{- if .Function.Parameters.Properties }}

    Args:
{{- range $name, $property := .Function.Parameters.Properties }}
        {{ $name }} ({{ $property.Type }}): {{ $property.Description }}
{{- end }}
{{- end }}
    '''
    pass
```
{{- end }}
{{- else if .System }}{{ .System }}
{{- end }}<|END_OF_TURN_TOKEN|>
{{- end }}
{{- range .Messages }}
{{- if eq .Role "system" }}
{{- continue }}
{{- end }}<|START_OF_TURN_TOKEN|>
{{- if eq .Role "user" }}<|USER_TOKEN|>{{ .Content }}
{{- if $.Tools }}<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Write 'Action:' followed by a json-formatted list of actions that you want to perform in order to produce a good response to the user's last input. You can use any of the supplied tools any number of times, but you should aim to execute the minimum number of necessary actions for the input. You should use the `directly-answer` tool if calling the other tools is unnecessary. The list of actions you want to call should be formatted as a list of json objects, for example:
```json
[
    {
        "tool_name": title of the tool in the specification,
        "parameters": a dict of parameters to input into the tool as they are defined in the specs, or {} if it takes no parameters
    }
]```
{{- end }}
{{- else if eq .Role "assistant" }}<|CHATBOT_TOKEN|>
{{- if .Content }}{{ .Content }}
{{- else if .ToolCalls }}
Action: ```json
[
{{- range .ToolCalls }}
    {
        "tool_name": "{{ .Function.Name }}",
        "parameters": {{ .Function.Arguments }}
    }
{{- end }}
]```
{{- end }}
{{- else if eq .Role "tool" }}<|SYSTEM_TOKEN|><results>
console_output: {{ .Content }}
</results>
{{- end }}<|END_OF_TURN_TOKEN|>
{{- end }}<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>
"""

QWEN25 = """{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""

DEEPSEEK_R1 = """{{- if .System }}{{ .System }}{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1}}
{{- if eq .Role "user" }}<｜User｜>{{ .Content }}
{{- else if eq .Role "assistant" }}<｜Assistant｜>
  {{- if and $.IsThinkSet (and $last .Thinking) -}}
<think>
{{ .Thinking }}
</think>
{{- end }}{{ .Content }}{{- if not $last }}<｜end▁of▁sentence｜>{{- end }}
{{- end }}
{{- if and $last (ne .Role "assistant") }}<｜Assistant｜>
{{- if and $.IsThinkSet (not $.Think) -}}
<think>

</think>

{{ end }}
{{- end -}}
{{- end }}"""
  # the ``deepseek-r1`` library template with Ollama's thinking variables


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([USER1], "[INST] <<SYS>><</SYS>>\n\nHello, how are you? [/INST]"),
        (
            [USER1, ASSISTANT, USER2],
            "[INST] <<SYS>><</SYS>>\n\nHello, how are you? [/INST] I'm doing great. How can I help you today?</s><s>"
            "[INST] <<SYS>><</SYS>>\n\nI'd like to show off how chat templating works! [/INST]",
        ),
        (
            CONVERSATION,
            "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello, how are you? [/INST] "
            "I'm doing great. How can I help you today?</s><s>"
            "[INST] <<SYS>><</SYS>>\n\nI'd like to show off how chat templating works! [/INST]",
        ),
        (
            [ChatMessage("system", "Be brief."), ChatMessage("system", "Be kind."), USER1],
            "[INST] <<SYS>>\nBe brief.\n\nBe kind.\n<</SYS>>\n\nHello, how are you? [/INST]",
        ),
    ],
    ids=["user", "user-assistant-user", "system-user-assistant-user", "two-systems-joined-by-printf"],
)
def test_llama2_puts_the_system_prompt_in_the_first_instruction_only(history: list[ChatMessage], expected: str) -> None:
    assert build_chat_prompt(Template.parse(LLAMA2), history) == expected


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (
            [USER1],
            "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello, how are you?<|END_OF_TURN_TOKEN|>"
            "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>\n",
        ),
        (
            CONVERSATION,
            "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant.<|END_OF_TURN_TOKEN|>"
            "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello, how are you?<|END_OF_TURN_TOKEN|>"
            "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>I'm doing great. How can I help you today?<|END_OF_TURN_TOKEN|>"
            "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>I'd like to show off how chat templating works!<|END_OF_TURN_TOKEN|>"
            "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>\n",
        ),
    ],
    ids=["user", "system-user-assistant-user"],
)
def test_command_r_without_tools_is_a_plain_chat(history: list[ChatMessage], expected: str) -> None:
    assert build_chat_prompt(Template.parse(COMMAND_R), history) == expected


COMMAND_R_TOOLS_PREAMBLE = (
    "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|># Safety Preamble\n"
    "The instructions in this section override those in the task description and style guide sections. "
    "Don't answer questions that are harmful or immoral.\n\n"
    "# System Preamble\n## Basic Rules\n"
    "You are a powerful conversational AI trained by Cohere to help people. You are augmented by a number of tools, "
    "and your job is to use and consume the output of these tools to best help the user. You will see a conversation "
    "history between yourself and a user, ending with an utterance from the user. You will then see a specific "
    "instruction instructing you what kind of response to generate. When you answer the user's requests, you cite "
    "your sources in your answers, according to those instructions.\n\n"
    "# User Preamble\nAnswer briefly.\n\n"
    "## Available Tools\nHere is a list of tools that you have available to you:\n\n"
    "```python\n"
    "def get_weather(city: string, unit: string, ) -> List[Dict]:\n"
    "    '''Get the weather <now> & later\n\n"
    "    Args:\n"
    "        city (string): City name\n"
    "        unit (string): \n"
    "    '''\n"
    "    pass\n"
    "```<|END_OF_TURN_TOKEN|>"
)
COMMAND_R_ACTION_REQUEST = (
    "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Write 'Action:' followed by a json-formatted list of actions that you "
    "want to perform in order to produce a good response to the user's last input. You can use any of the supplied "
    "tools any number of times, but you should aim to execute the minimum number of necessary actions for the input. "
    "You should use the `directly-answer` tool if calling the other tools is unnecessary. The list of actions you "
    "want to call should be formatted as a list of json objects, for example:\n"
    "```json\n[\n    {\n"
    '        "tool_name": title of the tool in the specification,\n'
    '        "parameters": a dict of parameters to input into the tool as they are defined in the specs, '
    "or {} if it takes no parameters\n"
    "    }\n]```"
)
PARIS_CALL = ToolCall(ToolFunctionCall("get_weather", {"unit": "c", "city": "Paris"}))
TOOL_HISTORY = [
    ChatMessage("system", "Answer briefly."),
    ChatMessage("user", "Weather in Paris?"),
    ChatMessage("assistant", tool_calls=(PARIS_CALL,)),
    ChatMessage("tool", '{"temp": 22}', tool_name="get_weather"),
]


def test_command_r_describes_tools_as_python_and_renders_actions_and_results() -> None:
    """Properties come in key order; a property without description ends in ``: ``."""
    rendered = build_chat_prompt(Template.parse(COMMAND_R), TOOL_HISTORY, tools=[WEATHER_TOOL])
    assert rendered == (
        COMMAND_R_TOOLS_PREAMBLE
        + "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Weather in Paris?"
        + COMMAND_R_ACTION_REQUEST
        + "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>\n"
        "Action: ```json\n[\n    {\n"
        '        "tool_name": "get_weather",\n'
        '        "parameters": {"city":"Paris","unit":"c"}\n'
        "    }\n]```<|END_OF_TURN_TOKEN|>"
        '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|><results>\nconsole_output: {"temp": 22}\n</results><|END_OF_TURN_TOKEN|>'
        "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>\n"
    )


def test_command_r_asks_for_actions_after_every_user_turn_when_tools_are_given() -> None:
    history = [*TOOL_HISTORY, ChatMessage("assistant", "It is 22C."), ChatMessage("user", "Thanks")]
    rendered = build_chat_prompt(Template.parse(COMMAND_R), history, tools=[WEATHER_TOOL])
    assert rendered.count(COMMAND_R_ACTION_REQUEST) == 2
    assert rendered.endswith(
        "</results><|END_OF_TURN_TOKEN|>"
        "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>It is 22C.<|END_OF_TURN_TOKEN|>"
        "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Thanks"
        + COMMAND_R_ACTION_REQUEST
        + "<|END_OF_TURN_TOKEN|><|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>\n"
    )


QWEN_TOOLS_SYSTEM = (
    "<|im_start|>system\nAnswer briefly.\n\n# Tools\n\n"
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    '{"type": "function", "function": {"name":"get_weather","description":"Get the weather \\u003cnow\\u003e \\u0026 later",'
    '"parameters":{"type":"object","required":["city"],"properties":{"city":{"type":"string","description":"City name"},'
    '"unit":{"type":"string","enum":["c","f"]}}}}}\n'
    "</tools>\n\n"
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> "
    "XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call><|im_end|>\n"
)


def test_qwen25_lists_tools_as_json_and_renders_a_tool_call_and_its_result() -> None:
    rendered = build_chat_prompt(Template.parse(QWEN25), TOOL_HISTORY, tools=[WEATHER_TOOL])
    assert rendered == (
        QWEN_TOOLS_SYSTEM + "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        "<|im_start|>assistant\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city":"Paris","unit":"c"}}\n'
        "</tool_call><|im_end|>\n"
        '<|im_start|>user\n<tool_response>\n{"temp": 22}\n</tool_response><|im_end|>\n'
        "<|im_start|>assistant\n"
    )


def test_qwen25_without_tools_is_chatml() -> None:
    expected = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello, how are you?<|im_end|>\n"
        "<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n"
        "<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n<|im_start|>assistant\n"
    )
    assert build_chat_prompt(Template.parse(QWEN25), CONVERSATION) == expected


def test_tool_function_and_its_parameters_print_as_json_issue_3() -> None:
    """Regression: ``{{ .Function }}`` printed Go struct syntax, ``{f  {object <nil> <nil> [] {…}}}``,
    as Ollama's own ``templateToolFunction`` does (ollama/ollama#14601); Qwen 2.5 needs JSON."""
    template = Template.parse('{{ range .Tools }}{{ .Function.Parameters }}|{{ printf "%v" .Function }}{{ end }}')
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}
    assert template.execute({"Tools": template_tools([tool])}) == (
        '{"type":"object","properties":{"a":{"type":"integer"}}}|'
        '{"name":"f","description":"","parameters":{"type":"object","properties":{"a":{"type":"integer"}}}}'
    )


R1_HISTORY = [
    ChatMessage("system", "Be concise."),
    ChatMessage("user", "What is 2+2?"),
    ChatMessage("assistant", "4", thinking="Adding 2 and 2."),
    ChatMessage("user", "And 3+3?"),
]
R1_PROMPT = "Be concise.<｜User｜>What is 2+2?<｜Assistant｜>4<｜end▁of▁sentence｜><｜User｜>And 3+3?<｜Assistant｜>"


@pytest.mark.parametrize(
    ("think", "expected"),
    [(None, R1_PROMPT), (True, R1_PROMPT), (False, R1_PROMPT + "<think>\n\n</think>\n\n")],
    ids=["think-unset", "think-on", "think-off"],
)
def test_deepseek_r1_drops_the_thinking_of_earlier_turns(think: bool | None, expected: str) -> None:
    """With thinking off the template closes an empty ``<think>`` block for the model."""
    assert build_chat_prompt(Template.parse(DEEPSEEK_R1), R1_HISTORY, think=think) == expected


@pytest.mark.parametrize(
    ("think", "expected"),
    [
        (None, R1_PROMPT + "6"),
        (True, R1_PROMPT + "<think>\n3+3 is 6.\n</think>6"),
        (False, R1_PROMPT + "<think>\n3+3 is 6.\n</think>6"),
    ],
    ids=["think-unset", "think-on", "think-off"],
)
def test_deepseek_r1_shows_the_thinking_of_a_last_assistant_prefill_only_when_think_is_set(
    think: bool | None, expected: str
) -> None:
    history = [*R1_HISTORY, ChatMessage("assistant", "6", thinking="3+3 is 6.")]
    assert build_chat_prompt(Template.parse(DEEPSEEK_R1), history, think=think) == expected


LEGACY_PROMPT_ONLY = "[INST] {{ .Prompt }}[/INST] "
PREFILL_HISTORY = [
    ChatMessage("user", "Hello friend!"),
    ChatMessage("assistant", "Hello human!"),
    ChatMessage("user", "What is your name?"),
    ChatMessage("assistant", "My name is Ollama and I"),
]


@pytest.mark.parametrize("source", [LEGACY_PROMPT_ONLY, LEGACY_PROMPT_ONLY + "{{ .Response }}"], ids=["no-response", "response"])
def test_prompt_only_legacy_template_renders_turns_and_continues_a_prefill(source: str) -> None:
    expected = "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] My name is Ollama and I"
    assert build_chat_prompt(Template.parse(source), PREFILL_HISTORY) == expected


def test_prompt_only_legacy_template_drops_a_system_message_it_does_not_mention() -> None:
    history = [ChatMessage("system", "You are a pirate."), *PREFILL_HISTORY[:3]]
    expected = "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "
    assert build_chat_prompt(Template.parse(LEGACY_PROMPT_ONLY), history) == expected


def test_bare_prompt_template_gives_the_prompt_alone() -> None:
    """Ollama's default template ``{{ .Prompt }}``, as ``/api/generate`` uses it."""
    template = Template.parse("{{ .Prompt }}")
    assert build_generate_prompt(template, prompt="Why is the sky blue?", system="Ignored.") == "Why is the sky blue?"
