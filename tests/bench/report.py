"""The benchmark's printed report: figures and ratios against the in-process baseline (pure).

Every function returns text; the runner prints it. Ratios are against (a),
llama-cpp-python in process serving one request at a time, at the same level
(its aggregate at N streams is its single-stream rate: it serves them in turn).
Figures are medians over a level's rounds; ``render_spread`` shows how far the rounds
were apart. NaN (a figure not measured) prints as ``-``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tests.bench.results import BASELINE, BenchResults, SystemResult
from tests.bench.stats import LevelSummary
from tests.bench.targets import TargetCheck

__all__ = [
    "DRIFT_WARNING",
    "SPREAD_WARNING",
    "format_report",
    "format_table",
    "ratio_cell",
    "render_drift",
    "render_spread",
    "render_systems",
    "render_targets",
]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: columns as wide as their widest cell, a rule under the headers."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def _num(value: float, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def ratio_cell(value: float, baseline: float, digits: int = 1) -> str:
    """``value (×ratio)``; the ratio is left out when the baseline is missing or zero."""
    if math.isnan(value):
        return "-"
    if math.isnan(baseline) or baseline == 0:
        return _num(value, digits)
    return f"{_num(value, digits)} (×{value / baseline:.2f})"


def _level_value(system: SystemResult | None, streams: int, field: str) -> float:
    level = system.level(streams) if system is not None else None
    return float(getattr(level, field)) if level is not None else math.nan


def render_systems(results: BenchResults, levels: Sequence[int]) -> str:
    """One row per system: TTFT, decode rate, aggregate tokens/s and p95 latency per level."""
    base = results.system(BASELINE)
    headers = ["system", "TTFT ms", "decode tok/s"]
    headers += [f"agg tok/s @{n}" for n in levels] + [f"p95 s @{n}" for n in levels] + ["truncated"]
    rows = []
    for system in results.systems:
        row = [
            system.name,
            ratio_cell(1000 * _level_value(system, 1, "median_ttft_s"), 1000 * _level_value(base, 1, "median_ttft_s")),
            ratio_cell(_level_value(system, 1, "median_decode_tps"), _level_value(base, 1, "median_decode_tps")),
        ]
        row += [ratio_cell(_level_value(system, n, "aggregate_tps"), _level_value(base, n, "aggregate_tps"))
                for n in levels]
        row += [ratio_cell(_level_value(system, n, "p95_latency_s"), _level_value(base, n, "p95_latency_s"), 2)
                for n in levels]
        row.append(str(system.truncated))
        rows.append(row)
    return format_table(headers, rows)


def render_targets(checks: Sequence[TargetCheck]) -> str:
    """Issue 8's targets: measured, bound, PASS/FAIL."""
    rows = [[c.name, _num(c.value, 2), f"{c.op} {_num(c.bound, 2)}", "PASS" if c.passed else "FAIL"]
            for c in checks]
    return format_table(["target", "measured", "bound", "result"], rows)


DRIFT_WARNING = 0.10


def render_drift(results: BenchResults) -> list[str]:
    """(a)'s single-stream decode in the generation phase and at the end of the run, and a warning past 10%."""
    drift = results.baseline_drift
    if math.isnan(drift) or results.baseline_recheck is None:
        return []
    base = results.system(BASELINE)
    start = base.single.median_decode_tps if base is not None and base.single is not None else math.nan
    out = [f"Baseline re-check: in-process decode {_num(start)} tok/s during the generation phase "
           f"(median over rounds), {_num(results.baseline_recheck.median_decode_tps)} at the end, "
           f"the others stopped ({drift:+.1%})"]
    if abs(drift) > DRIFT_WARNING:
        out.append("WARNING: the machine was not quiet during the run (the baseline moved by more than "
                   f"{DRIFT_WARNING:.0%}): ratios between systems are not reliable; run again on a quiet machine")
    return out


SPREAD_WARNING = 0.25


def _spread_ratio(level: LevelSummary) -> float:
    """``max/min − 1`` of a level's aggregate tokens/s over its rounds (0 without rounds)."""
    low, high = level.spread("aggregate_tps")
    return high / low - 1 if low > 0 and not math.isnan(high) else 0.0


