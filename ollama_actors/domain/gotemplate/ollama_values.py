"""The values Ollama hands its templates: messages and tools shaped as Go sees them.

Ollama converts ``api.Message`` and ``api.Tool`` into template-only structs
(``templateMessage``, ``templateTool``, … in ``template/template.go``) and the
printed text depends on those Go types: ``{{ .Function.Arguments }}``,
``{{ . }}`` and ``{{ .Function }}`` on a tool print compact JSON (map keys sorted,
HTML-escaped; ``{{ .Function }}`` by our choice, see ``TemplateToolFunction``), a
property's ``.Type`` prints ``string``, ``{{ .ToolCalls }}`` of a plain message
prints ``[]``, ``{{ .Tools }}`` without tools prints ``null``. JSON numbers arrive
as Go ``float64``, so ``{{ $v }}`` of ``10000000`` prints ``1e+07`` as in Ollama.
These classes reproduce those types; they are frozen and built by pure functions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ollama_actors.domain.chat import ChatMessage, ToolCall
from ollama_actors.domain.gotemplate.gojson import go_json

__all__ = [
    "GoMap",
    "PropertyType",
    "StringerMap",
    "TemplateMessage",
    "TemplateTool",
    "TemplateToolCall",
    "TemplateToolCallFunction",
    "TemplateToolFunction",
    "TemplateToolParameters",
    "TemplateTools",
    "ToolProperty",
    "go_decoded",
    "template_messages",
    "template_tools",
]


def go_decoded(value: Any) -> Any:
    """A JSON-like value as Go's decoder leaves it in an ``any``: numbers become
    floats, arrays tuples, objects read-only maps (``Any``: JSON is untyped)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return GoMap({str(k): go_decoded(v) for k, v in value.items()}, go_type="map[string]interface {}")
    if isinstance(value, Sequence):
        return tuple(go_decoded(v) for v in value)
    return value


class GoMap(Mapping[str, Any]):
    """A read-only Go map; ``ordered`` keeps insertion order in JSON (Ollama's ordered
    maps) and a map built from ``None`` is nil (JSON ``null``)."""

    def __init__(
        self,
        entries: Mapping[str, Any] | None,
        *,
        go_type: str = "map[string]interface {}",
        ordered: bool = False,
    ) -> None:
        self._entries = dict(entries or {})
        self.go_nil = entries is None
        self.go_ordered = ordered
        self.go_type = go_type

    def __getitem__(self, key: str) -> Any:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"GoMap({self._entries!r})"


class StringerMap(GoMap):
    """A map type with Ollama's ``String()``: its JSON, ``{}`` when nil
    (``templateArgs``, ``templateProperties``)."""

    def go_string(self) -> str:
        return "{}" if self.go_nil else go_json(self)


class TemplateTools(Sequence["TemplateTool"]):
    """``templateTools``: prints as the JSON array; nil (no tools sent) prints ``null``."""

    go_type = "template.templateTools"

    def __init__(self, tools: Sequence[TemplateTool] | None) -> None:
        self._tools = tuple(tools or ())
        self.go_nil = tools is None

    def __getitem__(self, index: Any) -> Any:
        return self._tools[index]

    def __len__(self) -> int:
        return len(self._tools)

    def go_string(self) -> str:
        return go_json(self)

    def go_json(self) -> str:
        return "null" if self.go_nil else "[" + ",".join(go_json(t) for t in self._tools) + "]"


class PropertyType(tuple[str, ...]):
    """``api.PropertyType``: one JSON-schema type prints bare, several as ``[a b]``."""

    go_type = "api.PropertyType"

    def go_string(self) -> str:
        if len(self) == 1:
            return self[0]
        return "[" + " ".join(self) + "]" if self else ""

    def go_json(self) -> str:
        if len(self) == 1:
            return go_json(self[0])
        return "[" + ",".join(go_json(t) for t in self) + "]"


