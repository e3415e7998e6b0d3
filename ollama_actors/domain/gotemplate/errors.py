"""Errors of the Go template engine, worded the way Go's ``text/template`` words them.

Ollama shows these texts to clients (``template error: <detail>`` on create, the bare
message when a request template fails), so ``str(error)`` is Go's message, with one
addition: parse errors also name the column, which Go's parse message leaves out.

    OllamaError (500)
    └── TemplateError                 parse error: "template: <name>:<line>:<col>: <msg>"
        └── TemplateExecError         execution error:
                                      "template: <name>:<line>:<col>: executing "<name>" at <<node>>: <msg>"

``line`` is 1-based; ``col`` is the 0-based byte offset within the line, Go's
``ErrorContext`` convention, which its execution errors print: both kinds read
``<name>:<line>:<col>:`` alike. (Go itself prints ``template: :1: unexpected "}" in
operand``; we print ``template: :1:8: …``.) A few errors found after parsing
(``undefined template specified``) have no position: ``line`` and ``col`` are 0.
"""

from __future__ import annotations

from ollama_actors.domain.errors import OllamaError

__all__ = ["TemplateError", "TemplateExecError"]


class TemplateError(OllamaError):
    """A template that Go's parser would reject; ``line``/``col`` locate the token."""

    def __init__(self, message: str, *, line: int = 0, col: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


class TemplateExecError(TemplateError):
    """Execution stopped the way Go's executor stops (bad field, failed call, …)."""
