"""Which prompt the runner feeds the model, decided exactly as Ollama decides it.

Order: ``raw`` sends the prompt verbatim; a request ``template`` is executed
directly; a model with a Go template layer renders through it (history for
templates using ``.Messages``, turn by turn for legacy ones, truncated to the
context); a model without one uses its GGUF ``tokenizer.chat_template`` (Jinja);
otherwise Ollama's default template ``{{ .Prompt }}``. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.errors import OllamaError
from ollama_actors.domain.gotemplate import Template
from ollama_actors.domain.models import ResolvedModel
from ollama_actors.domain.prompt import build_chat_prompt, build_generate_prompt
from ollama_actors.runner.domain.jinja_prompt import render_jinja_chat
from ollama_actors.runner.messages import PromptSpec

__all__ = ["DEFAULT_TEMPLATE", "chat_history", "render_prompt", "resolved_think"]

DEFAULT_TEMPLATE = "{{ .Prompt }}"


def resolved_think(model: ResolvedModel, think: bool | str | None) -> bool | str | None:
    """The request's ``think``; unset on a model with the ``thinking`` capability means
    on (Ollama sets ``think: true`` for such models, so ``.IsThinkSet`` is true too)."""
    if think is None and "thinking" in model.capabilities:
        return True
    return think


def chat_history(model: ResolvedModel, spec: PromptSpec) -> list[ChatMessage]:
    """The effective conversation: model MESSAGEs, request messages, model SYSTEM first
    unless the request starts with its own system message (generate: request system wins)."""
    if spec.kind == "chat":
        history = [*model.messages, *spec.messages]
        first_is_system = bool(spec.messages) and spec.messages[0].role == "system"
        if model.system and not first_is_system:
            history.insert(0, ChatMessage(role="system", content=model.system))
        return history
    system = model.system if spec.system is None else spec.system
    history = [ChatMessage(role="system", content=system)] if system else []
    if not spec.context:
        history.extend(model.messages)
    history.append(ChatMessage(role="user", content=spec.prompt))
    return history


def render_prompt(
    model: ResolvedModel,
    spec: PromptSpec,
    *,
    count_tokens: Callable[[str], int] | None = None,
    num_ctx: int | None = None,
) -> str:
    """Render the prompt text for ``spec``; raises ``OllamaError`` on template errors."""
    if spec.kind == "generate" and spec.raw:
        return spec.prompt
    try:
        return _render(model, spec, count_tokens, num_ctx)
    except OllamaError:
        raise
    except Exception as error:  # template execution errors carry Go's message
        raise OllamaError(f"template: {error}") from error


def _render(
    model: ResolvedModel,
    spec: PromptSpec,
    count_tokens: Callable[[str], int] | None,
    num_ctx: int | None,
) -> str:
    think = resolved_think(model, spec.think)
    flag, level = _think_flag(think), think if isinstance(think, str) else None
    if spec.kind == "generate" and spec.template is not None:
        system = model.system if spec.system is None else spec.system
        return build_generate_prompt(
            Template.parse(spec.template), prompt=spec.prompt, system=system, suffix=spec.suffix,
            think=flag, think_level=level,
        )
    if model.template is None and model.chat_template and not spec.suffix:
        return _render_jinja(model, chat_history(model, spec), spec.tools)
    template = Template.parse(model.template or DEFAULT_TEMPLATE)
    if spec.kind == "generate" and spec.suffix:
        system = model.system if spec.system is None else spec.system
        return build_generate_prompt(template, prompt=spec.prompt, system=system, suffix=spec.suffix,
                                     think=flag, think_level=level)
    return build_chat_prompt(
        template,
        chat_history(model, spec),
        tools=list(spec.tools) or None,
        think=flag,
        think_level=level,
        num_ctx=num_ctx,
        count_tokens=count_tokens,
        truncate=spec.truncate,
    )


def _render_jinja(model: ResolvedModel, history: Sequence[ChatMessage], tools: Sequence[dict]) -> str:
    assert model.chat_template is not None
    return render_jinja_chat(
        model.chat_template,
        history,
        bos_token=model.bos_token,
        eos_token=model.eos_token,
        add_generation_prompt=True,
        tools=list(tools) or None,
    )


def _think_flag(think: bool | str | None) -> bool | None:
    if think is None:
        return None
    return think is not False
