"""Manifests, layers, media types and the model config blob, as Ollama stores them (§3.3, §1.7).

Invariant: ``to_json`` writes the bytes Ollama's Go code writes for the same value
(``json.NewEncoder(...).Encode``: compact, struct field order, ``omitempty``
fields left out, ``<``, ``>``, ``&``, U+2028/9 escaped, one trailing newline), so a
manifest we write is byte-identical to Ollama's and its digest (the model ID)
matches. ``from_json`` is as tolerant as Go's decoder (unknown fields ignored,
keys matched case-insensitively) but validates every digest, because a manifest
from a registry is hostile input (§8.4). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ollama_actors.domain.digests import Digest, parse_digest
from ollama_actors.domain.errors import InvalidDigestError, InvalidManifestError

__all__ = [
    "Layer",
    "MEDIA_TYPE_ADAPTER",
    "MEDIA_TYPE_CONFIG",
    "MEDIA_TYPE_DRAFT",
    "MEDIA_TYPE_EMBED",
    "MEDIA_TYPE_JSON",
    "MEDIA_TYPE_LICENSE",
    "MEDIA_TYPE_MANIFEST",
    "MEDIA_TYPE_MESSAGES",
    "MEDIA_TYPE_MODEL",
    "MEDIA_TYPE_PARAMS",
    "MEDIA_TYPE_PROJECTOR",
    "MEDIA_TYPE_PROMPT",
    "MEDIA_TYPE_SYSTEM",
    "MEDIA_TYPE_TEMPLATE",
    "MEDIA_TYPE_TENSOR",
    "Manifest",
    "ModelConfig",
    "RootFS",
    "go_json",
]

MEDIA_TYPE_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_TYPE_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_TYPE_MODEL = "application/vnd.ollama.image.model"
MEDIA_TYPE_ADAPTER = "application/vnd.ollama.image.adapter"
MEDIA_TYPE_PROJECTOR = "application/vnd.ollama.image.projector"
MEDIA_TYPE_TEMPLATE = "application/vnd.ollama.image.template"
MEDIA_TYPE_PROMPT = "application/vnd.ollama.image.prompt"  # legacy template, read only
MEDIA_TYPE_SYSTEM = "application/vnd.ollama.image.system"
MEDIA_TYPE_PARAMS = "application/vnd.ollama.image.params"
MEDIA_TYPE_MESSAGES = "application/vnd.ollama.image.messages"
MEDIA_TYPE_LICENSE = "application/vnd.ollama.image.license"
MEDIA_TYPE_EMBED = "application/vnd.ollama.image.embed"  # obsolete, ignored
MEDIA_TYPE_DRAFT = "application/vnd.ollama.image.draft"
MEDIA_TYPE_TENSOR = "application/vnd.ollama.image.tensor"
MEDIA_TYPE_JSON = "application/vnd.ollama.image.json"

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value: object) -> bytes:
    """Encode ``value`` exactly as Go's ``json.NewEncoder(w).Encode`` does.

    The stdlib ``json`` gets compact separators and raw UTF-8; Go additionally
    HTML-escapes ``<>&`` and escapes U+2028/U+2029, and ends with ``\\n``. Those
    characters can only occur inside JSON strings, so replacing them in the
    output is safe. Key order is the caller's (dicts keep insertion order), which
    stands in for Go's struct field order.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return (text + "\n").encode("utf-8")


