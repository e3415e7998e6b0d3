"""Read a GGUF file's header — key/values and tensor table — without touching tensor data.

This is what ``/api/show`` (``model_info``, ``tensors``, ``details``) and model
creation (family, parameter size, quantization, capabilities) need to know about a
model file. Invariant: only the header is read (a memory map, so a 100 MB or 40 GB
file costs the same few pages), and a malformed or hostile header fails with
``GgufFormatError`` instead of allocating what its length fields claim.

Why not ``gguf.GGUFReader``: it builds one numpy view per array element, which costs
~1.6 s for SmolLM2-135M's 98 k vocabulary strings and merges on every show request;
this parser reads the same header with ``struct`` in ~0.1 s. The ``gguf`` package
still provides the format's constants (value types, tensor types, block sizes).

Ollama's presentation rules live next to the reader as pure helpers:
``human_number`` (``format.HumanNumber``), ``file_type_name`` (``ggml.FileType``)
and ``GgufInfo.model_info`` (``server.GetModelInfo``).
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gguf import GGML_QUANT_SIZES, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType

from ollama_actors.domain.errors import BadRequestError

__all__ = [
    "GgufFormatError",
    "GgufInfo",
    "GgufTensor",
    "file_type_name",
    "human_number",
    "read_gguf_info",
]

# Ollama's ggml.FileType names, indexed by general.file_type (llama_ftype). Slots that
# llama.cpp removed (4-6, 33-35) have no name and print as "unknown", as in Ollama.
_FILE_TYPE_NAMES: tuple[str | None, ...] = (
    "F32", "F16", "Q4_0", "Q4_1", None, None, None, "Q8_0", "Q5_0", "Q5_1",
    "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
    "IQ2_XXS", "IQ2_XS", "Q2_K_S", "IQ3_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
    "IQ3_M", "IQ2_S", "IQ2_M", "IQ4_XS", "IQ1_M", "BF16", None, None, None,
    "TQ1_0", "TQ2_0", "MXFP4_MOE", "NVFP4", "Q1_0",
)  # fmt: skip

_MAX_DIMS = 4  # GGML_MAX_DIMS: a tensor with more dims is corrupt, not exotic
_ARRAYS_SHOWN_WHEN_NOT_VERBOSE = 0  # Ollama HEAD decodes no array elements unless verbose


class GgufFormatError(BadRequestError):
    """The file is not a GGUF file this server can read (bad magic, version, or bounds)."""


@dataclass(frozen=True)
class GgufTensor:
    """One entry of the tensor table; ``shape`` is in GGUF order (ne0 first), as Ollama shows it."""

    name: str
    type: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class GgufInfo:
    """What a GGUF header says about a model, plus Ollama's derived names.

    ``kv`` holds every key/value in file order: ints, floats, bools, strings, and
    arrays as tuples. Float32 values are stored as the shortest decimal that reads
    back as the same float32 (``1e-05``, not ``9.99999974e-06``), as Go prints them.
    """

    version: int
    architecture: str
    parameter_count: int
    file_type: str
    context_length: int | None
    embedding_length: int | None
    has_pooling: bool
    chat_template: str | None
    bos_token: str | None
    eos_token: str | None
    kv: Mapping[str, object]
    tensors: tuple[GgufTensor, ...]

    @property
    def kv_bytes_per_token(self) -> int:
        """KV cache bytes per context token (f16 K and V): n_layer × (n_embd_k + n_embd_v) × 2.

        ``n_embd_k`` is head_count_kv × key_length (key_length defaults to
        embedding_length / head_count); a per-layer head_count_kv array counts its
        largest value. 0 when the header lacks what it takes (then only the file counts).
        """
        arch = self.architecture
        n_layer = _int_or_none(self.kv.get(f"{arch}.block_count")) or 0
        heads = _max_int(self.kv.get(f"{arch}.attention.head_count"))
        heads_kv = _max_int(self.kv.get(f"{arch}.attention.head_count_kv")) or heads
        if not (n_layer and heads and heads_kv and self.embedding_length):
            return 0
        head_dim = self.embedding_length // heads
        key_length = _int_or_none(self.kv.get(f"{arch}.attention.key_length")) or head_dim
        value_length = _int_or_none(self.kv.get(f"{arch}.attention.value_length")) or head_dim
        return n_layer * heads_kv * (key_length + value_length) * 2

    @property
    def general_type(self) -> str:
        """``general.type``: ``"adapter"`` for a LoRA GGUF, ``"model"`` or ``""`` otherwise."""
        value = self.kv.get("general.type")
        return value if isinstance(value, str) else ""

    @property
    def parameter_size(self) -> str:
        """Ollama's ``details.parameter_size``, e.g. ``"134.52M"`` or ``"8.0B"``."""
        return human_number(self.parameter_count)

    @property
    def quantization_level(self) -> str:
        """Ollama's ``details.quantization_level``.

        Ollama reads ``general.file_type`` with "0 means absent", so an all-F32 file
        shows ``"unknown"`` there; we keep that quirk for wire compatibility.
        """
        file_type = self.kv.get("general.file_type")
        return file_type_name(file_type) if isinstance(file_type, int) and file_type > 0 else "unknown"

    # JSON-ready values of mixed types, hence Any.
    def model_info(self, verbose: bool) -> dict[str, Any]:
        """``model_info`` exactly as Ollama's ``/api/show`` returns it.

        Every key/value plus ``general.parameter_count``, without ``general.name`` and
        ``tokenizer.chat_template``, keys sorted (Go marshals maps sorted). Unless
        ``verbose``, a non-empty array is ``None`` (JSON ``null``): Ollama at HEAD
        decodes at most ``maxArraySize`` = 0 elements, so ``tokenizer.ggml.tokens``
        and even one-element arrays print as ``null``. (The older rule, "arrays over 5
        elements become ``[]``", no longer matches the code.)
        """
        info: dict[str, Any] = {}
        for key, value in self.kv.items():
            if isinstance(value, tuple):
                value = _shown_array(value, verbose)
            info[key] = value
        info["general.parameter_count"] = self.parameter_count
        info.pop("general.name", None)
        info.pop("tokenizer.chat_template", None)
        return dict(sorted(info.items()))

    # JSON-ready shape for /api/show's "tensors".
    def tensors_info(self) -> list[dict[str, Any]]:
        """The ``tensors`` list of ``/api/show``: ``[{name, type, shape}]`` in file order."""
        return [{"name": t.name, "type": t.type, "shape": list(t.shape)} for t in self.tensors]


