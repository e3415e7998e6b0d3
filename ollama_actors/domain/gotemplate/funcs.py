"""The functions a template may call: Go's builtins plus the ones Ollama registers.

Go builtins (``text/template/funcs.go``): ``and or not eq ne lt le gt ge len index
slice print printf println html js urlquery call``. Ollama adds ``json`` (Go's
``json.Marshal``, error ignored), ``currentDate`` / ``yesterdayDate`` (``YYYY-MM-DD``,
arguments ignored) and ``toTypeScriptType``. Each function declares Go's parameter
kinds so the executor can check arguments as Go does:

* ``value`` — a ``reflect.Value`` parameter: receives anything, even ``INVALID``;
* ``any``   — an ``interface{}`` parameter: ``INVALID`` arrives as ``None``;
* ``string`` — must be a Go string.

``and``/``or`` are evaluated lazily by the executor itself. A function signals Go's
``error`` result by raising ``FuncError``; the executor words it as
``error calling <name>: <message>``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from ollama_actors.domain.gotemplate.gofmt import sprint, sprintf, sprintln
from ollama_actors.domain.gotemplate.gojson import go_json_or_empty
from ollama_actors.domain.gotemplate.values import INVALID, go_kind, go_type_name, is_true

__all__ = ["FUNC_NAMES", "FuncError", "GoFunc", "make_funcs", "truth"]


class FuncError(Exception):
    """A function's Go ``error`` result."""


@dataclass(frozen=True)
class GoFunc:
    """A callable with Go's parameter kinds; ``variadic`` is the kind of ``...`` args."""

    name: str
    params: tuple[str, ...]
    variadic: str | None
    fn: Callable[..., object]


def truth(value: object) -> bool:
    """Go's ``truth``: the truth value of anything, nil being false."""
    return is_true(value)[0]


# -- comparison ---------------------------------------------------------------------
_BAD_TYPE = "invalid type for comparison"
_INCOMPATIBLE = "incompatible types for comparison"


def _basic_kind(value: object) -> str | None:
    """Go's ``basicKind``; ``None`` for values that are not bool/int/float/complex/string."""
    kind = go_kind(value)
    return kind if kind in ("bool", "int", "float", "complex", "string") else None


def _is_nil(value: object) -> bool:
    return value is None or value is INVALID


def _eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise FuncError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in args:
        k2 = _basic_kind(arg)
        if k1 != k2:
            if not _is_nil(arg1) and not _is_nil(arg):
                raise FuncError(_INCOMPATIBLE)
            truth_value = False
        elif k1 is not None:
            truth_value = arg1 == arg
        elif _is_nil(arg1) or _is_nil(arg):
            truth_value = _is_nil(arg1) and _is_nil(arg)
        else:
            if go_kind(arg1) in ("map", "slice", "bytes", "func") or type(arg1) is not type(arg):
                raise FuncError(f"non-comparable type {arg1}: {go_type_name(arg1)}")
            truth_value = arg1 == arg
        if truth_value:
            return True
    return False


def _lt(arg1: Any, arg2: Any) -> bool:
    k1, k2 = _basic_kind(arg1), _basic_kind(arg2)
    if k1 is None or k2 is None:
        raise FuncError(_BAD_TYPE)
    if k1 != k2:
        raise FuncError(_INCOMPATIBLE)
    if k1 in ("bool", "complex"):
        raise FuncError(_BAD_TYPE)
    return bool(arg1 < arg2)


def _le(arg1: Any, arg2: Any) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


# -- collections ----------------------------------------------------------------------
def _length(item: Any) -> int:
    kind = go_kind(item)
    if kind in ("invalid", "nil"):
        raise FuncError("len of nil pointer")
    if kind == "string":
        return len(str(item).encode())
    if kind in ("bytes", "map", "slice"):
        return len(item)
    raise FuncError(f"len of type {go_type_name(item)}")


def _index_arg(index: Any, cap: int) -> int:
    kind = go_kind(index)
    if kind in ("invalid", "nil"):
        raise FuncError("cannot index slice/array with nil")
    if kind != "int":
        raise FuncError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return int(index)


