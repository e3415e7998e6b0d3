"""Go's ``fmt`` printing for the template engine: ``Sprint``, ``Sprintln``, ``Sprintf``.

Templates print values through Go's ``fmt`` (``{{ .X }}`` is ``fmt.Fprint``; ``print``,
``printf`` and ``println`` are ``Sprint*``), so this module reproduces its rules:
``%v`` of floats in shortest form with an exponent from 1e+06 up (``1e+06``,
``3``, ``0.1``), slices as ``[a b]``, maps as ``map[k:v]`` in key order, structs
as ``{a b}``, operands of ``Sprint`` separated by a space only when neither is a
string, and the ``%!d(string=x)`` / ``%!d(MISSING)`` / ``%!(EXTRA …)`` complaints.
Python's ``%``-formatting differs in each of these, hence the port. Pointer
addresses are not modelled: a struct always prints as ``{…}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from ollama_actors.domain.gotemplate.values import (
    INVALID,
    GoStringer,
    go_kind,
    go_type_name,
    sorted_items,
    struct_fields,
)

__all__ = [
    "format_float_json",
    "go_quote",
    "go_quote_rune",
    "shortest_digits",
    "sprint",
    "sprintf",
    "sprintln",
]

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _quote_char(ch: str, quote: str) -> str:
    if ch == quote or ch == "\\":
        return "\\" + ch
    if ch.isprintable():
        return ch
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: double quotes, Go escapes for non-printable runes."""
    return '"' + "".join(_quote_char(ch, '"') for ch in text) + '"'


def go_quote_rune(code: int) -> str:
    """Go's ``strconv.QuoteRune``: ``'a'``, ``'\\n'``."""
    ch = chr(code) if 0 <= code <= 0x10FFFF else "\ufffd"
    return "'" + _quote_char(ch, "'") + "'"


# -- floats --------------------------------------------------------------------
def shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-tripping decimal digits of ``abs(value)`` and the position of the
    decimal point (``0.123`` → ``("123", 0)``, ``1500.0`` → ``("15", 4)``)."""
    if value == 0:
        return "0", 1
    sign, digits, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    return text, len(text) + int(exponent)


def _format_e(digits: str, point: int, letter: str = "e") -> str:
    exp = point - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}{letter}{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _format_f(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * (-point) + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _shortest_g(value: float, letter: str = "e") -> str:
    """``strconv.FormatFloat(v, 'g', -1, 64)`` without the sign."""
    digits, point = shortest_digits(value)
    if value == 0:
        return "0"
    exp = point - 1
    if exp < -4 or exp >= 6:
        return _format_e(digits, point, letter)
    return _format_f(digits, point)


def format_float_json(value: float) -> str:
    """``encoding/json``'s float64 text: like ES6, 'e' notation below 1e-6 and from 1e21."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, point = shortest_digits(value)
    sign = "-" if value < 0 else ""
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        text = _format_e(digits, point)
        if text[-4:-1] == "e-0":  # Go cleans e-07 up to e-7
            text = text[:-2] + text[-1]
        return sign + text
    return sign + _format_f(digits, point)


# -- the printer ------------------------------------------------------------------
@dataclass(frozen=True)
class _Spec:
    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    prec: int | None = None


_PLAIN = _Spec()


def _pad(text: str, spec: _Spec, *, zero_ok: bool = True) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    if spec.zero and zero_ok:
        if text[:1] in "+- " and text[:1] != "":
            return text[0] + "0" * fill + text[1:]
        return "0" * fill + text
    return " " * fill + text


def _bad_verb(verb: str, arg: object) -> str:
    if arg is None or arg is INVALID:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(arg)}={_print_arg(arg, 'v', _PLAIN)})"


def _fmt_bool(value: bool, verb: str, spec: _Spec) -> str:
    if verb in "tv":
        return _pad("true" if value else "false", spec, zero_ok=False)
    return _bad_verb(verb, value)


_BASES = {"d": 10, "v": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}


def _digits_in_base(value: int, base: int, upper: bool) -> str:
    if base == 10:
        return str(value)
    text = {2: format(value, "b"), 8: format(value, "o"), 16: format(value, "x")}[base]
    return text.upper() if upper else text


