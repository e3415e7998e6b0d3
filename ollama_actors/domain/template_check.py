"""Validating a template a client sent (create, the render preview): Ollama's 400.

Shared by the management context (create) and the modelfile context (preview), so
both answer a bad template with the same ``template error: …`` carrying its
line and column. Pure.
"""

from __future__ import annotations

from ollama_actors.domain.errors import InvalidRequestError
from ollama_actors.domain.gotemplate import Template

__all__ = ["check_template"]


def check_template(text: str) -> Template:
    """Parse a TEMPLATE; a syntax error is a 400 ``template error: …`` with its position."""
    try:
        return Template.parse(text)
    except Exception as error:  # noqa: BLE001 - any parse failure is the client's template
        raise InvalidRequestError(f"template error: {error}") from None
