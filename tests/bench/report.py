"""The benchmark's printed report: figures and ratios against the in-process baseline (pure).

Every function returns text; the runner prints it. Ratios are against (a),
llama-cpp-python in process serving one request at a time, at the same level
(its aggregate at N streams is its single-stream rate: it serves them in turn).
NaN (a figure not measured) prints as ``-``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tests.bench.results import BASELINE, BenchResults, SystemResult
from tests.bench.targets import TargetCheck

__all__ = ["DRIFT_WARNING", "format_report", "format_table", "ratio_cell", "render_drift", "render_systems", "render_targets"]


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
    """(a)'s single-stream decode at the start and the end of the run, and a warning past 10%."""
    drift = results.baseline_drift
    if math.isnan(drift) or results.baseline_recheck is None:
        return []
    base = results.system(BASELINE)
    start = base.single.median_decode_tps if base is not None and base.single is not None else math.nan
    out = [f"Baseline re-check: in-process decode {_num(start)} tok/s at the start, "
           f"{_num(results.baseline_recheck.median_decode_tps)} at the end ({drift:+.1%})"]
    if abs(drift) > DRIFT_WARNING:
        out.append("WARNING: the machine was not quiet during the run (the baseline moved by more than "
                   f"{DRIFT_WARNING:.0%}): ratios between systems are not reliable; run again on a quiet machine")
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
    parts += ["Generation (ratios against llama-cpp-python in process, one request at a time):",
              render_systems(results, levels), "", *_with_blank(render_drift(results)), *_render_edge(results), "",
              "Targets (issue 8):", render_targets(checks)]
    if results.errors:
        parts += ["", "Errors:", *(f"- {e}" for e in results.errors)]
    return "\n".join(parts)