def _fmt_integer(value: int, verb: str, spec: _Spec) -> str:
    if verb == "c":
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", spec)
    if verb == "q":
        return _pad(go_quote_rune(value), spec)
    if verb == "U":
        return _pad(f"U+{value:04X}", spec)
    if verb not in _BASES:
        return _bad_verb(verb, value)
    body = _digits_in_base(abs(value), _BASES[verb], verb == "X")
    if spec.prec is not None:
        body = body.rjust(spec.prec, "0") if not (spec.prec == 0 and value == 0) else ""
    prefix = {"O": "0o"}.get(verb, "")
    if spec.sharp:
        prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X", "O": "0o"}.get(verb, "")
        if verb == "o" and body.startswith("0"):
            prefix = ""
    sign = "-" if value < 0 else ("+" if spec.plus else (" " if spec.space else ""))
    text = sign + prefix + body
    if spec.zero and not spec.minus and spec.prec is None and spec.width is not None:
        fill = spec.width - len(text)
        if fill > 0:
            return sign + prefix + "0" * fill + body
    return _pad(text, spec, zero_ok=False)


def _float_body(value: float, verb: str, prec: int | None) -> str:
    """Unsigned text of ``abs(value)`` for a float verb."""
    magnitude = abs(value)
    if verb in "v" or (verb in "gG" and prec is None):
        text = _shortest_g(magnitude, "E" if verb == "G" else "e")
        return text
    if verb in "eE":
        return f"{magnitude:.{6 if prec is None else prec}{verb}}"
    if verb in "fF":
        return f"{magnitude:.{6 if prec is None else prec}f}"
    return f"{magnitude:.{max(prec or 1, 1)}{verb}}"  # g / G with precision


def _fmt_float(value: float, verb: str, spec: _Spec) -> str:
    if verb not in "vgGeEfF":
        return _bad_verb(verb, value)
    if math.isnan(value):
        sign = "+" if spec.plus else (" " if spec.space else "")
        return _pad(sign + "NaN", spec, zero_ok=False)
    if math.isinf(value):
        sign = "-" if value < 0 else ("+" if spec.plus or not spec.space else " ")
        return _pad(sign + "Inf", spec, zero_ok=False)
    negative = value < 0 or (value == 0 and math.copysign(1.0, value) < 0)
    body = _float_body(value, verb, spec.prec)
    sign = "-" if negative else ("+" if spec.plus else (" " if spec.space else ""))
    return _pad(sign + body, spec)


def _fmt_complex(value: complex, verb: str, spec: _Spec) -> str:
    if verb not in "vgGeEfF":
        return _bad_verb(verb, value)
    real = _fmt_float(value.real, verb, replace(spec, width=None))
    imag = _fmt_float(value.imag, verb, replace(spec, width=None, plus=True))
    return _pad(f"({real}{imag}i)", spec)


def _fmt_string(text: str, verb: str, spec: _Spec) -> str:
    if verb in "vs":
        if verb == "v" and spec.sharp:
            return _pad(go_quote(text), spec)
        return _pad(text if spec.prec is None else text[: spec.prec], spec)
    if verb == "q":
        if spec.prec is not None:
            text = text[: spec.prec]
        if spec.sharp and "`" not in text and all(ch.isprintable() or ch == "\t" for ch in text):
            return _pad("`" + text + "`", spec)
        return _pad(go_quote(text), spec)
    if verb in "xX":
        data = text.encode("utf-8", "replace")
        if spec.prec is not None:
            data = data[: spec.prec]
        hexed = data.hex().upper() if verb == "X" else data.hex()
        return _pad(hexed, spec)
    return _bad_verb(verb, text)


def _print_arg(arg: object, verb: str, spec: _Spec) -> str:
    """Go's ``pp.printArg`` for one top-level operand."""
    if arg is None or arg is INVALID:
        if verb == "v":
            return _pad("<nil>", spec, zero_ok=False)
        return _bad_verb(verb, None)
    if verb == "T":
        return _pad(go_type_name(arg), spec)
    return _print_value(arg, verb, spec, 0)