def _spread_cell(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return "-"
    return f"{_num(low)}–{_num(high)} ({high / low - 1:+.0%})" if low > 0 else f"{_num(low)}–{_num(high)}"


def render_spread(results: BenchResults, levels: Sequence[int]) -> list[str]:
    """How noisy the run was: each system's aggregate tokens/s per level, min–max over its rounds
    (max/min − 1), and the baseline's single-stream figures over rounds on a line of their own."""
    systems = [s for s in results.systems if any(lvl.rounds for lvl in s.levels)]
    if not systems:
        return []
    rounds = max(len(lvl.rounds) for s in systems for lvl in s.levels)
    rows = []
    for system in systems:
        cells = []
        for n in levels:
            level = system.level(n)
            cells.append(_spread_cell(*level.spread("aggregate_tps")) if level is not None else "-")
        rows.append([system.name, *cells])
    out = [f"Spread over rounds (agg tok/s, min–max of {rounds} rounds, max/min − 1; the table above has medians):",
           format_table(["system", *(f"@{n}" for n in levels)], rows)]
    noisy = [f"{system.name} @{level.streams}" for system in systems for level in system.levels
             if _spread_ratio(level) > SPREAD_WARNING]
    if noisy:
        out.append(f"WARNING: rounds more than {SPREAD_WARNING:.0%} apart (max/min) at: {', '.join(noisy)}. The "
                   "medians hold while fewer than half of the rounds were slow; if the spread is large, run again "
                   "(or with more --rounds) on a quieter machine")
    base = results.system(BASELINE)
    single = base.single if base is not None else None
    if single is not None and single.rounds:
        aggs = ", ".join(_num(r.aggregate_tps) for r in single.rounds)
        decodes = ", ".join(_num(r.median_decode_tps) for r in single.rounds)
        low, high = single.spread("aggregate_tps")
        spread = f" (max/min {high / low - 1:+.0%})" if low > 0 else ""
        out.append(f"Baseline spread: in-process @1 agg tok/s per round {aggs}{spread}; "
                   f"decode tok/s per round {decodes}")
    return out


def _render_edge(results: BenchResults) -> list[str]:
    out: list[str] = []
    if results.control_plane is not None:
        cp = results.control_plane
        rows = [[path, _num(1000 * cp.p50_s[path], 2), _num(1000 * cp.p99_s[path], 2), str(cp.samples[path])]
                for path in cp.p50_s]
        out += [f"Control plane while {cp.streams} streams generate:",
                format_table(["GET", "p50 ms", "p99 ms", "samples"], rows)]
    if results.rps is not None:
        r = results.rps
        out.append(f"GET /api/version, {r.requests} requests over {r.connections} connections: daemon "
                   f"{_num(r.daemon_rps, 0)} req/s, bare Quart-trio {_num(r.bare_rps, 0)} req/s "
                   f"(×{_num(r.ratio, 2)}), errors {r.errors}")
    if results.memory is not None:
        m = results.memory
        out.append(f"RSS: daemon without models {_num(m.daemon_idle_mib)} MiB; runner process "
                   f"{_num(m.runner_mib)} MiB (KV cache {_num(m.runner_kv_mib)} MiB); in-process "
                   f"{_num(m.inprocess_mib)} MiB (KV cache {_num(m.inprocess_kv_mib)} MiB)")
    return out


def _with_blank(lines: list[str]) -> list[str]:
    return [*lines, ""] if lines else []


def format_report(results: BenchResults, checks: Sequence[TargetCheck], levels: Sequence[int]) -> str:
    """The whole printed report: settings, machine, systems, edge figures, targets, errors."""
    config = ", ".join(f"{k}={v}" for k, v in results.config.items() if k != "prompts")
    machine = ", ".join(f"{k}={v}" for k, v in results.machine.items())
    parts = [f"Settings: {config}", f"Machine: {machine}", ""]
    if results.config.get("quick"):
        parts += ["QUICK MODE: a tiny model and few requests, to check the harness; the figures mean nothing.", ""]
    rounds = results.config.get("rounds")
    medians = f"medians over {rounds} interleaved rounds; " if rounds else ""
    parts += [f"Generation ({medians}ratios against llama-cpp-python in process, one request at a time):",
              render_systems(results, levels), "", *_with_blank(render_spread(results, levels)),
              *_with_blank(render_drift(results)), *_render_edge(results), "",
              "Targets (issue 8):", render_targets(checks)]
    if results.errors:
        parts += ["", "Errors:", *(f"- {e}" for e in results.errors)]
    return "\n".join(parts)
