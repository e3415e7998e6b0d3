"""A model as the runner context needs it, resolved from the store by the ModelManager.

Pure data: everything a runner needs to load the model and build its prompts,
so the runner context never reads the store itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ollama_actors.domain.chat import ChatMessage

__all__ = ["ModelDetails", "ResolvedModel"]


@dataclass(frozen=True)
class ModelDetails:
    """Ollama's ``details`` object of tags/show/ps."""

    parent_model: str = ""
    format: str = "gguf"
    family: str = ""
    families: tuple[str, ...] | None = None
    parameter_size: str = ""
    quantization_level: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "parent_model": self.parent_model,
            "format": self.format,
            "family": self.family,
            "families": list(self.families) if self.families is not None else None,
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # display form, e.g. "smollm2:135m"
    full_name: str  # registry.ollama.ai/library/smollm2:135m
    digest: str  # sha256 hex of the manifest bytes (the model ID)
    model_path: str  # the GGUF blob
    size: int  # sum of layer sizes
    adapter_paths: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    template: str | None = None  # Go template layer, if any
    system: str = ""
    messages: tuple[ChatMessage, ...] = ()
    details: ModelDetails = ModelDetails()
    capabilities: tuple[str, ...] = ("completion",)
    chat_template: str | None = None  # the GGUF's Jinja tokenizer.chat_template
    bos_token: str = ""
    eos_token: str = ""
    context_length: int | None = None  # trained context length
    kv_bytes_per_token: int = 0  # KV cache per context token (f16), from the GGUF header

    @property
    def is_embedding_only(self) -> bool:
        return "embedding" in self.capabilities and "completion" not in self.capabilities