_TS_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "array": "any[]",
    "object": "Record<string, any>",
    "null": "null",
}


@dataclass(frozen=True)
class ToolProperty:
    """``api.ToolProperty``; ``Properties`` keeps the request's key order."""

    go_type = "api.ToolProperty"

    AnyOf: tuple[ToolProperty, ...] = field(default=(), metadata={"json": "anyOf,omitempty"})
    Type: PropertyType = field(default=PropertyType(), metadata={"json": "type,omitempty"})
    Items: Any = field(default=None, metadata={"json": "items,omitempty"})
    Description: str = field(default="", metadata={"json": "description,omitempty"})
    Enum: tuple[Any, ...] = field(default=(), metadata={"json": "enum,omitempty"})
    Properties: GoMap | None = field(default=None, metadata={"json": "properties,omitempty"})
    Required: tuple[str, ...] = field(default=(), metadata={"json": "required,omitempty"})

    def typescript_type(self) -> str:
        """Ollama's ``ToTypeScriptType``: ``string``, ``number | null``, ``any[]``, …"""
        if self.AnyOf:
            return " | ".join(p.typescript_type() for p in self.AnyOf)
        if not self.Type:
            return "any"
        return " | ".join(_TS_TYPES.get(t, "any") for t in self.Type)


@dataclass(frozen=True)
class TemplateToolParameters:
    """``templateToolFunctionParameters``: ``{{ .Function.Parameters }}`` prints its JSON
    (see ``TemplateToolFunction``)."""

    go_type = "template.templateToolFunctionParameters"

    Type: str = field(default="", metadata={"json": "type"})
    Defs: Any = field(default=None, metadata={"json": "$defs,omitempty"})
    Items: Any = field(default=None, metadata={"json": "items,omitempty"})
    Required: tuple[str, ...] = field(default=(), metadata={"json": "required,omitempty"})
    Properties: StringerMap = field(default_factory=lambda: _properties(None), metadata={"json": "properties"})

    def go_string(self) -> str:
        return go_json(self)


@dataclass(frozen=True)
class TemplateToolFunction:
    """``templateToolFunction``: ``{{ .Function }}`` prints its JSON.

    A deliberate departure from the Ollama commit we follow: there this type (and
    ``templateToolFunctionParameters``) has no ``String()``, so Qwen 2.5's
    ``{"type": "function", "function": {{ .Function }}}`` prints Go struct syntax
    (``{get_weather Get … {object <nil> <nil> [city] {…}}}``), a regression since
    Ollama v0.14 (ollama/ollama#14601, fix proposed in #18391). Before it, and with
    that fix, it prints JSON, which is what the templates were written for.
    """

    go_type = "template.templateToolFunction"

    Name: str = field(default="", metadata={"json": "name"})
    Description: str = field(default="", metadata={"json": "description"})
    Parameters: TemplateToolParameters = field(default_factory=TemplateToolParameters, metadata={"json": "parameters"})

    def go_string(self) -> str:
        return go_json(self)


@dataclass(frozen=True)
class TemplateTool:
    """``templateTool``: ``{{ . }}`` prints its JSON."""

    go_type = "template.templateTool"

    Type: str = field(default="", metadata={"json": "type"})
    Items: Any = field(default=None, metadata={"json": "items,omitempty"})
    Function: TemplateToolFunction = field(default_factory=TemplateToolFunction, metadata={"json": "function"})

    def go_string(self) -> str:
        return go_json(self)


@dataclass(frozen=True)
class TemplateToolCallFunction:
    go_type = "template.templateToolCallFunction"

    Index: int = 0
    Name: str = ""
    Arguments: StringerMap = field(default_factory=lambda: _arguments(None))


@dataclass(frozen=True)
class TemplateToolCall:
    go_type = "template.templateToolCall"

    ID: str = ""
    Function: TemplateToolCallFunction = field(default_factory=TemplateToolCallFunction)


