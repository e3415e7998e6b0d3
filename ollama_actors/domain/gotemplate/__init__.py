"""Go's ``text/template``, re-implemented for Ollama's prompt templates.

Why hand-written: Ollama's TEMPLATE is Go ``text/template`` source, and no maintained
Python library implements that language (Jinja2, Mako and friends have different
syntax, whitespace rules, truthiness and printing). Rendering has to match Go to the
byte, so this package ports Go's lexer, parser and executor (``text/template`` and
``text/template/parse``), the parts of ``fmt`` and ``encoding/json`` that decide the
printed text, and the Ollama specifics: its template functions, the Go types it
hands templates, and the tree inspections behind capabilities.

Modules: ``lexer`` → ``parser`` → ``nodes`` (the tree); ``exec`` runs a tree with
``funcs``; ``gofmt``/``gojson`` print values as Go does; ``values`` maps Python values
onto Go kinds; ``ollama_values`` builds Ollama's template data; ``analysis`` answers
Ollama's questions about a tree; ``template`` ties them into ``Template``.
"""

from ollama_actors.domain.gotemplate.errors import TemplateError, TemplateExecError
from ollama_actors.domain.gotemplate.gofmt import sprint, sprintf
from ollama_actors.domain.gotemplate.gojson import go_json
from ollama_actors.domain.gotemplate.ollama_values import (
    TemplateMessage,
    TemplateTool,
    TemplateTools,
    go_decoded,
    template_messages,
    template_tools,
)
from ollama_actors.domain.gotemplate.template import Template
from ollama_actors.domain.gotemplate.values import INVALID

__all__ = [
    "INVALID",
    "Template",
    "TemplateError",
    "TemplateExecError",
    "TemplateMessage",
    "TemplateTool",
    "TemplateTools",
    "go_decoded",
    "go_json",
    "sprint",
    "sprintf",
    "template_messages",
    "template_tools",
]
