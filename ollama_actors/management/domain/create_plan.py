"""Plan of ``/api/create``: which layers the new manifest has and which blobs to write.

Pure: the store is reached only through the lookups passed in (does a blob
exist, read a small blob, GGUF facts of a blob), so the plan is testable
without a disk and the ModelManager only executes it: write the new blobs, then
the manifest — last, so a crash never leaves a manifest pointing at nothing.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from typing import Any, Protocol

from ollama_actors.domain.digests import Digest, digest_of_bytes, parse_digest
from ollama_actors.domain.errors import BadRequestError, BlobNotFoundError, InvalidRequestError
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
from ollama_actors.management.messages import CreateRequest

__all__ = ["CreatePlan", "GgufFacts", "plan_create"]


class GgufFacts(Protocol):
    architecture: str
    parameter_size: str
    file_type: str


@dataclass(frozen=True)
class CreatePlan:
    statuses: tuple[str, ...]  # every status line before "writing manifest"
    new_blobs: tuple[bytes, ...]  # small layers and the config, to write before the manifest
    manifest: Manifest


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


def _text_layer(media_type: str, data: bytes, blobs: list[bytes]) -> Layer:
    blobs.append(data)
    return Layer(media_type=media_type, digest=digest_of_bytes(data), size=len(data))


def plan_create(
    request: CreateRequest,
    *,
    base: Manifest | None,
    base_name: str | None,
    read_blob: Callable[[Digest], bytes],
    blob_exists: Callable[[Digest], bool],
    gguf_info: Callable[[Digest], GgufFacts],
    blob_size: Callable[[Digest], int],
) -> CreatePlan:
    """Decide the new model's layers and config. Raises 400-class errors for bad input."""
    if not request.from_ and not request.files:
        raise InvalidRequestError("neither 'from' or 'files' was specified")
    statuses: list[str] = []
    blobs: list[bytes] = []
    layers: list[Layer] = []
    config = ModelConfig()
    if base is not None:
        for layer in base.layers:
            layers.append(Layer(layer.media_type, layer.digest, layer.size, layer.from_ or base_name, layer.name))
        config = ModelConfig.from_json(read_blob(base.config.digest))
    for filename, raw_digest in request.files.items():
        _check_relative(filename)
        digest = _digest(raw_digest)
        if not blob_exists(digest):
            raise BlobNotFoundError(str(digest))
        statuses.append("parsing GGUF")
        try:
            facts = gguf_info(digest)
        except BadRequestError:
            raise
        except Exception:
            raise InvalidRequestError("supplied file was not in GGUF format") from None
        layers = [l for l in layers if l.media_type != MEDIA_TYPE_MODEL]
        layers.insert(0, Layer(MEDIA_TYPE_MODEL, digest, blob_size(digest), None))
        config = ModelConfig(
            model_format="gguf",
            model_family=facts.architecture,
            model_families=(facts.architecture,),
            model_type=facts.parameter_size,
            file_type=facts.file_type,
        )
    for filename, raw_digest in request.adapters.items():
        _check_relative(filename)
        digest = _digest(raw_digest)
        if not blob_exists(digest):
            raise BlobNotFoundError(str(digest))
        layers = [l for l in layers if l.media_type != MEDIA_TYPE_ADAPTER]
        layers.append(Layer(MEDIA_TYPE_ADAPTER, digest, blob_size(digest)))
    layers = _replace_texts(request, layers, blobs, read_blob)
    for layer in layers:
        verb = "using existing" if blob_exists(layer.digest) else "creating new"
        statuses.append(f"{verb} layer {layer.digest}")
    config = _with_rootfs(config, layers)
    config_bytes = config.to_json()
    blobs.append(config_bytes)
    manifest = Manifest(
        config=Layer(MEDIA_TYPE_CONFIG, digest_of_bytes(config_bytes), len(config_bytes)),
        layers=tuple(layers),
    )
    return CreatePlan(statuses=tuple(statuses), new_blobs=tuple(blobs), manifest=manifest)


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
        data = json.dumps(params, separators=(",", ":")).encode()
        replace((MEDIA_TYPE_PARAMS,), [_text_layer(MEDIA_TYPE_PARAMS, data, blobs)])
    if request.messages:
        data = json.dumps(
            [{"role": m.role, "content": m.content} for m in request.messages], separators=(",", ":")
        ).encode()
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


def _with_rootfs(config: ModelConfig, layers: list[Layer]) -> ModelConfig:
    return dc_replace(config, rootfs=RootFS(diff_ids=tuple(str(l.digest) for l in layers)))