def _load_object(data: bytes, what: str) -> Mapping[str, object]:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidManifestError(f"invalid {what}: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidManifestError(f"invalid {what}: not a JSON object")
    return obj


def _get(obj: Mapping[str, object], key: str, *, required: bool = False) -> object:
    """Look ``key`` up as Go's decoder does: exact match first, then case-insensitively.

    A missing optional key reads as ``None``, like JSON ``null``.
    """
    if key in obj:
        return obj[key]
    folded = key.lower()
    for candidate, value in obj.items():
        if candidate.lower() == folded:
            return value
    if required:
        raise InvalidManifestError(f'invalid manifest: missing "{key}"')
    return None


def _str(obj: Mapping[str, object], key: str, *, required: bool = False) -> str:
    value = _get(obj, key, required=required)
    if value is None:  # absent or null: Go's zero value
        return ""
    if not isinstance(value, str):
        raise InvalidManifestError(f'invalid manifest: "{key}" must be a string')
    return value


def _int(obj: Mapping[str, object], key: str, *, required: bool = False) -> int:
    value = _get(obj, key, required=required)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidManifestError(f'invalid manifest: "{key}" must be an integer')
    return value


def _str_list(obj: Mapping[str, object], key: str) -> tuple[str, ...] | None:
    value = _get(obj, key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidManifestError(f'invalid manifest: "{key}" must be a list of strings')
    return tuple(value)


@dataclass(frozen=True)
class Layer:
    """One blob a manifest points at (the config is a ``Layer`` too).

    ``from_`` (JSON ``from``) is the short name of the model the layer was
    inherited from; ``name`` is a file or tensor name for safetensors layers.
    Both are written only when non-empty, like Go's ``omitempty``.
    """

    media_type: str
    digest: Digest
    size: int
    from_: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.digest, Digest):
            raise InvalidDigestError()
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise InvalidManifestError("invalid manifest: layer size must be a non-negative integer")

    def to_dict(self) -> dict[str, object]:
        """The layer's JSON object, in Ollama's key order."""
        out: dict[str, object] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.from_:
            out["from"] = self.from_
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, obj: object) -> Layer:
        """Parse one layer object; the digest must be valid.

        Raises:
            InvalidManifestError: not an object, wrong types, or a bad digest.
        """
        if not isinstance(obj, dict):
            raise InvalidManifestError("invalid manifest: layer is not a JSON object")
        try:
            digest = parse_digest(_str(obj, "digest", required=True))
        except InvalidDigestError:
            raise InvalidManifestError("invalid manifest: invalid digest format") from None
        return cls(
            media_type=_str(obj, "mediaType"),
            digest=digest,
            size=_int(obj, "size", required=True),
            from_=_str(obj, "from") or None,
            name=_str(obj, "name") or None,
        )


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """A Docker distribution v2 manifest as Ollama writes it."""

    config: Layer
    layers: tuple[Layer, ...] = ()
    schema_version: int = 2
    media_type: str = MEDIA_TYPE_MANIFEST

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))

    @property
    def all_digests(self) -> tuple[Digest, ...]:
        """Every blob the manifest needs, layers first then config, without repeats."""
        return tuple(dict.fromkeys([*(layer.digest for layer in self.layers), self.config.digest]))

    @property
    def total_size(self) -> int:
        """Sum of layer sizes plus the config size: the ``size`` of ``/api/tags``."""
        return self.config.size + sum(layer.size for layer in self.layers)

    def layer_of(self, media_type: str) -> Layer | None:
        """The first layer of ``media_type``, or ``None``."""
        return next((layer for layer in self.layers if layer.media_type == media_type), None)

    def layers_of(self, media_type: str) -> tuple[Layer, ...]:
        """All layers of ``media_type`` in order (a model may carry several licenses)."""
        return tuple(layer for layer in self.layers if layer.media_type == media_type)

    def to_dict(self) -> dict[str, object]:
        """The manifest's JSON object, in Ollama's key order."""
        return {
            "schemaVersion": self.schema_version,
            "mediaType": self.media_type,
            "config": self.config.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self) -> bytes:
        """The exact bytes Ollama writes for this manifest (compact JSON and ``\\n``)."""
        return go_json(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse manifest bytes, ignoring unknown fields; every digest is validated.

        Raises:
            InvalidManifestError: not JSON, missing ``config``, wrong types, bad digests.
        """
        obj = _load_object(data, "manifest")
        layers = _get(obj, "layers")
        if layers is None:
            layers = []
        if not isinstance(layers, list):
            raise InvalidManifestError('invalid manifest: "layers" must be a list')
        return cls(
            config=Layer.from_dict(_get(obj, "config", required=True)),
            layers=tuple(Layer.from_dict(layer) for layer in layers),
            schema_version=_int(obj, "schemaVersion"),
            media_type=_str(obj, "mediaType"),
        )


@dataclass(frozen=True)
class RootFS:
    """The config's ``rootfs``: the layer digests, in manifest order."""

    diff_ids: tuple[str, ...] = ()
    type: str = "layers"

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "diff_ids": list(self.diff_ids)}


