"""Errors of the Go template engine, worded the way Go's ``text/template`` words them.

Ollama shows these texts to clients (``template error: <detail>`` on create, the bare
message when a request template fails), so ``str(error)`` is Go's message exactly:

    OllamaError (500)
    └── TemplateError                 parse error: "template: <name>:<line>: <msg>"
        └── TemplateExecError         execution error:
                                      "template: <name>:<line>:<col>: executing "<name>" at <<node>>: <msg>"

``line`` is 1-based; ``col`` is the 0-based byte offset within the line (Go's
``ErrorContext`` convention; parse errors carry it too although Go's parse message
prints only the line).
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
