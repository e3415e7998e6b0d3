"""Which output parsers a generation gets, and the chunks clients see (Ollama's chat rules)."""

from __future__ import annotations

import itertools

import pytest

from ollama_actors.domain.models import ResolvedModel
from ollama_actors.runner.domain.output_parser import OutputParser, new_tool_call_id, output_parser_for
from ollama_actors.runner.messages import PromptSpec, TextChunk

TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{- if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}"
    "{{- if .ToolCalls }}<tool_call>{{ range .ToolCalls }}{{ json .Function }}{{ end }}</tool_call>{{ end }}"
    "{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
    "{{- if .Tools }}{{ .Tools }}{{ end }}"
)
TOOLS = ({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},)
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


def model(capabilities: tuple[str, ...] = ("completion", "tools", "thinking"), template: str | None = TEMPLATE,
          chat_template: str | None = None) -> ResolvedModel:
    return ResolvedModel(name="m:latest", full_name="registry.ollama.ai/library/m:latest", digest="d",
                         model_path="/m.gguf", size=1, template=template, capabilities=capabilities,
                         chat_template=chat_template)


def chat(**fields: object) -> PromptSpec:
    return PromptSpec(kind="chat", **fields)  # type: ignore[arg-type]


def run(parser: OutputParser, pieces: list[str]) -> list[TextChunk]:
    counter = itertools.count()
    parser = OutputParser(parser.thinking, parser.tools, new_id=lambda: f"call_{next(counter):08d}")
    out = []
    for i, piece in enumerate(pieces):
        parser, chunk = parser.add(piece, done=i == len(pieces) - 1)
        if chunk is not None:
            out.append(chunk)
    return out


def test_without_parsers_text_passes_through_unchanged() -> None:
    parser = output_parser_for(model(("completion",), template="{{ .Prompt }}"), chat(), "prompt")
    assert parser == OutputParser()
    assert run(parser, ["a", "", "b"]) == [TextChunk("a"), TextChunk("b")]


def test_output_constrained_by_a_format_is_all_content() -> None:
    assert output_parser_for(model(), chat(think=True), "<think>", constrained=True).thinking is None


def test_a_thinking_model_thinks_by_default_and_think_false_turns_it_off() -> None:
    assert output_parser_for(model(), chat(), "p").thinking is not None
    assert output_parser_for(model(), chat(think="high"), "p").thinking is not None
    assert output_parser_for(model(), chat(think=False), "p").thinking is None
    assert output_parser_for(model(("completion",)), chat(), "p").thinking is None


def test_thinking_and_content_are_separated() -> None:
    parser = output_parser_for(model(), chat(), "p")
    chunks = run(parser, ["<thi", "nk>I should", " greet</think>", "\n\nHello", "!"])
    assert [(c.thinking, c.text) for c in chunks] == [("I should", ""), (" greet", ""), ("", "Hello"), ("", "!")]


def test_a_prompt_ending_in_the_opening_tag_makes_all_output_thinking_until_the_closing_tag() -> None:
    parser = output_parser_for(model(), chat(), "<|im_start|>assistant\n<think>\n")
    chunks = run(parser, ["still ", "thinking"])
    assert [(c.thinking, c.text) for c in chunks] == [("still ", ""), ("thinking", "")]


def test_tools_are_parsed_only_when_the_request_sent_tools() -> None:
    assert output_parser_for(model(), chat(think=False), "p").tools is None
    assert output_parser_for(model(), chat(tools=TOOLS), "p").tools is not None
    assert output_parser_for(model(), PromptSpec(kind="generate", prompt="x", tools=TOOLS), "p").tools is None


def test_a_tool_call_becomes_tool_calls_with_ids_and_no_content() -> None:
    parser = output_parser_for(model(), chat(tools=TOOLS, think=False), "p")
    chunks = run(parser, [CALL[:5], CALL[5:30], CALL[30:], ""])
    assert len(chunks) == 1
    [call] = chunks[0].tool_calls
    assert chunks[0].text == ""
    assert (call.id, call.function.index, call.function.name) == ("call_00000000", 0, "get_weather")
    assert call.function.arguments == {"city": "Paris"}


def test_thinking_then_a_tool_call() -> None:
    parser = output_parser_for(model(), chat(tools=TOOLS), "p")
    chunks = run(parser, ["<think>need weather</think>", CALL])
    assert chunks[0].thinking == "need weather" and chunks[0].text == ""
    assert [c.function.name for c in chunks[1].tool_calls] == ["get_weather"]


def test_content_and_calls_completed_by_the_same_piece_are_both_kept() -> None:
    parser = output_parser_for(model(), chat(tools=TOOLS, think=False), "p")
    [chunk] = run(parser, ["Let me look. " + CALL])
    assert chunk.text == "Let me look. "
    assert len(chunk.tool_calls) == 1


def test_a_json_that_is_not_a_call_comes_back_as_content_with_a_brace_tag() -> None:
    parser = output_parser_for(model(template="{{ .Prompt }}{{ .Tools }}"), chat(tools=TOOLS, think=False), "p")
    assert parser.tools is not None and parser.tools.tag == "{"
    assert "".join(c.text for c in run(parser, ['{"a": ', '"b"}', " tail"])) == '{"a": "b"} tail'
    unfinished = run(output_parser_for(model(template="{{ .Prompt }}{{ .Tools }}"), chat(tools=TOOLS, think=False), "p"),
                     ['{"na', 'me": "x"'])
    assert "".join(c.text for c in unfinished) == '{"name": "x"'  # returned at the end


@pytest.mark.parametrize(
    ("jinja", "thinking", "tag"),
    [
        ("{{ messages }} <think> </think> <tool_call>", True, "<tool_call>"),
        ("{{ messages }} {% if tools %}{{ tools }}{% endif %}", False, "{"),
    ],
)
def test_jinja_only_models_use_think_tags_and_tool_call_tag_found_in_the_jinja_template(
    jinja: str, thinking: bool, tag: str
) -> None:
    m = model(("completion", "tools", "thinking"), template=None, chat_template=jinja)
    parser = output_parser_for(m, chat(tools=TOOLS), "p")
    assert (parser.thinking is not None) is thinking
    assert parser.tools is not None and parser.tools.tag == tag


def test_generated_ids_look_like_ollamas() -> None:
    for _ in range(50):
        call_id = new_tool_call_id()
        assert call_id.startswith("call_") and len(call_id) == 13
        assert all(c.isdigit() or "a" <= c <= "z" for c in call_id[5:])
