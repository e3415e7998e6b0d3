"""Render a chat as a prompt with the model's own Jinja chat template (GGUF ``tokenizer.chat_template``).

Used for models that have no Ollama (Go) template layer: the GGUF carries the
Hugging Face chat template it was trained with, and HF chat templates are Jinja, so
they are rendered here the way ``transformers`` (and llama-cpp-python's
``Jinja2ChatFormatter``) render them. Invariant: the same template and messages
always give the same prompt; templates run sandboxed and can do no I/O.

Pure: jinja2 only, no clock and no files. A template that wants today's date
(Llama 3.1's ``strftime_now``) gets it only when the caller passes a function.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from jinja2 import TemplateError, TemplateSyntaxError, nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.errors import InvalidRequestError, OllamaError

__all__ = ["render_jinja_chat"]


def render_jinja_chat(
    template: str,
    messages: Sequence[ChatMessage],
    *,
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
    tools: Sequence[Mapping[str, Any]] | None = None,  # JSON tool schemas, as the API sent them
    strftime_now: Callable[[str], str] | None = None,
) -> str:
    """Render ``messages`` (and ``tools``) with a Hugging Face style Jinja chat template.

    The environment matches ``transformers``' ``apply_chat_template``: an
    ``ImmutableSandboxedEnvironment`` (templates come from downloaded files, so they
    must not reach Python internals or mutate inputs) with ``trim_blocks``,
    ``lstrip_blocks``, the ``loopcontrols`` extension (``{% break %}``), a pass-through
    ``{% generation %}`` tag, a ``tojson`` that does not HTML-escape, and
    ``raise_exception(msg)`` for templates that reject a conversation.

    Messages are given to the template as HF dicts: ``role`` and ``content`` always;
    ``reasoning_content``, ``tool_calls``, ``tool_call_id`` and ``name`` only when set,
    because templates test ``'tool_calls' in message`` / ``is defined``.

    Raises:
        OllamaError: the template itself does not parse (the model file is broken; 500).
        InvalidRequestError: the template rejected this conversation (400), e.g.
            "Conversation roles must alternate user/assistant/user/assistant/...".
    """
    compiled = _compile(template)
    try:
        return compiled.render(
            messages=[_message_dict(m) for m in messages],
            tools=[dict(t) for t in tools] if tools else None,
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
            raise_exception=_raise_exception,
            **({"strftime_now": strftime_now} if strftime_now is not None else {}),
        )
    except (TemplateError, TypeError) as exc:
        raise InvalidRequestError(f"chat template error: {exc}") from exc


class _GenerationTag(Extension):
    """``{% generation %}…{% endgeneration %}`` marks assistant spans for training; render as is."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> list[nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _compile(template: str) -> Any:  # jinja2.Template; Any because jinja2's stubs type it loosely
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTag, loopcontrols],
    )
    env.filters["tojson"] = _tojson
    try:
        return env.from_string(template)
    except TemplateSyntaxError as exc:
        raise OllamaError(f"invalid chat template: {exc}") from exc


def _tojson(
    value: object,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """``transformers``' tojson: plain ``json.dumps`` (Jinja's own escapes ``<``, ``>``, ``&``)."""
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _raise_exception(message: str) -> NoReturn:
    raise TemplateError(message)


def _message_dict(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.thinking:
        out["reasoning_content"] = message.thinking
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "type": "function",
                **({"id": call.id} if call.id else {}),
                "function": {"name": call.function.name, "arguments": dict(call.function.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.tool_name:
        out["name"] = message.tool_name
    return out
