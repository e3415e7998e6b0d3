"""Request bodies: JSON objects checked field by field with Go-decoder-like errors.

Ollama's handlers decode into Go structs, so a wrong type answers 400 with the
decoder's text (``json: cannot unmarshal string into Go struct field
GenerateRequest.prompt of type string``). Clients rarely match these, but the
status and shape matter: bad input is a 400, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from quart import request

from ollama_actors.domain.errors import InvalidRequestError

__all__ = ["Fields", "read_json"]

_GO_TYPE = {str: "string", bool: "bool", int: "int", float: "float64", list: "array", dict: "object"}


async def read_json() -> dict[str, Any]:
    """The request's JSON object; 400 ``missing request body`` when empty."""
    raw = await request.get_data()
    if not raw or not raw.strip():
        raise InvalidRequestError("missing request body")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidRequestError(f"invalid character in request body: {error}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError(
            f"json: cannot unmarshal {_json_kind(body)} into Go value of type api.Request"
        )
    return body


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


class Fields:
    """Typed access to a request object's fields; ``struct`` names the Go type in errors."""

    def __init__(self, body: Mapping[str, Any], struct: str) -> None:
        self.body = body
        self.struct = struct

    def _bad(self, name: str, value: object, expected: str) -> InvalidRequestError:
        return InvalidRequestError(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
            f"{self.struct}.{name} of type {expected}"
        )

    def get(self, name: str, kind: type, default: Any = None) -> Any:  # Any: by ``kind``
        value = self.body.get(name)
        if value is None:
            return default
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if not ok:
            raise self._bad(name, value, _GO_TYPE.get(kind, kind.__name__))
        return value

    def str(self, name: str, default: str = "") -> str:
        return self.get(name, str, default)

    def bool(self, name: str, default: bool = False) -> bool:
        return self.get(name, bool, default)

    def object(self, name: str) -> dict[str, Any] | None:
        return self.get(name, dict, None)

    def list(self, name: str) -> list[Any] | None:
        return self.get(name, list, None)

    def raw(self, name: str) -> Any:  # Any: an untyped JSON value (format, keep_alive, think)
        return self.body.get(name)