def _print_value(value: Any, verb: str, spec: _Spec, depth: int) -> str:  # noqa: C901
    """Go's ``pp.printValue``: dispatch on the kind, recursing into containers.

    One branch per Go kind, in Go's order; splitting it would hide that mapping."""
    if value is None or value is INVALID:
        return "<nil>"
    if isinstance(value, GoStringer) and verb in "vsxXq" and not (verb == "v" and spec.sharp):
        return _fmt_string(value.go_string(), verb, spec)
    kind = go_kind(value)
    if kind == "bool":
        return _fmt_bool(value, verb, spec)
    if kind == "int":
        return _fmt_integer(value, verb, spec)
    if kind == "float":
        return _fmt_float(value, verb, spec)
    if kind == "complex":
        return _fmt_complex(value, verb, spec)
    if kind == "string":
        return _fmt_string(value, verb, spec)
    if kind == "bytes":
        if verb in "sqxX":
            return _fmt_string(bytes(value).decode("utf-8", "replace"), verb, spec)
        return "[" + " ".join(_fmt_integer(b, verb, spec) for b in value) + "]"
    if kind == "map":
        items = sorted_items(value)
        inner = " ".join(
            _print_value(k, verb, spec, depth + 1) + ":" + _print_value(v, verb, spec, depth + 1)
            for k, v in items
        )
        return "map[" + inner + "]"
    if kind == "struct":
        parts = []
        for field in struct_fields(value):
            text = _print_value(getattr(value, field.name), verb, spec, depth + 1)
            parts.append(f"{field.name}:{text}" if spec.plus else text)
        return "{" + " ".join(parts) + "}"
    if kind == "slice":
        return "[" + " ".join(_print_value(e, verb, spec, depth + 1) for e in value) + "]"
    if kind == "func":
        return _pad("0x0", spec) if verb in "vp" else _bad_verb(verb, value)
    return _fmt_string(str(value), verb, spec)


# -- public entry points ------------------------------------------------------------
def sprint(args: Sequence[object]) -> str:
    """``fmt.Sprint``: operands in ``%v``, a space between two operands when neither
    is a string."""
    out: list[str] = []
    prev_string = False
    for index, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if index > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(_print_arg(arg, "v", _PLAIN))
        prev_string = is_string
    return "".join(out)


def sprintln(args: Sequence[object]) -> str:
    """``fmt.Sprintln``: operands in ``%v`` separated by spaces, then a newline."""
    return " ".join(_print_arg(arg, "v", _PLAIN) for arg in args) + "\n"


def _parse_number(fmt: str, i: int) -> tuple[int | None, int]:
    start = i
    while i < len(fmt) and fmt[i].isdigit():
        i += 1
    return (int(fmt[start:i]) if i > start else None), i


def _star_arg(args: Sequence[object], index: int) -> int | None:
    """The int argument a ``*`` width or precision takes, ``None`` when absent."""
    value = args[index] if index < len(args) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_spec(fmt: str, i: int, args: Sequence[object], arg_num: int) -> tuple[_Spec, int, int]:
    """Flags, width and precision starting at ``fmt[i]``; ``*`` consumes an argument."""
    flags = {"minus": False, "plus": False, "sharp": False, "space": False, "zero": False}
    names = {"-": "minus", "+": "plus", "#": "sharp", " ": "space", "0": "zero"}
    while i < len(fmt) and fmt[i] in names:
        flags[names[fmt[i]]] = True
        i += 1
    width: int | None
    if i < len(fmt) and fmt[i] == "*":
        i += 1
        width = _star_arg(args, arg_num)
        arg_num += 1
        if width is not None and width < 0:
            flags["minus"], width = True, -width
    else:
        width, i = _parse_number(fmt, i)
    prec: int | None = None
    if i < len(fmt) and fmt[i] == ".":
        i += 1
        if i < len(fmt) and fmt[i] == "*":
            i += 1
            prec = _star_arg(args, arg_num)
            arg_num += 1
        else:
            prec, i = _parse_number(fmt, i)
            prec = prec or 0
    if flags["minus"]:
        flags["zero"] = False
    return _Spec(width=width, prec=prec, **flags), i, arg_num


def sprintf(fmt: str, args: Sequence[object]) -> str:
    """``fmt.Sprintf`` for the verbs templates use (%v %s %q %d %x %X %o %b %c %U %t
    %e %f %g %T %%), with Go's flags, width, precision and error texts."""
    out: list[str] = []
    arg_num = 0
    i = 0
    while i < len(fmt):
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        spec, i, arg_num = _parse_spec(fmt, j + 1, args, arg_num)
        if i >= len(fmt):
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
        elif arg_num >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(_print_arg(args[arg_num], verb, spec))
            arg_num += 1
    if arg_num < len(args):
        extra = ", ".join(
            "<nil>" if a is None or a is INVALID else f"{go_type_name(a)}={_print_arg(a, 'v', _PLAIN)}"
            for a in args[arg_num:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
