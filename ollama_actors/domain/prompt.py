"""Ollama's prompt building: messages (or a prompt and suffix) → the text the model reads.

Mirrors ``server/prompt.go`` (``chatPrompt``) and ``template.Template.Execute``:

* templates that mention ``.Messages`` render the whole collated history once, with
  ``.System`` (all system contents joined by a blank line), ``.Tools``,
  ``.Response`` = "" and the think variables;
* legacy templates (``.System``/``.Prompt``/``.Response``) render turn by turn; the
  last turn uses the template cut right after its first ``.Response`` so that a
  trailing assistant message is a prefill the model continues;
* a template mentioning neither ``.Messages`` nor ``.Response`` gets
  ``{{ .Response }}`` appended first, as Ollama does at parse time;
* fill-in-the-middle renders once with ``.Prompt``, ``.Suffix`` and ``.Response`` = "";
* history truncation drops messages from the front until the rendered prompt fits
  ``num_ctx``, re-inserting dropped system messages and always keeping the last one;
* images become ``[img-N]`` markers in the message text.

Pure: tokens are counted by the caller's ``count_tokens``; the date for
``currentDate`` comes in as ``today``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.gotemplate import Template, template_messages, template_tools

__all__ = [
    "IMAGE_TOKENS",
    "build_chat_prompt",
    "build_generate_prompt",
    "collate",
    "render_messages",
    "tag_images",
    "think_values",
]

IMAGE_TOKENS = 768  # Ollama counts every image as this many tokens when truncating
_LEVELS = ("high", "medium", "low", "max")


def think_values(think: bool | None, think_level: str | None) -> dict[str, Any]:
    """``.Think``, ``.ThinkLevel`` and ``.IsThinkSet`` from a request's ``think``.

    A level string means thinking on at that level; ``True`` is level ``medium``;
    nothing set leaves all three at their zero values."""
    if think_level is not None:
        return {"Think": think_level in _LEVELS, "ThinkLevel": think_level, "IsThinkSet": True}
    if think is not None:
        return {"Think": think, "ThinkLevel": "medium" if think else "", "IsThinkSet": True}
    return {"Think": False, "ThinkLevel": "", "IsThinkSet": False}


def collate(messages: Sequence[ChatMessage]) -> tuple[str, tuple[ChatMessage, ...]]:
    """Ollama's ``collate``: all system contents joined by a blank line, and the
    messages with consecutive same-role ones merged (tool messages never merge)."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    merged: list[ChatMessage] = []
    for message in messages:
        if merged and merged[-1].role == message.role and message.role != "tool":
            merged[-1] = replace(merged[-1], content=merged[-1].content + "\n\n" + message.content)
        else:
            merged.append(message)
    return system, tuple(merged)


def render_messages(
    template: Template,
    messages: Sequence[ChatMessage],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    think: bool | None = None,
    think_level: str | None = None,
    today: datetime.date | None = None,
) -> str:
    """Ollama's ``Template.Execute`` for a history (no truncation, no image markers).

    ``tools`` are request tool definitions as JSON objects (``Any``: JSON values).

    Raises:
        TemplateExecError: when the template fails as Go's would.
    """
    template = template.with_response()
    thinking = think_values(think, think_level)
    system, collated = collate(messages)
    if template.uses_messages:
        data = {
            "System": system,
            "Messages": template_messages(collated),
            "Tools": template_tools(tools),
            "Response": "",
            **thinking,
        }
        return template.execute(data, today=today)
    return _render_legacy(template, collated, thinking, today)


def _render_legacy(
    template: Template,
    collated: Sequence[ChatMessage],
    thinking: Mapping[str, Any],
    today: datetime.date | None,
) -> str:
    """Turn by turn: a complete rendering whenever a new turn starts, then the last
    turn through the template cut after ``.Response``."""
    parts: list[str] = []
    turn = {"System": "", "Prompt": "", "Response": ""}

    def flush() -> None:
        parts.append(template.execute({**turn, **thinking}, today=today))
        turn.update(System="", Prompt="", Response="")

    for message in collated:
        if message.role == "system":
            if turn["Prompt"] or turn["Response"]:
                flush()
            turn["System"] = message.content
        elif message.role == "user":
            if turn["Response"]:
                flush()
            turn["Prompt"] = message.content
        elif message.role == "assistant":
            turn["Response"] = message.content
    parts.append(template.cut_after_response().execute({**turn, **thinking}, today=today))
    return "".join(parts)


