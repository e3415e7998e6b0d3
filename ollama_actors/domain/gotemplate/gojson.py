"""Go's ``encoding/json.Marshal`` for template values (Ollama's ``json`` function and
the ``String()`` of its tool types).

Python's ``json.dumps`` differs from Go's encoder in ways a rendered prompt shows:
Go writes no spaces, sorts map keys, escapes ``<``, ``>``, ``&``, U+2028 and U+2029
(``\\u003c`` …), writes floats without a trailing ``.0`` (``3``, ``1e+21``, ``1e-7``)
and ``[]byte`` as base64. Struct fields take their JSON name from the dataclass
field's ``metadata["json"]`` (Go's tag syntax: ``"name,omitempty"`` or ``"-"``);
``metadata["nil_empty"]`` marks a Go nil slice that encodes as ``null`` when empty.
Mappings with a true ``go_ordered`` attribute keep their insertion order (Ollama's
ordered maps). NaN and infinities are errors, as in Go.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

from ollama_actors.domain.gotemplate.gofmt import format_float_json
from ollama_actors.domain.gotemplate.values import (
    GoJSONMarshaler,
    go_kind,
    go_type_name,
    struct_fields,
)

__all__ = ["GoJSONError", "go_json", "go_json_or_empty", "go_json_string"]


class GoJSONError(ValueError):
    """A value Go's encoder refuses (NaN, Inf, functions, complex numbers)."""


_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HTML = {"<", ">", "&", "\u2028", "\u2029"}


def go_json_string(text: str) -> str:
    """A JSON string literal escaped as Go escapes it (HTML-safe)."""
    out = ['"']
    for ch in text:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif "\ud800" <= ch <= "\udfff":  # invalid UTF-8 in Go's terms
            out.append("\\ufffd")
        elif ch < " " or ch in _HTML:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _is_empty(value: Any) -> bool:
    """Go's ``omitempty`` test: false, 0, "", nil, empty map/slice."""
    kind = go_kind(value)
    if kind in ("invalid", "nil"):
        return True
    if kind in ("bool", "int", "float", "complex"):
        return bool(value == 0)
    if kind in ("string", "bytes", "map", "slice"):
        return len(value) == 0
    return False


def _encode_struct(value: object) -> str:
    parts: list[str] = []
    for field in struct_fields(value):
        tag = str(field.metadata.get("json", field.name))
        name, _, options = tag.partition(",")
        if name == "-":
            continue
        item = getattr(value, field.name)
        if "omitempty" in options.split(",") and _is_empty(item):
            continue
        if field.metadata.get("nil_empty") and _is_empty(item):
            parts.append(go_json_string(name or field.name) + ":null")
            continue
        parts.append(go_json_string(name or field.name) + ":" + go_json(item))
    return "{" + ",".join(parts) + "}"


def _encode_map(value: Mapping[Any, Any]) -> str:
    if getattr(value, "go_ordered", False):
        items = list(value.items())
    else:  # Go sorts map keys by their string form
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
    return "{" + ",".join(go_json_string(str(k)) + ":" + go_json(v) for k, v in items) + "}"


def go_json(value: Any) -> str:  # noqa: C901 - one branch per Go kind  (Any: any Go value)
    """Compact JSON of ``value`` as Go's ``json.Marshal`` writes it.

    Raises:
        GoJSONError: for NaN/Inf floats, complex numbers and functions.
    """
    if isinstance(value, GoJSONMarshaler):
        return value.go_json()
    if getattr(value, "go_nil", False):
        return "null"
    kind = go_kind(value)
    if kind in ("invalid", "nil"):
        return "null"
    if kind == "bool":
        return "true" if value else "false"
    if kind == "int":
        return str(value)
    if kind == "float":
        if math.isnan(value) or math.isinf(value):
            raise GoJSONError(f"json: unsupported value: {value}")
        return format_float_json(value)
    if kind == "string":
        return go_json_string(value)
    if kind == "bytes":
        return '"' + base64.b64encode(bytes(value)).decode() + '"'
    if kind == "map":
        return _encode_map(value)
    if kind == "struct":
        return _encode_struct(value)
    if kind == "slice":
        return "[" + ",".join(go_json(item) for item in value) + "]"
    raise GoJSONError(f"json: unsupported type: {go_type_name(value)}")


def go_json_or_empty(value: Any) -> str:  # Any: any Go value
    """Ollama's ``json`` template function: Go's ``json.Marshal`` with the error
    ignored, so an unencodable value renders as the empty string."""
    try:
        return go_json(value)
    except GoJSONError:
        return ""
