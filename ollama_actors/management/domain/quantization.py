"""Which quantization ``/api/create`` runs, decided as Ollama decides it. Pure.

Ollama upper-cases ``quantize`` (or its deprecated alias ``quantization``) and
accepts ``F32``, ``F16``, ``BF16``, ``Q8_0``, ``Q4_K_S`` and ``Q4_K_M`` (``Q4_K``
is an alias of ``Q4_K_M``). Only F16, BF16 and F32 models are quantized; a model
already of the wanted type is left as it is. The status line names the source
type and the type as the client spelled it, upper-cased
(``quantizing F16 model to Q8_0``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ollama_actors.domain.digests import Digest
from ollama_actors.domain.errors import InvalidRequestError

__all__ = [
    "QUANTIZATION_TYPES",
    "QUANTIZABLE_SOURCES",
    "Quantization",
    "parse_quantization_type",
    "plan_quantization",
]

# Upper-cased request value → the file type written (llama.cpp's name for it).
QUANTIZATION_TYPES: dict[str, str] = {
    "F32": "F32",
    "F16": "F16",
    "BF16": "BF16",
    "Q8_0": "Q8_0",
    "Q4_K_S": "Q4_K_S",
    "Q4_K_M": "Q4_K_M",
    "Q4_K": "Q4_K_M",
}
_SUPPORTED_IN_ERROR = "F32, F16, Q4_K_S, Q4_K_M, Q8_0"  # Ollama's list (BF16 left out, as there)
QUANTIZABLE_SOURCES = ("F16", "BF16", "F32")


@dataclass(frozen=True)
class Quantization:
    """Quantize the model blob ``source`` (of ``source_type``) to ``file_type``."""

    source: Digest
    source_type: str
    file_type: str  # canonical: Q4_K_M for Q4_K
    requested: str  # upper-cased as the client sent it, for the status line

    @property
    def status(self) -> str:
        return f"quantizing {self.source_type} model to {self.requested}"


def parse_quantization_type(raw: str) -> str:
    """The canonical file type for ``raw`` (any case).

    Raises:
        InvalidRequestError: ``unsupported quantization type X - supported types are …``.
    """
    requested = raw.upper()
    file_type = QUANTIZATION_TYPES.get(requested)
    if file_type is None:
        raise InvalidRequestError(
            f"unsupported quantization type {requested} - supported types are {_SUPPORTED_IN_ERROR}"
        )
    return file_type


def plan_quantization(raw: str | None, *, source: Digest, source_type: str) -> Quantization | None:
    """What to quantize, or None (nothing asked, or already of that type).

    Raises:
        InvalidRequestError: an unknown type, or a source that is not F16, BF16 or F32.
    """
    if not raw:
        return None
    file_type = parse_quantization_type(raw)
    if source_type.upper() not in QUANTIZABLE_SOURCES:
        raise InvalidRequestError("quantization is only supported for F16, BF16 and F32 models")
    if source_type.upper() == file_type:
        return None
    return Quantization(source=source, source_type=source_type.upper(), file_type=file_type, requested=raw.upper())
