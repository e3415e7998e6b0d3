"""Plan of ``/api/create``: which layers the new manifest has and which blobs to write.

Pure: the store is reached only through the lookups passed in (does a blob
exist, read a small blob, GGUF facts of a blob), so the plan is testable
without a disk and the ModelManager only executes it: write the new blobs, then
the manifest — last, so a crash never leaves a manifest pointing at nothing.

Every check that can fail on the client's input happens here, before anything
is written or streamed: names, paths, digests, GGUF format, template syntax,
parameter types, quantization type and source type. A plan that asks for a
quantization (``CreatePlan.quantization``) is executed by quantizing first and
planning again with the result (``quantized=``); the second plan replaces the
model layer with the quantized blob.

Text layers are written as Ollama writes them: template, system and license
verbatim; parameters and messages as Go's ``json.Encoder`` does (sorted keys,
HTML-safe escapes, a trailing newline), so the same Modelfile yields the same
digests here as in Ollama. Layers with the same digest appear once.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from typing import Any, Protocol

from ollama_actors.domain.digests import Digest, digest_of_bytes, parse_digest
from ollama_actors.domain.errors import BadRequestError, BlobNotFoundError, InvalidRequestError
from ollama_actors.domain.gotemplate import go_json
from ollama_actors.domain.template_check import check_template
from ollama_actors.domain.manifests import (
    MEDIA_TYPE_ADAPTER,
    MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_LICENSE,
    MEDIA_TYPE_MESSAGES,
    MEDIA_TYPE_MODEL,
    MEDIA_TYPE_PARAMS,
    MEDIA_TYPE_PROMPT,
    MEDIA_TYPE_SYSTEM,
    MEDIA_TYPE_TEMPLATE,
    Layer,
    Manifest,
    ModelConfig,
    RootFS,
)
from ollama_actors.domain.options import check_option_types
from ollama_actors.management.domain.quantization import Quantization, plan_quantization
from ollama_actors.management.messages import CreateRequest

__all__ = ["CreatePlan", "GgufFacts", "Quantized", "plan_create"]


class GgufFacts(Protocol):
    architecture: str
    parameter_size: str
    file_type: str
    general_type: str  # "adapter" for a LoRA GGUF; "model" or "" otherwise


@dataclass(frozen=True)
class Quantized:
    """A finished quantization: ``source`` became the blob ``digest`` (new to the store or not)."""

    source: Digest
    digest: Digest
    created: bool


@dataclass(frozen=True)
class CreatePlan:
    parse_statuses: tuple[str, ...]  # "parsing GGUF" per file, streamed first
    layer_statuses: tuple[str, ...]  # "creating new layer …"/"using existing layer …", one per layer
    new_blobs: tuple[bytes, ...]  # small layers and the config, to write before the manifest
    manifest: Manifest
    quantization: Quantization | None = None  # to run first; then plan again with ``quantized``

    @property
    def statuses(self) -> tuple[str, ...]:
        """Every status line before ``writing manifest``."""
        return self.parse_statuses + self.layer_statuses


@dataclass
class _Draft:
    """The plan being built (local to one ``plan_create`` call)."""

    layers: list[Layer]
    config: ModelConfig
    parse_statuses: list[str]
    blobs: list[bytes]


GgufLookup = Callable[[Digest], GgufFacts]


def plan_create(
    request: CreateRequest,
    *,
    base: Manifest | None,
    base_name: str | None,
    read_blob: Callable[[Digest], bytes],
    blob_exists: Callable[[Digest], bool],
    gguf_info: GgufLookup,
    blob_size: Callable[[Digest], int],
    quantized: Quantized | None = None,
) -> CreatePlan:
    """Decide the new model's layers and config. Raises 400/404-class errors for bad input."""
    if not request.from_ and not request.files:
        raise InvalidRequestError("neither 'from' or 'files' was specified")
    if request.template is not None:
        check_template(request.template)
    if request.parameters:
        check_option_types(request.parameters)
    draft = _Draft(layers=[], config=ModelConfig(), parse_statuses=[], blobs=[])
    if base is not None:
        draft.layers = [Layer(l.media_type, l.digest, l.size, l.from_ or base_name, l.name) for l in base.layers]
        draft.config = ModelConfig.from_json(read_blob(base.config.digest))
    _add_files(draft, request.files, blob_exists, gguf_info, blob_size)
    _add_adapters(draft, request.adapters, blob_exists, gguf_info, blob_size)
    quantization = _quantize_model_layer(draft, request.quantize, quantized, gguf_info, blob_size)
    draft.layers = _replace_texts(request, draft.layers, draft.blobs, read_blob)
    layers = _unique(draft.layers)
    statuses = tuple(_layer_status(layer, blob_exists, quantized) for layer in layers)
    config_bytes = dc_replace(draft.config, rootfs=RootFS(diff_ids=tuple(str(l.digest) for l in layers))).to_json()
    draft.blobs.append(config_bytes)
    manifest = Manifest(
        config=Layer(MEDIA_TYPE_CONFIG, digest_of_bytes(config_bytes), len(config_bytes)),
        layers=tuple(layers),
    )
    return CreatePlan(
        parse_statuses=tuple(draft.parse_statuses),
        layer_statuses=statuses,
        new_blobs=tuple(dict.fromkeys(draft.blobs)),
        manifest=manifest,
        quantization=quantization,
    )


