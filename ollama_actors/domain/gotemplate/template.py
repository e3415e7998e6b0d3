"""``Template``: a parsed Go template as Ollama uses it (``template.Template``).

Parsing follows Go's ``text/template`` with Ollama's setup: its extra functions
(``json``, ``currentDate``, ``yesterdayDate``, ``toTypeScriptType``) are defined and
``missingkey=zero`` is on. ``parse`` itself is plain Go; Ollama's touch-ups are
explicit steps the prompt builder applies (``with_response``,
``cut_after_response``), so that a template executes exactly as written when a
caller wants that.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any

from ollama_actors.domain.gotemplate import analysis
from ollama_actors.domain.gotemplate.errors import TemplateError
from ollama_actors.domain.gotemplate.exec import execute_trees
from ollama_actors.domain.gotemplate.funcs import FUNC_NAMES
from ollama_actors.domain.gotemplate.nodes import ListNode
from ollama_actors.domain.gotemplate.parser import parse_trees

__all__ = ["Template"]


@dataclass(frozen=True)
class Template:
    """An immutable parsed template; ``text`` is the source, ``trees`` the main tree
    (under ``name``) and every ``define``/``block``."""

    text: str
    name: str
    trees: Mapping[str, ListNode] = field(compare=False)
    missing_key_zero: bool = True

    @classmethod
    def parse(cls, text: str, *, name: str = "") -> Template:
        """Parse ``text`` as Go's ``text/template`` does with Ollama's functions.

        ``name`` only appears in messages; Ollama's templates are unnamed, giving
        ``template: :1: …``. Like Ollama's ``template.Parse`` it also rejects
        ``{{template "x"}}`` without an argument (``undefined template specified``).

        Raises:
            TemplateError: Go's parse error text, with ``line`` and ``col``.
        """
        trees = parse_trees(text, name=name, funcs=FUNC_NAMES)
        try:
            analysis.identifiers(trees)
        except ValueError as error:
            raise TemplateError(str(error)) from None
        return cls(text=text, name=name, trees=MappingProxyType(trees))

    def __str__(self) -> str:
        return self.text

    @property
    def root(self) -> ListNode:
        """The main tree."""
        return self.trees[self.name]

    def execute(self, data: Mapping[str, Any], *, today: datetime.date | None = None) -> str:
        """Render with ``data`` as the dot (``Any``: template data is arbitrary values).

        ``today`` feeds ``currentDate``/``yesterdayDate``; pass the clock's date to stay
        deterministic (``None`` reads the local date).

        Raises:
            TemplateExecError: Go's execution error text.
        """
        return execute_trees(
            self.trees,
            text=self.text,
            name=self.name,
            data=data,
            today=today or datetime.date.today(),
            missing_zero=self.missing_key_zero,
        )

    # -- what Ollama reads off the tree ---------------------------------------------
    @cached_property
    def identifiers(self) -> frozenset[str]:
        """Ollama's ``Vars``: all field and variable identifiers, lower-cased."""
        return analysis.identifiers(self.trees)

    def variables(self) -> frozenset[str]:
        """Names of the data fields the template reads from its root, e.g.
        ``{"System", "Messages", "Tools"}`` (``.System``, ``$.Tools``)."""
        return analysis.top_level_fields(self.trees)

    @property
    def uses_messages(self) -> bool:
        """The template renders the whole history (``.Messages``) rather than turns."""
        return "messages" in self.identifiers

    @property
    def uses_tools(self) -> bool:
        """Ollama's ``tools`` capability: the template mentions ``Tools``."""
        return "tools" in self.identifiers

    @property
    def uses_suffix(self) -> bool:
        """Ollama's ``insert`` capability: the template mentions ``Suffix``."""
        return "suffix" in self.identifiers

    @cached_property
    def thinking_tags(self) -> tuple[str, str]:
        """The tags around ``.Thinking`` in ``range .Messages``, or ``("", "")``."""
        return analysis.thinking_tags(self.root)

    @property
    def renders_thinking_in_messages(self) -> bool:
        """Ollama's ``thinking`` capability from the template: both tags were found."""
        opening, closing = self.thinking_tags
        return bool(opening and closing)

    @cached_property
    def tool_call_tag(self) -> str:
        """What starts a tool call in model output (``<tool_call>``), ``{`` by default."""
        return analysis.tool_call_tag(self.root)

    # -- Ollama's rewrites ---------------------------------------------------------------
    def with_response(self) -> Template:
        """Ollama's parse-time touch-up: a template that mentions neither ``.Messages``
        nor ``.Response`` gets ``{{ .Response }}`` appended; others come back unchanged."""
        if "messages" in self.identifiers or "response" in self.identifiers:
            return self
        return self._with_root(analysis.with_response(self.root), self.missing_key_zero)

    def cut_after_response(self) -> Template:
        """The template Ollama runs for a legacy template's last turn: everything after
        the first ``.Response`` removed, executed without ``missingkey=zero`` as Ollama's
        rebuilt template is."""
        return self._with_root(analysis.cut_after_response(self.root), False)

    def _with_root(self, root: ListNode, missing_key_zero: bool) -> Template:
        trees = dict(self.trees)
        trees[self.name] = root
        return replace(self, trees=MappingProxyType(trees), missing_key_zero=missing_key_zero)
