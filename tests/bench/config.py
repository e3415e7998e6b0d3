"""The benchmark's settings: one frozen value, built from the command line (pure).

``--quick`` swaps in a tiny model and few requests (seconds, for developing the
harness); the defaults are issue 8's: the ~110M F16 model, 128 tokens per request,
1/2/4/8 streams, 3 interleaved rounds per level of ``max(N, 4)`` requests each, 2000
``GET /api/version`` over 16 connections.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.model import FULL_DIMS, QUICK_DIMS, BenchDims

__all__ = ["BenchConfig", "parse_args"]


@dataclass(frozen=True)
class BenchConfig:
    """Everything a run needs to know; the same values drive every system under test."""

    dims: BenchDims = FULL_DIMS
    threads: int = 2
    num_predict: int = 128
    num_ctx: int = 512  # per sequence, in every system
    parallel: int = 8  # OLLAMA_NUM_PARALLEL
    levels: tuple[int, ...] = (1, 2, 4, 8)
    min_requests: int = 4  # per level and round: each of N streams sends ceil(min_requests / N)
    rounds: int = 3  # per level: every system once per round, in a rotated order
    control_plane_streams: int = 8
    rps_requests: int = 2000
    rps_connections: int = 16
    rps_rounds: int = 3
    request_timeout_s: float = 300.0
    start_timeout_s: float = 120.0
    skip: frozenset[str] = field(default_factory=frozenset)  # "llama-server", "rps", "control-plane"
    json_path: Path | None = None
    cache_dir: Path | None = None
    work_dir: Path | None = None
    keep: bool = False
    quick: bool = False

    def per_stream(self, streams: int) -> int:
        """Requests each of ``streams`` clients sends at one level (at least one)."""
        return max(1, math.ceil(self.min_requests / streams))

    def summary(self) -> dict[str, object]:
        """The settings as printed and written to JSON."""
        return {
            "model_parameters": self.dims.parameter_count(),
            "dims": f"embd={self.dims.n_embd} layers={self.dims.n_layer} heads={self.dims.n_head} "
                    f"ffn={self.dims.n_ff} vocab={self.dims.n_vocab} F16",
            "threads": self.threads, "num_predict": self.num_predict, "num_ctx": self.num_ctx,
            "parallel": self.parallel, "levels": list(self.levels), "min_requests": self.min_requests,
            "rounds": self.rounds,
            "rps_requests": self.rps_requests, "rps_connections": self.rps_connections, "quick": self.quick,
        }


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    """The config for a command line (``python -m tests.bench --help``)."""
    parser = argparse.ArgumentParser(prog="scripts/bench", description=(
        "Benchmark ollama-actors against llama-cpp-python in process and its own server "
        "(issue 8). Prints a table of figures, ratios and targets; writes JSON."))
    parser.add_argument("--quick", action="store_true", help="tiny model and few requests: check the harness")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="llama.cpp threads in every system (default: 2, or 1 on one core)")
    parser.add_argument("--num-predict", type=int, help="tokens per request (default 128; quick 16)")
    parser.add_argument("--min-requests", type=int, help="requests per level and round: each of N streams "
                        "sends ceil(M / N) (default 4; quick 2)")
    parser.add_argument("--rounds", type=int, help="rounds per level, the systems in a rotated order each "
                        "round; figures are medians over rounds (default 3; quick 2)")
    parser.add_argument("--json", type=Path, dest="json_path", help="where to write the results "
                        "(default: results.json in the run's folder)")
    parser.add_argument("--cache-dir", type=Path, help="where the generated model is kept "
                        "(default ~/.cache/ollama-actors-bench)")
    parser.add_argument("--work-dir", type=Path, help="the run's folder: logs, store (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the daemon's store after the run")
    parser.add_argument("--skip", action="append", default=[], choices=["llama-server", "rps", "control-plane"],
                        help="leave out a part (repeatable)")
    args = parser.parse_args(argv)
    quick = BenchConfig(dims=QUICK_DIMS, num_predict=16, num_ctx=256, min_requests=2, rounds=2,
                        rps_requests=200, rps_rounds=1, quick=True) if args.quick else BenchConfig()
    return BenchConfig(**{
        **quick.__dict__,
        "threads": args.threads,
        "num_predict": args.num_predict or quick.num_predict,
        "min_requests": args.min_requests or quick.min_requests,
        "rounds": max(1, args.rounds or quick.rounds),
        "json_path": args.json_path, "cache_dir": args.cache_dir, "work_dir": args.work_dir,
        "keep": args.keep, "skip": frozenset(args.skip),
    })
