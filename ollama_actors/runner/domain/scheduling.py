"""Pure scheduling rules: which loaded runner can serve a request, whom to evict.

No I/O, no actors: the Scheduler actor asks these functions and acts on the answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ollama_actors.runner.ports import LoadSpec

__all__ = ["RunnerView", "expires_at", "pick_eviction", "satisfies"]

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