def _check_relative(filename: str) -> None:
    parts = filename.split("/")
    if (
        not filename
        or filename.startswith("/")
        or "\\" in filename
        or any(p in ("", ".", "..") for p in parts)
        or posixpath.normpath(filename) != filename
    ):
        raise InvalidRequestError("file path must be relative")


def _digest(raw: object) -> Digest:
    if not isinstance(raw, str) or not raw:
        raise InvalidRequestError("invalid digest format")
    return parse_digest(raw)


def _gguf_blob(
    draft: _Draft, filename: str, raw_digest: object, blob_exists: Callable[[Digest], bool], gguf_info: GgufLookup
) -> tuple[Digest, GgufFacts]:
    """Check one ``files``/``adapters`` entry and read its GGUF header."""
    _check_relative(filename)
    digest = _digest(raw_digest)
    if not blob_exists(digest):
        raise BlobNotFoundError(str(digest))
    draft.parse_statuses.append("parsing GGUF")
    return digest, _facts(gguf_info, digest)


def _facts(gguf_info: GgufLookup, digest: Digest) -> GgufFacts:
    try:
        return gguf_info(digest)
    except BadRequestError:
        raise
    except Exception:  # noqa: BLE001 - whatever the reader chokes on, the file is not GGUF
        raise InvalidRequestError("supplied file was not in GGUF format") from None


def _add_files(
    draft: _Draft,
    files: Mapping[str, str],
    blob_exists: Callable[[Digest], bool],
    gguf_info: GgufLookup,
    blob_size: Callable[[Digest], int],
) -> None:
    """Model GGUFs replace the model layer and reset the config; adapter GGUFs become adapters."""
    for filename, raw_digest in files.items():
        digest, facts = _gguf_blob(draft, filename, raw_digest, blob_exists, gguf_info)
        if facts.general_type == "adapter":
            draft.layers.append(Layer(MEDIA_TYPE_ADAPTER, digest, blob_size(digest)))
            continue
        draft.layers = [l for l in draft.layers if l.media_type != MEDIA_TYPE_MODEL]
        draft.layers.insert(0, Layer(MEDIA_TYPE_MODEL, digest, blob_size(digest)))
        draft.config = _model_config(draft.config, facts, reset=True)


def _add_adapters(
    draft: _Draft,
    adapters: Mapping[str, str],
    blob_exists: Callable[[Digest], bool],
    gguf_info: GgufLookup,
    blob_size: Callable[[Digest], int],
) -> None:
    if len(adapters) > 1:
        raise InvalidRequestError("only one adapter is currently supported")
    for filename, raw_digest in adapters.items():
        digest, _ = _gguf_blob(draft, filename, raw_digest, blob_exists, gguf_info)
        draft.layers = [l for l in draft.layers if l.media_type != MEDIA_TYPE_ADAPTER]
        draft.layers.append(Layer(MEDIA_TYPE_ADAPTER, digest, blob_size(digest)))


def _model_config(config: ModelConfig, facts: GgufFacts, *, reset: bool) -> ModelConfig:
    """Family, size and file type from the model's GGUF; ``reset`` drops what a base had."""
    return dc_replace(
        ModelConfig() if reset else config,
        model_format="gguf",
        model_family=facts.architecture,
        model_families=(facts.architecture,),
        model_type=facts.parameter_size,
        file_type=facts.file_type,
    )