def tag_images(messages: Sequence[ChatMessage], start: int = 0) -> tuple[ChatMessage, ...]:
    """Messages from ``start`` on get ``[img-N]`` for each image (N counts from 0
    across them): replacing a literal ``[img]`` when present, else prefixed."""
    tagged = list(messages)
    count = 0
    for index in range(start, len(tagged)):
        message = tagged[index]
        prefix, content = "", message.content
        for _ in message.images:
            tag = f"[img-{count}]"
            count += 1
            if "[img]" in content:
                content = content.replace("[img]", tag, 1)
            else:
                prefix += tag
        if message.images:
            tagged[index] = replace(message, content=prefix + content)
    return tuple(tagged)


def _fitting_start(
    render: Callable[[Sequence[ChatMessage]], str],
    messages: Sequence[ChatMessage],
    num_ctx: int,
    count_tokens: Callable[[str], int],
    image_tokens: int,
) -> tuple[int, tuple[ChatMessage, ...]]:
    """First index whose suffix (plus the dropped system messages) fits ``num_ctx``,
    never past the last message; with the system messages to re-insert."""
    last = len(messages) - 1
    for start in range(len(messages)):
        system = tuple(m for m in messages[:start] if m.role == "system")
        window = messages[start:]
        used = count_tokens(render((*system, *window))) + image_tokens * sum(len(m.images) for m in window)
        if used <= num_ctx or start == last:
            return start, system
    return 0, ()


def build_chat_prompt(
    template: Template,
    messages: Sequence[ChatMessage],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    think: bool | None = None,
    think_level: str | None = None,
    num_ctx: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
    truncate: bool = True,
    image_tokens: int = IMAGE_TOKENS,
    today: datetime.date | None = None,
) -> str:
    """The prompt for a chat turn (Ollama's ``chatPrompt``).

    With ``truncate``, ``num_ctx`` and ``count_tokens`` given, messages are dropped
    from the front until the rendering fits: dropped system messages come back at
    the start and the last message always stays, even if it alone is too long.
    ``image_tokens`` is what each image costs (Ollama: 768 for vision models).

    Raises:
        TemplateExecError: when the template fails as Go's would.
    """

    def render(window: Sequence[ChatMessage]) -> str:
        return render_messages(
            template, window, tools=tools, think=think, think_level=think_level, today=today
        )

    start = 0
    system: tuple[ChatMessage, ...] = ()
    if truncate and num_ctx is not None and count_tokens is not None and messages:
        start, system = _fitting_start(render, messages, num_ctx, count_tokens, image_tokens)
    tagged = tag_images(messages, start)
    return render((*system, *tagged[start:]))


def build_generate_prompt(
    template: Template,
    *,
    prompt: str,
    system: str | None = None,
    suffix: str | None = None,
    messages: Sequence[ChatMessage] = (),
    images: Sequence[bytes] = (),
    think: bool | None = None,
    think_level: str | None = None,
    num_ctx: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
    truncate: bool = True,
    direct: bool = True,
    image_tokens: int = IMAGE_TOKENS,
    today: datetime.date | None = None,
) -> str:
    """The prompt for ``/api/generate`` (non-raw).

    * with a ``suffix``: the template runs once with ``.Prompt``, ``.Suffix`` and
      ``.Response`` = "" (when the prompt is empty, Ollama falls back to an empty history);
    * otherwise the history is ``[system] + messages + user(prompt, images)``, where
      ``system`` is already resolved (request's, else the model's) and ``messages``
      are the model's MESSAGEs (pass none when the request has ``context``). With
      ``direct`` (a request ``template``) it is executed as is; without, it goes
      through ``build_chat_prompt`` with truncation and image markers.

    Raises:
        TemplateExecError: when the template fails as Go's would.
    """
    thinking = think_values(think, think_level)
    if suffix:
        if prompt:
            data = {"Prompt": prompt, "Suffix": suffix, "Response": "", **thinking}
            return template.with_response().execute(data, today=today)
        return render_messages(template, (), think=think, think_level=think_level, today=today)
    history = [ChatMessage(role="system", content=system)] if system else []
    history += [*messages, ChatMessage(role="user", content=prompt, images=tuple(images))]
    if direct:
        return render_messages(template, history, think=think, think_level=think_level, today=today)
    return build_chat_prompt(
        template,
        history,
        tools=(),
        think=think,
        think_level=think_level,
        num_ctx=num_ctx,
        count_tokens=count_tokens,
        truncate=truncate,
        image_tokens=image_tokens,
        today=today,
    )
