"""Issue 8's targets, judged against one run's results (pure).

Each target becomes a ``TargetCheck`` with the measured value, the bound it must meet
and pass/fail; a figure that could not be measured (a system that failed, a missing
level) fails its target with NaN rather than passing by default. Generation targets
are judged for both of ollama-actors' routes (``/api/generate`` and ``/v1/completions``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tests.bench.results import BASELINE, LLAMA_SERVER, OURS_GENERATE, OURS_OPENAI, BenchResults, SystemResult

__all__ = ["TargetCheck", "evaluate_targets"]

_NAN = math.nan


@dataclass(frozen=True)
class TargetCheck:
    """One target: ``value`` compared with ``bound`` (``≥`` or ``≤``, per ``op``)."""

    name: str
    value: float
    bound: float
    op: str  # ">=" or "<="
    unit: str = ""

    @property
    def passed(self) -> bool:
        if math.isnan(self.value) or math.isnan(self.bound):
            return False
        return self.value >= self.bound if self.op == ">=" else self.value <= self.bound


def evaluate_targets(results: BenchResults) -> list[TargetCheck]:
    """Every target of issue 8 that this run measured, in the issue's order."""
    base = results.system(BASELINE)
    server = results.system(LLAMA_SERVER)
    checks: list[TargetCheck] = []
    for name in (OURS_GENERATE, OURS_OPENAI):
        ours = results.system(name)
        if ours is not None:
            checks += _generation_checks(name, ours, base, server)
    checks += _edge_checks(results)
    return checks


def _attr(system: SystemResult | None, streams: int, field: str) -> float:
    level = system.level(streams) if system is not None else None
    return float(getattr(level, field)) if level is not None else _NAN


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else _NAN


def _generation_checks(
    label: str, ours: SystemResult, base: SystemResult | None, server: SystemResult | None
) -> list[TargetCheck]:
    own_single = _attr(ours, 1, "aggregate_tps")
    checks = [
        TargetCheck(f"{label}: single-stream decode / in-process",
                    _ratio(_attr(ours, 1, "median_decode_tps"), _attr(base, 1, "median_decode_tps")), 0.95, ">=", "×"),
        TargetCheck(f"{label}: time to first token (ms)", 1000 * _attr(ours, 1, "median_ttft_s"),
                    1000 * _attr(base, 1, "median_ttft_s") + 15.0, "<=", "ms"),
        TargetCheck(f"{label}: aggregate at 4 streams / own single-stream",
                    _ratio(_attr(ours, 4, "aggregate_tps"), own_single), 1.7, ">=", "×"),
        TargetCheck(f"{label}: aggregate at 8 streams / own single-stream",
                    _ratio(_attr(ours, 8, "aggregate_tps"), own_single), 2.1, ">=", "×"),
        TargetCheck(f"{label}: p95 latency at 8 streams / one-at-a-time (in-process)",
                    _ratio(_attr(ours, 8, "p95_latency_s"), _attr(base, 8, "p95_latency_s")), 0.6, "<=", "×"),
        TargetCheck(f"{label}: aggregate at 4 streams / llama-cpp-python server",
                    _ratio(_attr(ours, 4, "aggregate_tps"), _attr(server, 4, "aggregate_tps")), 3.0, ">=", "×"),
        TargetCheck(f"{label}: aggregate at 8 streams / llama-cpp-python server",
                    _ratio(_attr(ours, 8, "aggregate_tps"), _attr(server, 8, "aggregate_tps")), 3.0, ">=", "×"),
        TargetCheck(f"{label}: truncated responses", float(ours.truncated), 0.0, "<=", ""),
    ]
    return checks


def _edge_checks(results: BenchResults) -> list[TargetCheck]:
    checks: list[TargetCheck] = []
    if results.control_plane is not None:
        cp = results.control_plane
        checks.append(TargetCheck(f"control-plane p99 while {cp.streams} streams generate (ms)",
                                  1000 * cp.worst_p99_s, 50.0, "<=", "ms"))
        checks.append(TargetCheck("control-plane polling: truncated streams", float(cp.truncated_streams),
                                  0.0, "<=", ""))
    if results.rps is not None:
        checks.append(TargetCheck("GET /api/version requests/s / bare Quart-trio app", results.rps.ratio,
                                  0.85, ">=", "×"))
    if results.memory is not None:
        mem = results.memory
        checks.append(TargetCheck("daemon RSS without models (MiB)", mem.daemon_idle_mib, 120.0, "<=", "MiB"))
        bound = mem.inprocess_mib + 50.0 + (mem.runner_kv_mib - mem.inprocess_kv_mib)
        checks.append(TargetCheck("runner RSS (MiB) vs in-process + 50 MiB + its extra KV cache",
                                  mem.runner_mib, bound, "<=", "MiB"))
    return checks
