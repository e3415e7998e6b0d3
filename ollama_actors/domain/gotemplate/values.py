"""How Python values stand in for Go values inside the template engine.

Go's executor works on ``reflect.Value``s; here plain Python values play their part:

==========================  =====================================================
Python                      Go
==========================  =====================================================
``INVALID``                 the zero ``reflect.Value`` (prints ``<no value>``)
``None``                    a nil ``interface{}`` (a missing map key, JSON null)
``bool`` / ``int``          ``bool`` / ``int``
``float`` / ``complex``     ``float64`` / ``complex128``
``str``                     ``string`` (``len`` counts UTF-8 bytes, as Go does)
``bytes``                   ``[]byte``
``Mapping``                 ``map[string]any`` (ranged and printed in key order)
other ``Sequence``          a slice
dataclass instance          a struct (fields by name)
==========================  =====================================================

An object with a ``go_string()`` method is a ``fmt.Stringer`` (printed through it);
one with ``go_json()`` is a ``json.Marshaler``. A ``go_type`` attribute names the
Go type in error messages; a true ``go_nil`` marks a nil map or slice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "INVALID",
    "GoJSONMarshaler",
    "GoStringer",
    "go_kind",
    "go_type_name",
    "is_struct",
    "is_true",
    "sorted_items",
    "struct_fields",
]


class _Invalid:
    """The zero ``reflect.Value``: what an unset variable or an absent value is."""

    _instance: _Invalid | None = None

    def __new__(cls) -> _Invalid:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "INVALID"

    def __bool__(self) -> bool:
        return False


INVALID: Any = _Invalid()  # Any: it stands in for a value of any type


@runtime_checkable
class GoStringer(Protocol):
    """Go's ``fmt.Stringer``."""

    def go_string(self) -> str: ...


@runtime_checkable
class GoJSONMarshaler(Protocol):
    """Go's ``json.Marshaler``: returns compact JSON text."""

    def go_json(self) -> str: ...


def is_struct(value: object) -> bool:
    """True for dataclass instances, which play Go structs."""
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def struct_fields(value: object) -> tuple[dataclasses.Field[Any], ...]:
    """The fields of a struct-like dataclass, in declaration order."""
    return dataclasses.fields(value)  # type: ignore[arg-type]


def go_kind(value: object) -> str:
    """Go's reflect kind of ``value``: invalid, nil, bool, int, float, complex, string,
    bytes, slice, map, struct, func or other."""
    if value is INVALID:
        return "invalid"
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, complex):
        return "complex"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "bytes"
    if isinstance(value, Mapping):
        return "map"
    if is_struct(value):
        return "struct"
    if isinstance(value, Sequence):
        return "slice"
    if callable(value):
        return "func"
    return "other"


_TYPE_NAMES = {
    "nil": "interface {}",
    "bool": "bool",
    "int": "int",
    "float": "float64",
    "complex": "complex128",
    "string": "string",
    "bytes": "[]uint8",
    "map": "map[string]interface {}",
    "slice": "[]interface {}",
    "func": "func()",
}


def go_type_name(value: object) -> str:
    """The Go type name Go's messages would print for ``value``."""
    named = getattr(value, "go_type", None)
    if isinstance(named, str):
        return named
    kind = go_kind(value)
    if kind in _TYPE_NAMES:
        return _TYPE_NAMES[kind]
    return type(value).__name__


def is_true(value: object) -> tuple[bool, bool]:
    """Go's ``isTrue``: (truth, ok). Empty strings/collections, zero numbers, false
    and nil are false; structs are always true. ``ok`` is kept for Go's signature:
    every Python value has a truth value."""
    kind = go_kind(value)
    if kind in ("invalid", "nil"):
        return False, True
    if kind in ("bool", "int", "float", "complex"):
        return value != 0, True
    if kind in ("string", "bytes", "map", "slice"):
        return len(value) > 0, True  # type: ignore[arg-type]
    # structs, funcs and any other object: non-nil, so true
    return True, True


def sorted_items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """Map entries in Go's order (``fmtsort``): numbers numerically, strings bytewise.

    Python compares ``str`` by code point, which orders UTF-8 bytes identically."""
    try:
        keys = sorted(mapping.keys())
    except TypeError:
        keys = sorted(mapping.keys(), key=lambda k: (type(k).__name__, str(k)))
    return [(key, mapping[key]) for key in keys]