def _index(item: Any, *indexes: Any) -> Any:
    if _is_nil(item):
        raise FuncError("index of untyped nil")
    for index in indexes:
        if _is_nil(item):
            raise FuncError("index of nil pointer")
        kind = go_kind(item)
        if kind in ("slice", "bytes", "string"):
            seq = str(item).encode() if kind == "string" else item
            position = _index_arg(index, len(seq))
            if position >= len(seq):
                raise FuncError(f"index out of range: {position}")
            item = seq[position]
        elif kind == "map":
            if go_kind(index) != "string":
                raise FuncError(f"value has type {go_type_name(index)}; should be string")
            item = item.get(index)
        else:
            raise FuncError(f"can't index item of type {go_type_name(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if _is_nil(item):
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    kind = go_kind(item)
    if kind == "string" and len(indexes) == 3:
        raise FuncError("cannot 3-index slice a string")
    if kind not in ("string", "slice", "bytes"):
        raise FuncError(f"can't slice item of type {go_type_name(item)}")
    seq = str(item).encode() if kind == "string" else item
    bounds = [0, len(seq)]
    for position, index in enumerate(indexes):
        value = _index_arg(index, len(seq))
        if position < 2:
            bounds[position] = value
    if bounds[0] > bounds[1]:
        raise FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > indexes[2]:
        raise FuncError(f"invalid slice index: {bounds[1]} > {indexes[2]}")
    part = seq[bounds[0] : bounds[1]]
    return part.decode("utf-8", "replace") if kind == "string" else part


# -- escaping ---------------------------------------------------------------------------
def _eval_args(args: tuple[object, ...]) -> str:
    """Go's ``evalArgs``: the lone string argument, or ``fmt.Sprint`` of them all."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(["<no value>" if a is None or a is INVALID else a for a in args])


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}


def _html(*args: object) -> str:
    return "".join(_HTML.get(ch, ch) for ch in _eval_args(args))


_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def _js_char(ch: str) -> str:
    if ch in _JS:
        return _JS[ch]
    if ch < " ":
        return f"\\u{ord(ch):04X}"
    if ord(ch) >= 0x80 and not ch.isprintable():
        return f"\\u{ord(ch):04X}"
    return ch


def _js(*args: object) -> str:
    return "".join(_js_char(ch) for ch in _eval_args(args))


def _urlquery(*args: object) -> str:
    return quote_plus(_eval_args(args), safe="")


def _call(fn: object, *args: object) -> object:
    if _is_nil(fn):
        raise FuncError("call of nil")
    if not callable(fn):
        raise FuncError(f"non-function of type {go_type_name(fn)}")
    try:
        return fn(*args)
    except FuncError:
        raise
    except Exception as error:  # a Go func returning an error value
        raise FuncError(str(error)) from error


def _typescript_type(value: object) -> str:
    method = getattr(value, "typescript_type", None)
    return method() if callable(method) else "any"


def _builtins() -> tuple[GoFunc, ...]:
    v = "value"
    return (
        GoFunc("and", (v,), v, lambda *a: a[-1]),
        GoFunc("or", (v,), v, lambda *a: a[-1]),
        GoFunc("not", (v,), None, lambda a: not truth(a)),
        GoFunc("eq", (v,), v, _eq),
        GoFunc("ne", (v, v), None, lambda a, b: not _eq(a, b)),
        GoFunc("lt", (v, v), None, _lt),
        GoFunc("le", (v, v), None, _le),
        GoFunc("gt", (v, v), None, lambda a, b: not _le(a, b)),
        GoFunc("ge", (v, v), None, lambda a, b: not _lt(a, b)),
        GoFunc("len", (v,), None, _length),
        GoFunc("index", (v,), v, _index),
        GoFunc("slice", (v,), v, _slice),
        GoFunc("print", (), "any", lambda *a: sprint(a)),
        GoFunc("printf", ("string",), "any", lambda f, *a: sprintf(f, a)),
        GoFunc("println", (), "any", lambda *a: sprintln(a)),
        GoFunc("html", (), "any", _html),
        GoFunc("js", (), "any", _js),
        GoFunc("urlquery", (), "any", _urlquery),
        GoFunc("call", (v,), v, _call),
    )


def _ollama_funcs(today: datetime.date) -> tuple[GoFunc, ...]:
    return (
        GoFunc("json", ("any",), None, go_json_or_empty),
        GoFunc("currentDate", (), "string", lambda *_: today.isoformat()),
        GoFunc("yesterdayDate", (), "string", lambda *_: (today - datetime.timedelta(days=1)).isoformat()),
        GoFunc("toTypeScriptType", ("any",), None, _typescript_type),
    )


def make_funcs(today: datetime.date) -> Mapping[str, GoFunc]:
    """The function table for one execution; ``today`` feeds the date functions."""
    return {f.name: f for f in (*_builtins(), *_ollama_funcs(today))}


FUNC_NAMES: frozenset[str] = frozenset(make_funcs(datetime.date(2000, 1, 1)))