def human_number(n: int) -> str:
    """Ollama's ``format.HumanNumber``: how parameter counts are shown.

    Rule: from one billion on, ``B`` with no decimal when whole, else one
    (2.85e9 → ``"2.9B"``, 8.03e9 → ``"8.0B"``); from one million, ``M`` with no
    decimal when whole, else two (134,515,008 → ``"134.52M"``); from one thousand,
    ``K`` rounded to a whole number (1,500 → ``"2K"``); below that the plain integer.
    Rounding is Go's and Python's alike: the exact binary value, ties to even.
    """
    if n >= 1_000_000_000:
        return _scaled(float(n) / 1e9, 1, "B")
    if n >= 1_000_000:
        return _scaled(float(n) / 1e6, 2, "M")
    if n >= 1_000:
        return f"{float(n) / 1e3:.0f}K"
    return str(n)


def file_type_name(file_type: int) -> str:
    """Name of a ``general.file_type`` value (``3`` → ``"Q4_1"``); ``"unknown"`` if unnamed."""
    if 0 <= file_type < len(_FILE_TYPE_NAMES):
        return _FILE_TYPE_NAMES[file_type] or "unknown"
    return "unknown"


def read_gguf_info(path: str | os.PathLike[str]) -> GgufInfo:
    """Read the header of the GGUF file at ``path``.

    Raises:
        GgufFormatError: not GGUF, unsupported version, or a header that runs past
            the end of the file or points tensors outside it (a truncated download).
        OSError: the file cannot be opened.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 24:
            raise GgufFormatError(f"invalid GGUF file: {os.fspath(path)} is only {size} bytes")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _Parser(mm, os.fspath(path)).parse()


def _scaled(value: float, decimals: int, suffix: str) -> str:
    return f"{value:.0f}{suffix}" if value == math.floor(value) else f"{value:.{decimals}f}{suffix}"


def _shown_array(values: tuple[object, ...], verbose: bool) -> list[object] | None:
    if verbose or len(values) <= _ARRAYS_SHOWN_WHEN_NOT_VERBOSE:
        return list(values)
    return None


def _tensor_type_name(kind: int) -> str:
    try:
        return GGMLQuantizationType(kind).name
    except ValueError:
        return "unknown"


def _tensor_nbytes(kind: int, n_elements: int) -> int | None:
    try:
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
    except (ValueError, KeyError):
        return None
    return n_elements // block * type_size


class _Parser:
    """Walks the header once; every read is bounds-checked against the file size.

    It reads the map directly (no memoryview), so every value taken out is a copy and
    nothing pins the map: the caller can close it even while an error propagates.
    """

    _SCALARS: Mapping[GGUFValueType, str] = MappingProxyType(
        {
            GGUFValueType.UINT8: "B",
            GGUFValueType.INT8: "b",
            GGUFValueType.UINT16: "H",
            GGUFValueType.INT16: "h",
            GGUFValueType.UINT32: "I",
            GGUFValueType.INT32: "i",
            GGUFValueType.FLOAT32: "f",
            GGUFValueType.UINT64: "Q",
            GGUFValueType.INT64: "q",
            GGUFValueType.FLOAT64: "d",
            GGUFValueType.BOOL: "?",
        }
    )

    def __init__(self, buf: mmap.mmap, path: str) -> None:
        self._buf = buf
        self._path = path
        self._pos = 0
        self._order = "<"

    def parse(self) -> GgufInfo:
        version, n_tensors, n_kv = self._preamble()
        kv: dict[str, object] = {}
        for _ in range(n_kv):
            key = self._string()
            vtype = self._u32()
            kv[key] = self._array() if vtype == GGUFValueType.ARRAY else self._scalar(vtype)
        tensors, parameter_count = self._tensor_table(n_tensors, kv)
        return _info(version, kv, tensors, parameter_count)

    def _preamble(self) -> tuple[int, int, int]:
        if struct.unpack_from("<I", self._buf, 0)[0] != GGUF_MAGIC:
            raise GgufFormatError(f"invalid file magic: {self._path} is not a GGUF file")
        version = struct.unpack_from("<I", self._buf, 4)[0]
        if version & 0xFFFF == 0:  # written on a big-endian host
            self._order = ">"
            version = struct.unpack_from(">I", self._buf, 4)[0]
        if version not in (2, 3):
            raise GgufFormatError(f"unsupported GGUF version {version}: {self._path}")
        self._pos = 8
        return version, self._u64(), self._u64()

    def _need(self, n: int) -> None:
        if n < 0 or self._pos + n > len(self._buf):
            raise GgufFormatError(f"GGUF header of {self._path} is truncated or corrupt")

    def _unpack(self, fmt: str) -> Any:  # one struct value: int, float or bool
        size = struct.calcsize(fmt)
        self._need(size)
        (value,) = struct.unpack_from(self._order + fmt, self._buf, self._pos)
        self._pos += size
        return value

    def _u32(self) -> int:
        return int(self._unpack("I"))

    def _u64(self) -> int:
        return int(self._unpack("Q"))

    def _string(self) -> str:
        n = self._u64()
        self._need(n)
        text = self._buf[self._pos : self._pos + n].decode("utf-8", errors="replace")
        self._pos += n
        return text

    def _scalar(self, vtype: int) -> object:
        if vtype == GGUFValueType.STRING:
            return self._string()
        fmt = self._SCALARS.get(GGUFValueType(vtype)) if vtype in _VALUE_TYPES else None
        if fmt is None:
            raise GgufFormatError(f"invalid GGUF value type {vtype}: {self._path}")
        value = self._unpack(fmt)
        return _shortest_float32(value) if fmt == "f" else value

    def _array(self) -> tuple[object, ...]:
        item_type = self._u32()
        count = self._u64()
        self._need(count)  # every element takes at least one byte
        if item_type == GGUFValueType.STRING:
            return tuple(self._string() for _ in range(count))
        if item_type == GGUFValueType.ARRAY:
            return tuple(self._array() for _ in range(count))
        return self._numeric_array(item_type, count)

    def _numeric_array(self, item_type: int, count: int) -> tuple[object, ...]:
        fmt = self._SCALARS.get(GGUFValueType(item_type)) if item_type in _VALUE_TYPES else None
        if fmt is None:
            raise GgufFormatError(f"invalid GGUF array type {item_type}: {self._path}")
        size = struct.calcsize(fmt) * count
        self._need(size)
        values = struct.unpack_from(f"{self._order}{count}{fmt}", self._buf, self._pos)
        self._pos += size
        return tuple(_shortest_float32(v) for v in values) if fmt == "f" else values

    def _tensor_table(
        self, n_tensors: int, kv: Mapping[str, object]
    ) -> tuple[tuple[GgufTensor, ...], int]:
        self._need(n_tensors)
        entries: list[tuple[GgufTensor, int, int, int]] = []
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._u32()
            if n_dims > _MAX_DIMS:
                raise GgufFormatError(f'tensor "{name}" has {n_dims} dimensions: {self._path}')
            shape = tuple(self._u64() for _ in range(n_dims))
            kind, offset = self._u32(), self._u64()
            entries.append((GgufTensor(name, _tensor_type_name(kind), shape), kind, offset, math.prod(shape)))
        self._check_tensor_bounds(entries, kv)
        return tuple(e[0] for e in entries), sum(e[3] for e in entries)

    def _check_tensor_bounds(
        self, entries: list[tuple[GgufTensor, int, int, int]], kv: Mapping[str, object]
    ) -> None:
        """A truncated download keeps its header; catch it by where the data must end."""
        alignment = kv.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0:
            raise GgufFormatError(f"invalid GGUF alignment {alignment!r}: {self._path}")
        data_start = -(-self._pos // alignment) * alignment
        for tensor, kind, offset, n_elements in entries:
            nbytes = _tensor_nbytes(kind, n_elements)
            if nbytes is not None and data_start + offset + nbytes > len(self._buf):
                raise GgufFormatError(
                    f'tensor "{tensor.name}" runs past the end of {self._path} (truncated file?)'
                )


_VALUE_TYPES = frozenset(int(t) for t in GGUFValueType)


def _shortest_float32(value: float) -> float:
    """The shortest decimal that round-trips through float32, as Go's JSON encoder prints it."""
    if not math.isfinite(value):
        return value
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", candidate))[0] == value:
            return candidate
    return value