def _quantize_model_layer(
    draft: _Draft,
    requested: str | None,
    quantized: Quantized | None,
    gguf_info: GgufLookup,
    blob_size: Callable[[Digest], int],
) -> Quantization | None:
    """Put a finished quantization in place, or say which one to run (None: none)."""
    index = next((i for i, l in enumerate(draft.layers) if l.media_type == MEDIA_TYPE_MODEL), None)
    if not requested or index is None:
        return None
    layer = draft.layers[index]
    if quantized is not None and quantized.source == layer.digest:
        draft.layers[index] = Layer(MEDIA_TYPE_MODEL, quantized.digest, blob_size(quantized.digest))
        draft.config = _model_config(draft.config, _facts(gguf_info, quantized.digest), reset=False)
        return None
    return plan_quantization(requested, source=layer.digest, source_type=_facts(gguf_info, layer.digest).file_type)


def _layer_status(layer: Layer, blob_exists: Callable[[Digest], bool], quantized: Quantized | None) -> str:
    if quantized is not None and layer.digest == quantized.digest:
        existing = not quantized.created
    else:
        existing = blob_exists(layer.digest)
    return f"{'using existing' if existing else 'creating new'} layer {layer.digest}"


def _unique(layers: list[Layer]) -> list[Layer]:
    """Each digest once, where it first appears."""
    seen: set[Digest] = set()
    out = []
    for layer in layers:
        if layer.digest not in seen:
            seen.add(layer.digest)
            out.append(layer)
    return out


@dataclass(frozen=True)
class _StoredMessage:
    """The fields of Ollama's ``api.Message`` a MESSAGE sets, in Go's struct order."""

    role: str = field(metadata={"json": "role"})
    content: str = field(metadata={"json": "content"})


def _go_encoded(value: Any) -> bytes:  # Any: a JSON value
    """Go's ``json.NewEncoder(w).Encode(value)``: compact, sorted, HTML-safe, then a newline."""
    return go_json(value).encode() + b"\n"


def _text_layer(media_type: str, data: bytes, blobs: list[bytes]) -> Layer:
    blobs.append(data)
    return Layer(media_type=media_type, digest=digest_of_bytes(data), size=len(data))


def _replace_texts(
    request: CreateRequest, layers: list[Layer], blobs: list[bytes], read_blob: Callable[[Digest], bytes]
) -> list[Layer]:
    """Template, system, params, messages and licenses: one layer each kind (licenses many)."""

    def replace(kinds: tuple[str, ...], new: list[Layer]) -> None:
        nonlocal layers
        layers = [l for l in layers if l.media_type not in kinds] + new

    if request.template is not None:
        replace((MEDIA_TYPE_TEMPLATE, MEDIA_TYPE_PROMPT), [_text_layer(MEDIA_TYPE_TEMPLATE, request.template.encode(), blobs)])
    if request.system is not None:
        replace((MEDIA_TYPE_SYSTEM,), [_text_layer(MEDIA_TYPE_SYSTEM, request.system.encode(), blobs)])
    if request.parameters:
        params = _base_params(layers, read_blob)
        params.update(request.parameters)
        replace((MEDIA_TYPE_PARAMS,), [_text_layer(MEDIA_TYPE_PARAMS, _go_encoded(params), blobs)])
    if request.messages:
        data = _go_encoded([_StoredMessage(m.role, m.content) for m in request.messages])
        replace((MEDIA_TYPE_MESSAGES,), [_text_layer(MEDIA_TYPE_MESSAGES, data, blobs)])
    if request.license:
        replace((MEDIA_TYPE_LICENSE,), [_text_layer(MEDIA_TYPE_LICENSE, t.encode(), blobs) for t in request.license])
    return layers


def _base_params(layers: list[Layer], read_blob: Callable[[Digest], bytes]) -> dict[str, Any]:
    layer = next((l for l in layers if l.media_type == MEDIA_TYPE_PARAMS), None)
    if layer is None:
        return {}
    loaded = json.loads(read_blob(layer.digest))
    return dict(loaded) if isinstance(loaded, Mapping) else {}
