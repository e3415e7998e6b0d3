"""render_jinja_chat: Hugging Face chat templates rendered as transformers renders them."""

from __future__ import annotations

import pytest

from ollama_actors.domain.chat import ChatMessage, ToolCall, ToolFunctionCall
from ollama_actors.domain.errors import InvalidRequestError, OllamaError
from ollama_actors.runner.domain.jinja_prompt import render_jinja_chat
from tests.fixtures.tiny_gguf import CHATML

# Ollama's template/index.json: the Jinja text it maps to llama3-instruct.
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# Ollama's template/index.json: mistral-instruct, which rejects non-alternating roles.
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

CONVERSATION = (
    ChatMessage("system", "You are a helpful assistant."),
    ChatMessage("user", "Hello, how are you?"),
    ChatMessage("assistant", "I'm doing great. How can I help you today?"),
    ChatMessage("user", "I'd like to show off how chat templating works!"),
)


def render(template: str, messages: tuple[ChatMessage, ...] = CONVERSATION, **kwargs: object) -> str:
    options: dict[str, object] = {"bos_token": "<s>", "eos_token": "</s>"} | kwargs
    return render_jinja_chat(template, messages, **options)  # type: ignore[arg-type]


def test_chatml_renders_every_turn_and_the_generation_prompt() -> None:
    assert render(CHATML) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHello, how are you?<|im_end|>\n"
        "<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n"
        "<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_generation_prompt_can_be_left_out() -> None:
    assert not render(CHATML, add_generation_prompt=False).endswith("<|im_start|>assistant\n")


def test_llama3_template_matches_ollamas_go_template_output_after_bos() -> None:
    """Ollama's expected text for llama3-instruct, system-user-assistant-user, plus the BOS
    the Jinja template writes itself (Ollama's tokenizer adds it instead)."""
    expected = (
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nI'd like to show off how chat templating works!<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert render(LLAMA3, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>") == "<|begin_of_text|>" + expected


def test_bos_and_eos_tokens_are_template_variables() -> None:
    messages = (ChatMessage("user", "hi"), ChatMessage("assistant", "hello"))
    assert render(MISTRAL, messages) == "<s>[INST] hi [/INST]hello</s>"


def test_raise_exception_becomes_a_bad_request_with_the_templates_message() -> None:
    with pytest.raises(InvalidRequestError, match="Conversation roles must alternate") as info:
        render(MISTRAL, (ChatMessage("user", "a"), ChatMessage("user", "b")))
    assert info.value.status == 400


def test_a_template_that_does_not_parse_is_a_server_error() -> None:
    with pytest.raises(OllamaError, match="invalid chat template") as info:
        render("{% for message in messages %}")
    assert info.value.status == 500


def test_templates_cannot_mutate_their_inputs() -> None:
    with pytest.raises(InvalidRequestError):
        render("{{ messages.append({'role': 'user', 'content': 'injected'}) }}")


def test_templates_cannot_reach_python_internals() -> None:
    with pytest.raises(InvalidRequestError, match="unsafe"):
        render("{{ ''.__class__.__mro__ }}")


def test_loop_controls_are_enabled() -> None:
    template = "{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{{ m.role }};{% endfor %}"
    assert render(template) == "system;user;"


def test_generation_tag_renders_its_body() -> None:
    template = "{% for m in messages %}{% generation %}{{ m.role[0] }}{% endgeneration %}{% endfor %}"
    assert render(template) == "suau"


def test_tojson_does_not_html_escape_and_tools_are_passed_as_given() -> None:
    tools = [{"type": "function", "function": {"name": "lt", "description": "a < b & c"}}]
    assert render("{{ tools | tojson }}", tools=tools) == '[{"type": "function", "function": {"name": "lt", "description": "a < b & c"}}]'


def test_tools_is_none_when_none_are_given() -> None:
    assert render("{% if tools is none %}none{% endif %}") == "none"


def test_optional_message_fields_are_present_only_when_set() -> None:
    call = ToolCall(ToolFunctionCall("get_weather", {"city": "Tokyo"}), id="call_1")
    messages = (
        ChatMessage("user", "weather?"),
        ChatMessage("assistant", "", thinking="let me check", tool_calls=(call,)),
        ChatMessage("tool", "sunny", tool_name="get_weather", tool_call_id="call_1"),
    )
    template = (
        "{% for m in messages %}{{ m.role }}:"
        "{% if 'reasoning_content' in m %}[{{ m.reasoning_content }}]{% endif %}"
        "{% if m.tool_calls is defined %}{% for c in m.tool_calls %}"
        "{{ c.id }}={{ c.function.name }}({{ c.function.arguments | tojson }}){% endfor %}{% endif %}"
        "{% if m.name is defined %}<{{ m.name }}#{{ m.tool_call_id }}>{% endif %}{{ m.content }};{% endfor %}"
    )
    assert render(template, messages) == (
        'user:weather?;assistant:[let me check]call_1=get_weather({"city": "Tokyo"});'
        "tool:<get_weather#call_1>sunny;"
    )


def test_strftime_now_exists_only_when_the_caller_supplies_a_clock() -> None:
    template = "{% if strftime_now is defined %}{{ strftime_now('%d %b %Y') }}{% else %}26 Jul 2024{% endif %}"
    assert render(template) == "26 Jul 2024"
    assert render(template, strftime_now=lambda fmt: "01 Jan 2030") == "01 Jan 2030"


def test_trim_and_lstrip_blocks_are_on_as_in_transformers() -> None:
    template = "{% for m in messages %}\n    {% if m.role == 'user' %}\n{{ m.content }}\n    {% endif %}\n{% endfor %}"
    assert render(template, (ChatMessage("user", "a"), ChatMessage("user", "b"))) == "a\nb\n"
