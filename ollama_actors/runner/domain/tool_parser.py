"""Find tool calls in a model's streamed output, the way Ollama's ``tools.Parser`` does.

The tool-call tag comes from the template (``Template.tool_call_tag``:
``<tool_call>``, ``[TOOL_CALLS]``, or ``{`` when the template names none). Rules:

- text before the tag is content; a partial tag at the end of a chunk waits;
- with a ``{``/``[`` tag, calls are parsed only when the first non-blank output is
  that character; otherwise all output is content;
- after the tag, repeatedly: the earliest known tool name (the longest on a tie;
  wait while the buffer ends with a prefix of a name), then the first balanced
  JSON object (string- and escape-aware) holding its arguments: ``name`` with
  ``arguments``/``parameters`` (an object, or a JSON string of one), or a key equal
  to the tool name, or such an object nested deeper; failing those, the whole
  object. ``{"name": "f"}`` without arguments is not a call (Ollama's known gap);
- with a named tag, everything after it is consumed: text that is not a call is
  never shown; with ``{``/``[`` the buffered text comes back as content when the
  bracket closes without a call, or at the end (``content()``) if none was found.

Differences from Go, both deliberate: argument objects keep the model's key order
(Go rebuilds them from a map, in random order) and nested objects are searched in
document order. Pure: ``add`` returns the parser's next state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from ollama_actors.domain.chat import ToolCall, ToolFunctionCall

__all__ = ["ToolCallParser"]

_BRACKET_TAGS = ("{", "[")


class _State(Enum):
    LOOKING_FOR_TAG = "looking_for_tag"
    CALLING = "calling"
    DONE = "done"


@dataclass(frozen=True)
class ToolCallParser:
    """State of one output stream; ``names`` are the tools the request offered."""

    tag: str
    names: tuple[str, ...]
    state: _State = _State.LOOKING_FOR_TAG
    buffer: str = ""
    found: int = 0  # calls parsed so far: the next call's index

    @classmethod
    def for_tools(cls, tag: str, tools: Sequence[dict[str, Any]]) -> ToolCallParser:
        """A parser for a request's ``tools`` (Ollama's Tool objects)."""
        return cls(tag=tag or "{", names=tuple(_tool_names(tools)))

    def add(self, text: str) -> tuple[ToolCallParser, tuple[ToolCall, ...], str]:
        """Feed ``text``; returns the next state, the calls it completed, and content.

        Calls come without ids (the caller assigns them)."""
        if self.state is _State.DONE:
            return self, (), text
        buffer = self.buffer + text
        content = ""
        if self.state is _State.LOOKING_FOR_TAG:
            at, found = _find_tag(buffer, self.tag)
            content, buffer = (buffer, "") if at < 0 else (buffer[:at], buffer[at:])
            if self.tag in _BRACKET_TAGS and content.strip():
                return replace(self, state=_State.DONE, buffer=""), (), content + buffer
            if not found:
                return replace(self, buffer=buffer), (), content
        calls, buffer = self._parse_calls(buffer)
        state = _State.CALLING
        if _closed(buffer, self.tag):
            state, content, buffer = _State.DONE, buffer, ""
        return replace(self, state=state, buffer=buffer, found=self.found + len(calls)), calls, content

    def content(self) -> str:
        """What is left to show at the end: the buffer, for ``{``/``[`` tags when no call
        was found; otherwise nothing."""
        if self.found == 0 and self.tag in _BRACKET_TAGS:
            return self.buffer
        return ""

    def _parse_calls(self, buffer: str) -> tuple[tuple[ToolCall, ...], str]:
        calls: list[ToolCall] = []
        while True:
            name, end = _find_tool(self.names, buffer)
            if name is None:
                break
            arguments, args_end = _find_arguments(name, buffer)
            if arguments is None:
                break
            calls.append(ToolCall(ToolFunctionCall(name, arguments, self.found + len(calls))))
            buffer = buffer[max(end, args_end) :]
        return tuple(calls), buffer


def _tool_names(tools: Sequence[dict[str, Any]]) -> Iterator[str]:
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name:
            yield name


def _find_tag(buffer: str, tag: str) -> tuple[int, bool]:
    """Where the tag starts and whether it is whole; a partial tag at the end counts
    as a start (not whole); ``-1`` when neither."""
    at = buffer.find(tag)
    if at >= 0:
        return at, True
    for n in range(min(len(buffer), len(tag)), 0, -1):
        if buffer.endswith(tag[:n]):
            return len(buffer) - n, False
    return -1, False


def _find_tool(names: tuple[str, ...], buffer: str) -> tuple[str | None, int]:
    """The earliest tool name in ``buffer`` (longest on a tie) and where it ends;
    ``None`` while the buffer ends with a proper prefix of some name."""
    if not buffer or not names:
        return None, 0
    longest = max(len(n) for n in names)
    for i in range(1, min(len(buffer), longest) + 1):
        tail = buffer[-i:]
        if any(len(tail) < len(n) and n.startswith(tail) for n in names):
            return None, 0
    best: tuple[int, int, str] | None = None  # (start, -length, name)
    for name in names:
        at = buffer.find(name)
        if at >= 0 and (best is None or (at, -len(name)) < best[:2]):
            best = (at, -len(name), name)
    if best is None:
        return None, 0
    return best[2], best[0] + len(best[2])


def _find_arguments(name: str, buffer: str) -> tuple[dict[str, Any] | None, int]:
    """The arguments object for tool ``name`` in the first balanced JSON object that
    parses, and the index of that object's closing brace (Go's end position)."""
    start, depth, in_string, escaped = -1, 0, False, False
    for i, c in enumerate(buffer):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0 and start != -1:
                data = _json_object(buffer[start : i + 1])
                if data is None:
                    start = -1  # not a valid object: keep looking
                    continue
                found, arguments = _find_object(name, data)
                return (arguments if found else data), i
            depth = max(depth, 0)
    return None, 0


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _find_map(key: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    value = obj.get(key)
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return _json_object(value)
    return None


def _find_object(name: str, obj: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """(found, arguments): ``found`` with ``None`` arguments means "a call without
    arguments", which Ollama does not accept as a call."""
    if "name" in obj:
        for key in ("arguments", "parameters"):
            arguments = _find_map(key, obj)
            if arguments is not None:
                return True, arguments
        return True, None
    arguments = _find_map(name, obj)
    if arguments is not None:
        return True, arguments
    for value in obj.values():
        children = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
        for child in children:
            if isinstance(child, dict):
                found, arguments = _find_object(name, child)
                if found:
                    return True, arguments
    return False, None


def _closed(buffer: str, tag: str) -> bool:
    """For ``{``/``[`` tags: the buffer holds a balanced bracket pair (outside strings),
    so what was buffered was not a call after all and goes back as content."""
    if tag not in _BRACKET_TAGS:
        return False
    opening, closing = ("{", "}") if tag == "{" else ("[", "]")
    depth, in_string, escaped = 0, False, False
    for c in buffer:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return True
    return False
