"""From a generation's raw text pieces to what clients see: content, thinking, tool calls.

Which parsers run is decided as Ollama decides it (``server/routes.go``):

- thinking is on when the request says so, or when it says nothing and the model
  has the ``thinking`` capability (``resolved_think``); the tags come from the
  model's Go template (``Template.thinking_tags``). If the rendered prompt already
  ends with the opening tag, the parser starts inside the thinking block;
- tool calls are looked for only on ``/api/chat`` when the request sent ``tools``;
  the tag comes from the Go template (``Template.tool_call_tag``).

Models without a Go template (GGUF Jinja only, where Ollama HEAD lets llama-server
parse): thinking uses ``<think>``/``</think>`` when the Jinja template has both
(the same test that gives them the ``thinking`` capability), and tool calls use
``<tool_call>`` when the Jinja template mentions it (Hermes/Qwen style), else ``{``
(a bare JSON object), the Go path's default.

Per piece, the chat rules are Ollama's: nothing is sent while the parsers are still
deciding; a piece with tool calls has empty content unless it also completed
content (Go drops the calls in that case; here both are kept); at the end, with a
``{``/``[`` tag and no call found, the buffered text comes back as content.
Pure; ids are drawn from ``new_id`` (``call_`` + 8 of ``[a-z0-9]`` by default).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ollama_actors.domain.chat import ToolCall
from ollama_actors.domain.gotemplate import Template
from ollama_actors.domain.models import ResolvedModel
from ollama_actors.runner.domain.prompting import resolved_think
from ollama_actors.runner.domain.thinking_parser import ThinkingParser
from ollama_actors.runner.domain.tool_parser import ToolCallParser
from ollama_actors.runner.messages import PromptSpec, TextChunk

__all__ = ["OutputParser", "new_tool_call_id", "output_parser_for"]

_ID_ALPHABET = string.ascii_lowercase + string.digits
_JINJA_THINKING_TAGS = ("<think>", "</think>")
_JINJA_TOOL_CALL_TAG = "<tool_call>"


def new_tool_call_id() -> str:
    """Ollama's id for a parsed call: ``call_`` and 8 characters of ``[a-z0-9]``."""
    return "call_" + "".join(random.choices(_ID_ALPHABET, k=8))


@dataclass(frozen=True)
class OutputParser:
    """The parsers of one generation; with neither, text passes through unchanged."""

    thinking: ThinkingParser | None = None
    tools: ToolCallParser | None = None
    new_id: Callable[[], str] = field(default=new_tool_call_id, compare=False)

    def add(self, text: str, *, done: bool = False) -> tuple[OutputParser, TextChunk | None]:
        """Feed one piece of raw output (``done`` on the generation's last one).

        Returns the next state and the chunk to send, or ``None`` when there is
        nothing to send yet."""
        parser, thought, content = self, "", text
        if self.thinking is not None:
            thinking, thought, content = self.thinking.add(text)
            parser = replace(parser, thinking=thinking)
            if not thought and not content and not done:
                return parser, None
        calls: tuple[ToolCall, ...] = ()
        if self.tools is not None:
            tools, calls, content = self.tools.add(content)
            calls = tuple(replace(call, id=self.new_id()) for call in calls)
            parser = replace(parser, tools=tools)
            if not content and not calls and not thought:
                rest = tools.content() if done else ""
                return parser, (TextChunk(rest) if rest else None)
        if not (content or thought or calls):
            return parser, None
        return parser, TextChunk(content, thinking=thought, tool_calls=calls)


def output_parser_for(
    model: ResolvedModel, spec: PromptSpec, prompt: str, *, constrained: bool = False
) -> OutputParser:
    """The parsers for a generation of ``spec`` on ``model`` whose rendered prompt is ``prompt``.

    ``constrained``: a ``format`` grammar shapes the output from its first token, so
    it is all content and no thinking parser runs. (Ollama HEAD instead lets a
    thinking model think unconstrained first and re-issues the request with the
    format once content starts; that two-pass scheme is not implemented here.)"""
    template = Template.parse(model.template) if model.template else None
    return OutputParser(
        thinking=None if constrained else _thinking_parser(model, template, spec, prompt),
        tools=_tool_parser(model, template, spec),
    )


def _thinking_parser(
    model: ResolvedModel, template: Template | None, spec: PromptSpec, prompt: str
) -> ThinkingParser | None:
    if resolved_think(model, spec.think) in (None, False):
        return None
    opening, closing = template.thinking_tags if template is not None else _jinja_thinking_tags(model)
    if not opening or not closing:
        return None
    parser = ThinkingParser(opening, closing)
    if prompt.strip().endswith(opening):
        parser, _, _ = parser.add(opening)
    return parser


def _tool_parser(model: ResolvedModel, template: Template | None, spec: PromptSpec) -> ToolCallParser | None:
    if spec.kind != "chat" or not spec.tools:
        return None
    if template is not None:
        tag = template.tool_call_tag
    else:
        tag = _JINJA_TOOL_CALL_TAG if _JINJA_TOOL_CALL_TAG in (model.chat_template or "") else "{"
    return ToolCallParser.for_tools(tag, spec.tools)


def _jinja_thinking_tags(model: ResolvedModel) -> tuple[str, str]:
    jinja = model.chat_template or ""
    if all(tag in jinja for tag in _JINJA_THINKING_TAGS):
        return _JINJA_THINKING_TAGS
    return "", ""