@dataclass(frozen=True)
class TemplateMessage:
    """``*templateMessage``: one collated message as templates see it."""

    go_type = "*template.templateMessage"

    Role: str = ""
    Content: str = ""
    Thinking: str = ""
    Images: tuple[bytes, ...] = field(default=(), metadata={"nil_empty": True})
    ToolCalls: tuple[TemplateToolCall, ...] = field(default=(), metadata={"nil_empty": True})
    ToolName: str = ""
    ToolCallID: str = ""


# -- conversion ------------------------------------------------------------------------
def _arguments(arguments: Mapping[str, Any] | None) -> StringerMap:
    entries = None if arguments is None else {k: go_decoded(v) for k, v in arguments.items()}
    return StringerMap(entries, go_type="template.templateArgs")


def _properties(properties: Mapping[str, Any] | None) -> StringerMap:
    entries = None if properties is None else {k: _property(v) for k, v in properties.items()}
    return StringerMap(entries, go_type="template.templateProperties")


def _property_type(raw: Any) -> PropertyType:
    if isinstance(raw, str):
        return PropertyType((raw,))
    if isinstance(raw, Sequence):
        return PropertyType(str(t) for t in raw)
    return PropertyType()


def _property(raw: Any) -> ToolProperty:
    spec: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    nested = spec.get("properties")
    return ToolProperty(
        AnyOf=tuple(_property(p) for p in spec.get("anyOf") or ()),
        Type=_property_type(spec.get("type")),
        Items=go_decoded(spec.get("items")),
        Description=str(spec.get("description") or ""),
        Enum=tuple(go_decoded(v) for v in spec.get("enum") or ()),
        Properties=(
            GoMap({k: _property(v) for k, v in nested.items()}, go_type="*api.ToolPropertiesMap", ordered=True)
            if isinstance(nested, Mapping)
            else None
        ),
        Required=tuple(str(r) for r in spec.get("required") or ()),
    )


def _tool(raw: Mapping[str, Any]) -> TemplateTool:
    function: Mapping[str, Any] = raw.get("function") or {}
    parameters: Mapping[str, Any] = function.get("parameters") or {}
    properties = parameters.get("properties")
    return TemplateTool(
        Type=str(raw.get("type") or ""),
        Items=go_decoded(raw.get("items")),
        Function=TemplateToolFunction(
            Name=str(function.get("name") or ""),
            Description=str(function.get("description") or ""),
            Parameters=TemplateToolParameters(
                Type=str(parameters.get("type") or ""),
                Defs=go_decoded(parameters.get("$defs")),
                Items=go_decoded(parameters.get("items")),
                Required=tuple(str(r) for r in parameters.get("required") or ()),
                Properties=_properties(properties if isinstance(properties, Mapping) else None),
            ),
        ),
    )


def template_tools(tools: Sequence[Mapping[str, Any]] | None) -> TemplateTools:
    """``convertToolsForTemplate``: ``None`` (no tools in the request) stays nil."""
    return TemplateTools(None if tools is None else [_tool(t) for t in tools])


def _tool_call(call: ToolCall) -> TemplateToolCall:
    function = call.function
    return TemplateToolCall(
        ID=call.id,
        Function=TemplateToolCallFunction(
            Index=function.index, Name=function.name, Arguments=_arguments(function.arguments)
        ),
    )


def template_messages(messages: Sequence[ChatMessage]) -> tuple[TemplateMessage, ...]:
    """``convertMessagesForTemplate`` for already collated messages."""
    return tuple(
        TemplateMessage(
            Role=m.role,
            Content=m.content,
            Thinking=m.thinking,
            Images=tuple(m.images),
            ToolCalls=tuple(_tool_call(c) for c in m.tool_calls),
            ToolName=m.tool_name,
            ToolCallID=m.tool_call_id,
        )
        for m in messages
    )
