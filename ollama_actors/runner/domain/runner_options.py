"""From merged Ollama options to what a runner loads with and samples with. Pure.

Every option of Ollama's list lands somewhere: ``num_ctx``, ``num_batch``,
``num_gpu``, ``main_gpu``, ``use_mmap`` and ``num_thread`` in ``LoadSpec`` (a change
reloads the runner); ``seed``, ``num_predict``, ``top_k``, ``top_p``, ``min_p``,
``typical_p``, ``repeat_last_n`` (0 off, -1 = ``num_ctx``), ``temperature``,
``repeat_penalty``, ``presence_penalty``, ``frequency_penalty`` and ``stop`` in
``SamplingOptions``. Accepted but without effect here: ``num_keep`` (Ollama uses it
only when it shifts a full context; this runtime ends the generation with
``done_reason: "length"`` instead) and ``draft_num_predict`` (no draft models).
Deprecated options (``mirostat*``, ``penalize_newline``, ``tfs_z``, …) are dropped
by ``merge_options`` as Ollama drops them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ollama_actors.domain.models import ResolvedModel
from ollama_actors.runner.ports import LoadSpec, SamplingOptions

__all__ = ["l2_normalise", "load_spec", "sampling_options"]


def load_spec(
    model: ResolvedModel,
    values: Mapping[str, Any],
    *,
    num_thread: int | None,
    embedding: bool = False,
) -> LoadSpec:
    """Runner options; ``num_ctx`` is clamped to the model's trained context."""
    num_ctx = int(values["num_ctx"])
    if model.context_length:
        num_ctx = min(num_ctx, model.context_length)
    threads = values.get("num_thread") or num_thread
    return LoadSpec(
        model_path=model.model_path,
        num_ctx=num_ctx,
        num_batch=int(values.get("num_batch", 512)),
        num_thread=int(threads) if threads else None,
        num_gpu=int(values.get("num_gpu", -1)),
        main_gpu=int(values["main_gpu"]) if values.get("main_gpu") is not None else None,
        use_mmap=bool(values.get("use_mmap", True)),
        embedding=embedding or model.is_embedding_only,
        adapters=model.adapter_paths,
    )


def sampling_options(values: Mapping[str, Any]) -> SamplingOptions:
    return SamplingOptions(
        num_predict=int(values["num_predict"]),
        temperature=float(values["temperature"]),
        top_k=int(values["top_k"]),
        top_p=float(values["top_p"]),
        min_p=float(values["min_p"]),
        typical_p=float(values["typical_p"]),
        repeat_penalty=float(values["repeat_penalty"]),
        repeat_last_n=int(values["repeat_last_n"]),
        presence_penalty=float(values["presence_penalty"]),
        frequency_penalty=float(values["frequency_penalty"]),
        seed=int(values["seed"]),
        stop=tuple(values.get("stop") or ()),
    )


def l2_normalise(vector: Sequence[float], dimensions: int = 0) -> list[float]:
    """Ollama's /api/embed vectors: optionally truncated to ``dimensions``, L2-normalised."""
    values = list(vector)
    if 0 < dimensions < len(values):
        values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values] if norm > 0 else values