@dataclass(frozen=True)
class ModelConfig:
    """The config blob (``application/vnd.docker.container.image.v1+json``, §1.7).

    Field order is Ollama's ``ConfigV2`` order. Text and number fields Ollama marks
    ``omitempty`` are written only when non-empty; ``model_families`` is written as
    ``null`` when ``None``. ``rootfs`` is what releases before v0.32.7 wrote and
    classic clients expect; ``None`` leaves it out, as HEAD does. Fields this type
    does not know (HEAD's ``draft``) are dropped on parse, as Go's struct drops
    unknown ones.
    """

    model_format: str = ""
    model_family: str = ""
    model_families: tuple[str, ...] | None = None
    model_type: str = ""
    file_type: str = ""
    renderer: str = ""
    parser: str = ""
    requires: str = ""
    remote_host: str = ""
    remote_model: str = ""
    capabilities: tuple[str, ...] = ()
    context_length: int = 0
    embedding_length: int = 0
    base_name: str = ""
    architecture: str = "amd64"
    os: str = "linux"
    rootfs: RootFS | None = field(default=None)

    def to_dict(self) -> dict[str, object]:
        """The config's JSON object, in Ollama's field order."""
        out: dict[str, object] = {
            "model_format": self.model_format,
            "model_family": self.model_family,
            "model_families": None if self.model_families is None else list(self.model_families),
            "model_type": self.model_type,
            "file_type": self.file_type,
        }
        optional: dict[str, object] = {
            "renderer": self.renderer,
            "parser": self.parser,
            "requires": self.requires,
            "remote_host": self.remote_host,
            "remote_model": self.remote_model,
            "capabilities": list(self.capabilities),
            "context_length": self.context_length,
            "embedding_length": self.embedding_length,
            "base_name": self.base_name,
        }
        out.update((key, value) for key, value in optional.items() if value)
        out["architecture"] = self.architecture
        out["os"] = self.os
        if self.rootfs is not None:
            out["rootfs"] = self.rootfs.to_dict()
        return out

    def to_json(self) -> bytes:
        """The exact bytes Ollama writes for this config blob."""
        return go_json(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes) -> ModelConfig:
        """Parse a config blob; unknown fields are ignored, missing ones are empty.

        Raises:
            InvalidManifestError: not a JSON object or a field of the wrong type.
        """
        obj = _load_object(data, "model config")
        rootfs_obj = _get(obj, "rootfs")
        rootfs: RootFS | None = None
        if rootfs_obj is not None:
            if not isinstance(rootfs_obj, dict):
                raise InvalidManifestError('invalid model config: "rootfs" must be an object')
            rootfs = RootFS(diff_ids=_str_list(rootfs_obj, "diff_ids") or (), type=_str(rootfs_obj, "type"))
        return cls(
            model_format=_str(obj, "model_format"),
            model_family=_str(obj, "model_family"),
            model_families=_str_list(obj, "model_families"),
            model_type=_str(obj, "model_type"),
            file_type=_str(obj, "file_type"),
            renderer=_str(obj, "renderer"),
            parser=_str(obj, "parser"),
            requires=_str(obj, "requires"),
            remote_host=_str(obj, "remote_host"),
            remote_model=_str(obj, "remote_model"),
            capabilities=_str_list(obj, "capabilities") or (),
            context_length=_int(obj, "context_length"),
            embedding_length=_int(obj, "embedding_length"),
            base_name=_str(obj, "base_name"),
            architecture=_str(obj, "architecture"),
            os=_str(obj, "os"),
            rootfs=rootfs,
        )
