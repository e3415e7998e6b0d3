"""What one benchmark run measured, as frozen data, and its JSON form (pure).

The harness fills these; ``targets`` judges them and ``report`` prints them. Keeping
them plain data lets the tests build results by hand and check the judging and the
table without running any server.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from tests.bench.stats import LevelSummary

__all__ = [
    "BASELINE",
    "BenchResults",
    "ControlPlane",
    "LLAMA_SERVER",
    "Memory",
    "OURS_GENERATE",
    "OURS_OPENAI",
    "RequestsPerSecond",
    "SystemResult",
    "to_json",
]

BASELINE = "llama-cpp-python in-process"
OURS_GENERATE = "ollama-actors /api/generate"
OURS_OPENAI = "ollama-actors /v1/completions"
LLAMA_SERVER = "llama-cpp-python server"


@dataclass(frozen=True)
class SystemResult:
    """One system's levels (1, 2, 4, 8 streams), each the medians over its rounds; level 1 gives
    TTFT and single-stream decode."""

    name: str
    levels: tuple[LevelSummary, ...]

    def level(self, streams: int) -> LevelSummary | None:
        return next((lvl for lvl in self.levels if lvl.streams == streams), None)

    @property
    def single(self) -> LevelSummary | None:
        return self.level(1)

    @property
    def truncated(self) -> int:
        return sum(lvl.truncated for lvl in self.levels)


@dataclass(frozen=True)
class ControlPlane:
    """Latencies (s) of control-plane GETs polled while ``streams`` streams generate."""

    streams: int
    p50_s: dict[str, float]
    p99_s: dict[str, float]
    samples: dict[str, int]
    truncated_streams: int

    @property
    def worst_p99_s(self) -> float:
        return max(self.p99_s.values(), default=math.nan)


@dataclass(frozen=True)
class RequestsPerSecond:
    """``GET /api/version`` requests/s: the daemon and the bare Quart-trio app (median of rounds)."""

    requests: int
    connections: int
    daemon_rps: float
    bare_rps: float
    daemon_rounds: tuple[float, ...] = ()
    bare_rounds: tuple[float, ...] = ()
    errors: int = 0

    @property
    def ratio(self) -> float:
        return self.daemon_rps / self.bare_rps if self.bare_rps > 0 else math.nan


@dataclass(frozen=True)
class Memory:
    """RSS in MiB: the daemon with no model loaded, one runner process, the in-process baseline.

    ``runner_kv_mib`` and ``inprocess_kv_mib`` are the F16 KV caches each allocates
    (the runner's holds ``num_ctx × OLLAMA_NUM_PARALLEL`` cells, the baseline's ``num_ctx``).
    """

    daemon_idle_mib: float
    runner_mib: float
    inprocess_mib: float
    runner_kv_mib: float
    inprocess_kv_mib: float


@dataclass(frozen=True)
class BenchResults:
    """Everything one run measured, with the settings and the machine it ran on."""

    config: dict[str, Any]
    machine: dict[str, Any]
    systems: tuple[SystemResult, ...]
    control_plane: ControlPlane | None = None
    rps: RequestsPerSecond | None = None
    memory: Memory | None = None
    errors: tuple[str, ...] = field(default=())
    baseline_recheck: LevelSummary | None = None  # (a) at 1 stream again, after everything else

    @property
    def baseline_drift(self) -> float:
        """Relative change of (a)'s single-stream decode between the generation phase (the median
        over its rounds) and the end of the run.

        Systems are measured one after another (interleaved in rounds), so a ratio is only as
        good as the machine's quiet: a drift beyond a few percent means something else took the
        cores meanwhile, or the machine's speed moved.
        """
        base = self.system(BASELINE)
        first = base.single if base is not None else None
        if first is None or self.baseline_recheck is None or not first.median_decode_tps:
            return math.nan
        return self.baseline_recheck.median_decode_tps / first.median_decode_tps - 1

    def system(self, name: str) -> SystemResult | None:
        return next((s for s in self.systems if s.name == name), None)


def to_json(value: Any) -> Any:  # Any: any of the dataclasses above, nested
    """JSON-ready data (NaN becomes null: JSON has no NaN)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
