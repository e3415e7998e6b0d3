"""Routes of the modelfile context: the template render preview.

``POST /x/modelfile/render`` answers ``{"prompt": …}``: the text the runner
would feed the model for the same request, rendered by the runner's own
``render_prompt`` on the same ``ResolvedModel`` the ModelManager hands the
runner, so the preview cannot drift from what generation does.

Body: ``model`` (a stored model) and/or ``template`` (a Go template; with a
model it replaces the model's TEMPLATE, as a Modelfile edit would), plus
``system`` (replaces the model's SYSTEM), and either ``messages``, ``tools``,
``think`` (a chat request) or ``prompt``, ``suffix``, ``think`` (a generate
request: when ``prompt`` or ``suffix`` is given and ``messages`` is not).

Differences from the runner, by design: no history truncation (that needs the
model's tokenizer and ``num_ctx``; short histories are never truncated) and no
``context`` continuation. Errors: neither model nor template → 400; unknown
model → 404 ``model '<name>' not found``; a template that does not parse or does
not execute on the request → 400 ``template error: …`` with its position.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from quart import Blueprint

from ollama_actors.bridge.reply import ask
from ollama_actors.domain.errors import InvalidRequestError, ModelNotFoundError, OllamaError
from ollama_actors.domain.template_check import check_template
from ollama_actors.domain.models import ResolvedModel
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.json_body import Fields, read_json
from ollama_actors.management.messages import ResolveModel

# The runner's own request parsing and prompt builder: reused, not copied, so the
# preview is exact (see the module docstring).
from ollama_actors.runner.domain.prompting import render_prompt
from ollama_actors.runner.http.schemas import parse_chat, parse_generate
from ollama_actors.runner.messages import PromptSpec

__all__ = ["modelfile_blueprint"]


def modelfile_blueprint(deps: EdgeDeps) -> Blueprint:
    bp = Blueprint("modelfile", __name__)
    timeout = deps.settings.request_timeout_s

    async def resolve(name: str) -> ResolvedModel:
        try:
            return await ask(deps.actor("model_manager"), ResolveModel(name), timeout=timeout)
        except ModelNotFoundError:
            raise ModelNotFoundError(f"model '{name}' not found") from None

    @bp.post("/x/modelfile/render")
    async def render() -> dict[str, Any]:
        body = await read_json()
        f = Fields(body, "RenderRequest")
        name = (f.str("model") or f.str("name")).strip()
        template = f.get("template", str, None)
        if not name and template is None:
            raise InvalidRequestError("model or template is required")
        if template is not None:
            check_template(template)
        model = await resolve(name) if name else _bare_model()
        model = _with_overrides(model, template=template, system=f.get("system", str, None))
        return {"prompt": _render(model, _prompt_spec(body))}

    return bp


def _prompt_spec(body: dict[str, Any]) -> PromptSpec:
    """The runner's ``PromptSpec`` for a preview body, parsed as /api/chat or /api/generate parse it."""
    if "messages" not in body and ("prompt" in body or "suffix" in body):
        g = parse_generate(body)
        return PromptSpec(kind="generate", prompt=g.prompt, suffix=g.suffix, think=g.think)
    c = parse_chat(body)
    return PromptSpec(kind="chat", messages=c.messages, tools=c.tools, think=c.think)


def _bare_model() -> ResolvedModel:
    """A model that is only a template (the Modelfile editor before FROM resolves)."""
    return ResolvedModel(name="", full_name="", digest="", model_path="", size=0)


def _with_overrides(model: ResolvedModel, *, template: str | None, system: str | None) -> ResolvedModel:
    if template is not None:
        model = replace(model, template=template)
    if system is not None:
        model = replace(model, system=system)
    return model


def _render(model: ResolvedModel, spec: PromptSpec) -> str:
    try:
        return render_prompt(model, spec)
    except OllamaError as error:  # execution errors: the request's data does not fit the template
        raise InvalidRequestError(f"template error: {error.message}") from None
