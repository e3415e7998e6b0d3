"""Pure scheduling rules: which loaded runner can serve a request, whom to evict.

No I/O, no actors: the Scheduler actor asks these functions and acts on the answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ollama_actors.runner.ports import LoadSpec

__all__ = [
    "LoadPlan",
    "LoadedView",
    "RunnerView",
    "expires_at",
    "human_bytes",
    "kv_cache_bytes",
    "memory_error_message",
    "model_memory",
    "pick_eviction",
    "plan_load",
    "satisfies",
]

# "Forever" in Ollama is the maximum int64 nanoseconds, about 292 years.
_FOREVER = timedelta(days=365 * 292)


def satisfies(loaded: LoadSpec, wanted: LoadSpec) -> bool:
    """Whether a runner loaded with ``loaded`` can serve a request wanting ``wanted``
    without a reload: same file and runner options, and at least the context asked for."""
    return (
        loaded.model_path == wanted.model_path
        and loaded.adapters == wanted.adapters
        and loaded.num_ctx >= wanted.num_ctx
        and loaded.num_batch == wanted.num_batch
        and loaded.num_thread == wanted.num_thread
        and loaded.num_gpu == wanted.num_gpu
        and loaded.use_mmap == wanted.use_mmap
    )


@dataclass(frozen=True)
class RunnerView:
    key: str
    idle: bool
    last_used: float


def pick_eviction(runners: Iterable[RunnerView]) -> str | None:
    """The least recently used idle runner, or None when all are busy."""
    idle = [r for r in runners if r.idle]
    if not idle:
        return None
    return min(idle, key=lambda r: r.last_used).key


def expires_at(now: datetime, keep_alive_s: float) -> datetime:
    """When a runner idle since ``now`` expires (about 292 years ahead for forever)."""
    if math.isinf(keep_alive_s):
        return now + _FOREVER
    return now + timedelta(seconds=keep_alive_s)


# ---- memory budget ----

_KV_BYTES_PER_ELEMENT = 2  # f16 K and V caches, llama.cpp's default


def kv_cache_bytes(n_layer: int, n_ctx: int, n_embd_k: int, n_embd_v: int) -> int:
    """KV cache of one context: n_layer × n_ctx × (n_embd_k + n_embd_v) × 2 bytes."""
    return n_layer * n_ctx * (n_embd_k + n_embd_v) * _KV_BYTES_PER_ELEMENT


def model_memory(size: int, kv_bytes_per_token: int, num_ctx: int, parallel: int) -> int:
    """What a runner needs: its GGUF plus the KV cache for ``num_ctx × parallel`` tokens."""
    return size + kv_bytes_per_token * num_ctx * max(1, parallel)


@dataclass(frozen=True)
class LoadedView:
    """One loaded runner as the load planner sees it."""

    key: str
    idle: bool
    last_used: float
    size: int  # estimated bytes it holds


@dataclass(frozen=True)
class LoadPlan:
    """``load`` after evicting ``evict``; ``wait`` for the busy runner ``drain`` to finish
    (it takes no new work meanwhile, so the load cannot starve); ``refuse``: it never fits."""

    action: str  # "load" | "wait" | "refuse"
    evict: tuple[str, ...] = ()
    drain: str | None = None


def plan_load(need: int, available: int, loaded: Sequence[LoadedView], max_loaded: int) -> LoadPlan:
    """Whether a runner needing ``need`` bytes can load now, and whom to evict first.

    Least recently used idle runners go first, until both the count limit and the
    memory budget are met. When even every loaded runner gone would not make room,
    the model can never load: refuse. Otherwise wait for the least recently used
    busy runner to finish.
    """
    if need > available + sum(r.size for r in loaded):
        return LoadPlan("refuse")
    idle = sorted((r for r in loaded if r.idle), key=lambda r: r.last_used)
    evict: list[str] = []
    free, count = available, len(loaded)
    while (count >= max(1, max_loaded) or need > free) and idle:
        victim = idle.pop(0)
        evict.append(victim.key)
        free, count = free + victim.size, count - 1
    if count < max(1, max_loaded) and need <= free:
        return LoadPlan("load", tuple(evict))
    busy = sorted((r for r in loaded if not r.idle), key=lambda r: r.last_used)
    return LoadPlan("wait", drain=busy[0].key if busy else None)


def human_bytes(n: int) -> str:
    """Ollama's HumanBytes2: binary units with one decimal (``1.2 GiB``)."""
    value, units = float(n), ("B", "KiB", "MiB", "GiB", "TiB")
    for unit in units:
        if abs(value) < 1024 or unit == units[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def memory_error_message(need: int, available: int) -> str:
    return f"model requires more system memory ({human_bytes(need)}) than is available ({human_bytes(available)})"