def _info(
    version: int, kv: dict[str, object], tensors: tuple[GgufTensor, ...], parameter_count: int
) -> GgufInfo:
    arch = kv.get("general.architecture")
    architecture = arch if isinstance(arch, str) else "unknown"
    file_type = kv.get("general.file_type")
    template = kv.get("tokenizer.chat_template")
    return GgufInfo(
        version=version,
        architecture=architecture,
        parameter_count=parameter_count,
        file_type=file_type_name(file_type) if isinstance(file_type, int) else "unknown",
        context_length=_int_or_none(kv.get(f"{architecture}.context_length")),
        embedding_length=_int_or_none(kv.get(f"{architecture}.embedding_length")),
        has_pooling=f"{architecture}.pooling_type" in kv,
        chat_template=template if isinstance(template, str) else None,
        bos_token=_token_text(kv, "tokenizer.ggml.bos_token_id"),
        eos_token=_token_text(kv, "tokenizer.ggml.eos_token_id"),
        kv=MappingProxyType(kv),
        tensors=tensors,
    )


def _max_int(value: object) -> int:
    if isinstance(value, tuple):
        return max((v for v in value if isinstance(v, int) and not isinstance(v, bool)), default=0)
    return _int_or_none(value) or 0


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _token_text(kv: Mapping[str, object], id_key: str) -> str | None:
    tokens = kv.get("tokenizer.ggml.tokens")
    token_id = _int_or_none(kv.get(id_key))
    if not isinstance(tokens, tuple) or token_id is None or not 0 <= token_id < len(tokens):
        return None
    text = tokens[token_id]
    return text if isinstance(text, str) else None
