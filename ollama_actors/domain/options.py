"""Model and generation options: Ollama's schema, defaults, type checks and merge order.

Merge order (later wins): built-in defaults → server default ``num_ctx`` → the
model's ``PARAMETER``s → the request's ``options``. Unknown keys are ignored
(Ollama logs a warning); a known key with the wrong JSON type is an error in
Ollama's words. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ollama_actors.domain.errors import InvalidOptionError

__all__ = ["OPTION_TYPES", "RUNNER_OPTIONS", "ResolvedOptions", "check_option_types", "merge_options"]

# name → Go type name used in error messages
OPTION_TYPES: dict[str, str] = {
    "num_ctx": "integer",
    "num_batch": "integer",
    "num_gpu": "integer",
    "main_gpu": "integer",
    "use_mmap": "boolean",
    "num_thread": "integer",
    "num_keep": "integer",
    "seed": "integer",
    "num_predict": "integer",
    "top_k": "integer",
    "top_p": "float32",
    "min_p": "float32",
    "typical_p": "float32",
    "repeat_last_n": "integer",
    "temperature": "float32",
    "repeat_penalty": "float32",
    "presence_penalty": "float32",
    "frequency_penalty": "float32",
    "stop": "array",
    "draft_num_predict": "integer",
}
# Options whose change forces a reload of the runner.
RUNNER_OPTIONS = frozenset({"num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread"})
DEPRECATED = frozenset(
    {"penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
     "mirostat", "mirostat_tau", "mirostat_eta", "tfs_z", "numa"}
)

DEFAULTS: dict[str, Any] = {
    "num_batch": 512,
    "num_gpu": -1,
    "num_keep": 4,
    "seed": -1,
    "num_predict": -1,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_last_n": 64,
    "temperature": 0.8,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "stop": [],
    "use_mmap": True,
}


@dataclass(frozen=True)
class ResolvedOptions:
    """The merged options plus the keys that were ignored (for a log warning)."""

    values: Mapping[str, Any]
    ignored: tuple[str, ...]


def _type_ok(kind: str, value: object) -> bool:
    if kind == "integer":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
    if kind == "float32":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, (list, tuple))
    return isinstance(value, str)


def check_option_types(options: Mapping[str, Any]) -> tuple[str, ...]:
    """Raise for a known key of the wrong type; return the unknown/deprecated keys."""
    ignored: list[str] = []
    for key, value in options.items():
        kind = OPTION_TYPES.get(key)
        if kind is None:
            ignored.append(key)
            continue
        if value is None:
            continue
        if not _type_ok(kind, value):
            raise InvalidOptionError(f'option "{key}" must be of type {kind}')
        if kind == "array" and not all(isinstance(v, str) for v in value):
            raise InvalidOptionError(f'option "{key}" must be of an array of strings')
    return tuple(ignored)


def _normalise(key: str, value: Any) -> Any:
    kind = OPTION_TYPES[key]
    if kind == "integer":
        return int(value)
    if kind == "float32":
        return float(value)
    if kind == "array":
        return [str(v) for v in value]
    return value


def merge_options(
    model_params: Mapping[str, Any],
    request_options: Mapping[str, Any] | None,
    *,
    default_num_ctx: int,
) -> ResolvedOptions:
    """Merge defaults, server num_ctx, model parameters and request options."""
    request_options = request_options or {}
    if not isinstance(request_options, Mapping):
        raise InvalidOptionError("options must be an object")
    ignored = check_option_types(request_options)
    merged: dict[str, Any] = {**DEFAULTS, "num_ctx": default_num_ctx}
    for source in (model_params, request_options):
        for key, value in source.items():
            if key in OPTION_TYPES and value is not None:
                try:
                    merged[key] = _normalise(key, value)
                except (TypeError, ValueError):
                    raise InvalidOptionError(f'option "{key}" must be of type {OPTION_TYPES[key]}') from None
    merged["num_ctx"] = max(4, merged["num_ctx"])
    return ResolvedOptions(values=merged, ignored=ignored)
