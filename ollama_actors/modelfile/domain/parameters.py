"""Typing of ``PARAMETER`` values the way Ollama types them (``api.FormatParams``).

Each known parameter has the Go type of its ``api.Options`` field: integers parse
as base-10 ``int64``, floats as ``float32`` (reported in their shortest float32
form, so ``0.7`` stays ``0.7``), booleans with Go's ``ParseBool``, and ``stop`` is a
string that accumulates into a list. Unknown names and unparsable values fail with
Ollama's words; the deprecated names Ollama drops with a warning are reported
separately so the caller decides where the warning goes.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable
from typing import Any

from ollama_actors.modelfile.domain.instructions import Instruction, ModelfileError

__all__ = [
    "DEPRECATED_PARAMETERS",
    "PARAMETER_TYPES",
    "DeprecatedParameterError",
    "parameter_value",
    "parameter_warnings",
    "parameters_dict",
]

PARAMETER_TYPES: dict[str, str] = {
    "num_ctx": "int",
    "num_batch": "int",
    "num_gpu": "int",
    "main_gpu": "int",
    "use_mmap": "bool",
    "num_thread": "int",
    "draft_num_predict": "int",
    "num_keep": "int",
    "seed": "int",
    "num_predict": "int",
    "top_k": "int",
    "top_p": "float",
    "min_p": "float",
    "typical_p": "float",
    "repeat_last_n": "int",
    "temperature": "float",
    "repeat_penalty": "float",
    "presence_penalty": "float",
    "frequency_penalty": "float",
    "stop": "list",
}

DEPRECATED_PARAMETERS = (
    "penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
    "mirostat", "mirostat_tau", "mirostat_eta",
)


class DeprecatedParameterError(ModelfileError):
    """A parameter Ollama skips with ``warning: parameter <name> is deprecated``."""

    def __init__(self, key: str) -> None:
        super().__init__(f"warning: parameter {key} is deprecated")
        self.key = key


_INT = re.compile(r"[+-]?[0-9]+")
_DEC_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9](?:_?[0-9])*)?\.(?:[0-9](?:_?[0-9])*)?|[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9](?:_?[0-9])*)?"
)
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:_?[0-9a-fA-F])*\.?(?:[0-9a-fA-F](?:_?[0-9a-fA-F])*)?[pP][+-]?[0-9](?:_?[0-9])*")
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def _float32(raw: str) -> float:
    """Go's ``strconv.ParseFloat(raw, 32)``, as its shortest float32 decimal."""
    if _SPECIAL.fullmatch(raw):
        return float(raw.lower().replace("infinity", "inf"))
    if _HEX_FLOAT.fullmatch(raw):
        sign = -1.0 if raw.startswith("-") else 1.0
        value = sign * float.fromhex(raw.lstrip("+-").replace("_", ""))
    elif _DEC_FLOAT.fullmatch(raw) and any(c.isdigit() for c in raw):
        value = float(raw.replace("_", ""))
    else:
        raise ValueError(raw)
    try:
        single: float = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        raise ValueError(raw) from None
    if math.isinf(single):
        raise ValueError(raw)
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            return float(text)
    return single


def _int64(raw: str) -> int:
    if not _INT.fullmatch(raw):
        raise ValueError(raw)
    value = int(raw)
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError(raw)
    return value


def parameter_value(key: str, raw: str) -> int | float | bool | str:
    """The typed value of ``PARAMETER key raw`` (``stop``: the string itself).

    Raises:
        DeprecatedParameterError: ``key`` is one Ollama drops with a warning.
        ModelfileError: ``unknown parameter '<key>'`` or ``invalid float value [<raw>]``
            (likewise ``int``/``bool``).
    """
    if key in DEPRECATED_PARAMETERS:
        raise DeprecatedParameterError(key)
    kind = PARAMETER_TYPES.get(key)
    if kind is None:
        raise ModelfileError(f"unknown parameter '{key}'")
    try:
        if kind == "int":
            return _int64(raw)
        if kind == "float":
            return _float32(raw)
        if kind == "bool":
            return _BOOLS[raw]
    except (ValueError, KeyError):
        raise ModelfileError(f"invalid {kind} value [{raw}]") from None
    return raw


def parameters_dict(instructions: Iterable[Instruction]) -> dict[str, Any]:
    """The ``parameters`` of a create request (``Any``: int, float, bool or a list of
    stop strings): repeated ``stop`` lines accumulate, otherwise the last line wins,
    deprecated names are skipped (see ``parameter_warnings``).

    Raises:
        ModelfileError: an unknown parameter or a value of the wrong type.
    """
    params: dict[str, Any] = {}
    for instruction in instructions:
        if instruction.name != "parameter":
            continue
        key = instruction.key or ""
        try:
            value = parameter_value(key, instruction.value)
        except DeprecatedParameterError:
            continue
        if PARAMETER_TYPES[key] == "list":
            params.setdefault(key, []).append(value)
        else:
            params[key] = value
    return params


def parameter_warnings(instructions: Iterable[Instruction]) -> tuple[str, ...]:
    """The warnings Ollama prints for deprecated parameters, in order."""
    return tuple(
        f"warning: parameter {i.key} is deprecated"
        for i in instructions
        if i.name == "parameter" and i.key in DEPRECATED_PARAMETERS
    )
