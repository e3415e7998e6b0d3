"""Statistics over measured requests: percentiles and per-level summaries (pure).

One definition of every figure, shared by all systems under test, so that a ratio
compares like with like: a request's time to first token, its decode rate (tokens
after the first over the time after the first), a level's aggregate throughput
(all generated tokens over the wall time of the level) and its p95 latency.

A level is measured in rounds (the systems interleaved, so that a slow period of the
machine hits all of them alike); ``combine_rounds`` gives the level's figures as the
medians of its rounds' figures.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "LevelSummary",
    "RequestResult",
    "combine_rounds",
    "median",
    "percentile",
    "rotated_orders",
    "sequential_latencies",
    "summarize_level",
]


@dataclass(frozen=True)
class RequestResult:
    """One generation as the client saw it; times in seconds from the client's clock.

    ``start`` is when the request was sent (for a wave served one at a time, when the
    wave started: the request waited in line), ``first`` when the first token arrived,
    ``end`` when the last did. ``tokens`` is what the server reported (or the chunk
    count where it reports nothing), ``expected`` the ``num_predict`` asked for.
    """

    start: float
    first: float
    end: float
    tokens: int
    expected: int
    chunks: int = 0
    error: str | None = None

    @property
    def latency(self) -> float:
        return self.end - self.start

    @property
    def ttft(self) -> float:
        return self.first - self.start

    @property
    def decode_rate(self) -> float:
        """Tokens/s after the first token (the decode phase alone)."""
        span = self.end - self.first
        return (self.tokens - 1) / span if span > 0 and self.tokens > 1 else 0.0

    @property
    def truncated(self) -> bool:
        return self.error is not None or self.tokens != self.expected


@dataclass(frozen=True)
class LevelSummary:
    """A concurrency level's figures: what the table and the targets read.

    For a level measured in rounds (``combine_rounds``), every figure is the median of
    the rounds' figures, ``requests`` and ``truncated`` are totals, ``samples`` holds
    every round's requests (each round's times relative to its own first send) and
    ``rounds`` each round's own summary. A round's summary has ``round`` (0-based) and
    ``position`` (its system's place in that round's order) set, and no ``rounds``.
    """

    streams: int
    requests: int
    truncated: int
    wall_s: float
    aggregate_tps: float
    p50_latency_s: float
    p95_latency_s: float
    median_ttft_s: float
    median_decode_tps: float
    samples: tuple[RequestResult, ...] = ()  # every request, times relative to the level's (round's) first send
    rounds: tuple[LevelSummary, ...] = ()
    round: int | None = None
    position: int | None = None

    def spread(self, field: str) -> tuple[float, float]:
        """(min, max) of ``field`` over the rounds (NaN, NaN without rounds or values)."""
        values = [v for v in (float(getattr(r, field)) for r in self.rounds) if not math.isnan(v)]
        return (min(values), max(values)) if values else (math.nan, math.nan)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between ranks (numpy's default).

    NaN for no values: a figure that could not be measured must not read as zero.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def sequential_latencies(durations: Sequence[float]) -> list[float]:
    """Latencies of requests that all arrive at once and are served one after another.

    Request ``i`` waits for the ``i`` before it: its latency is the running sum.
    This is what "serving one request at a time" costs a burst of clients.
    """
    out: list[float] = []
    total = 0.0
    for duration in durations:
        total += duration
        out.append(total)
    return out


def summarize_level(streams: int, results: Sequence[RequestResult], wall_s: float) -> LevelSummary:
    """Figures of one level from its requests and its wall time (first send to last token)."""
    good = [r for r in results if r.error is None]
    tokens = sum(r.tokens for r in good)
    origin = min((r.start for r in results), default=0.0)
    return LevelSummary(
        streams=streams,
        requests=len(results),
        truncated=sum(r.truncated for r in results),
        wall_s=wall_s,
        aggregate_tps=tokens / wall_s if wall_s > 0 else math.nan,
        p50_latency_s=median([r.latency for r in good]),
        p95_latency_s=percentile([r.latency for r in good], 95),
        median_ttft_s=median([r.ttft for r in good]),
        median_decode_tps=median([r.decode_rate for r in good]),
        samples=tuple(dataclasses.replace(r, start=r.start - origin, first=r.first - origin, end=r.end - origin)
                      for r in results),
    )


def combine_rounds(streams: int, rounds: Sequence[LevelSummary]) -> LevelSummary:
    """One level's figures from its rounds: the median over rounds of each figure.

    Medians rather than means or pooled requests: a round that fell into a slow period
    of the machine moves a median of three by nothing (the ratios between systems,
    measured in the same rounds, are what the benchmark is after). NaN figures (a
    round with no good request) are left out; NaN when no round has one.
    """
    if not rounds:
        raise ValueError("a level needs at least one round")

    def med(field: str) -> float:
        return median([v for v in (float(getattr(r, field)) for r in rounds) if not math.isnan(v)])

    return LevelSummary(
        streams=streams,
        requests=sum(r.requests for r in rounds),
        truncated=sum(r.truncated for r in rounds),
        wall_s=med("wall_s"),
        aggregate_tps=med("aggregate_tps"),
        p50_latency_s=med("p50_latency_s"),
        p95_latency_s=med("p95_latency_s"),
        median_ttft_s=med("median_ttft_s"),
        median_decode_tps=med("median_decode_tps"),
        samples=tuple(sample for r in rounds for sample in r.samples),
        rounds=tuple(rounds),
    )


def rotated_orders(names: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of the systems in each round: round ``r`` starts ``r`` places further on.

    ``A B C D``, then ``B C D A``, then ``C D A B``…: every system runs in every place
    as often as the rounds allow, so no system is always the one right after another's
    load, and a slow period of the machine spreads over all of them.
    """
    if not names:
        return [[] for _ in range(rounds)]
    return [[*names[r % len(names):], *names[:r % len(names)]] for r in range(rounds)]
