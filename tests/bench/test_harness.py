"""The benchmark harness's own parts work: statistics, judging, the table, the model, the clients.

No timing is asserted and no benchmark runs here: these prove that the figures the
benchmark prints are computed as documented, and that its generated model loads
with the requested shape and always generates exactly ``num_predict`` tokens.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import trio

from tests.bench.config import BenchConfig, parse_args
from tests.bench.loadgen import hammer, make_prompts
from tests.bench.model import EOS_ID, QUICK_DIMS, BenchDims, cached_bench_model, kv_cache_bytes, write_bench_gguf
from tests.bench.inprocess import serve
from tests.bench.report import format_report, format_table, ratio_cell, render_spread
from tests.bench.results import (
    BASELINE,
    LLAMA_SERVER,
    OURS_GENERATE,
    BenchResults,
    ControlPlane,
    Memory,
    RequestsPerSecond,
    SystemResult,
    to_json,
)
from tests.bench.run import PromptPlan, measure_generation
from tests.bench.servers import LineReader
from tests.bench.stats import (
    LevelSummary,
    RequestResult,
    combine_rounds,
    percentile,
    rotated_orders,
    sequential_latencies,
    summarize_level,
)
from tests.bench.targets import evaluate_targets

TINY = BenchDims(n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=128, n_vocab=1200, n_ctx_train=512, seed=3)


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 10.0
    assert percentile([3.0], 99) == 3.0


def test_percentile_of_nothing_is_nan_not_zero() -> None:
    assert math.isnan(percentile([], 95))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_sequential_latencies_are_running_sums() -> None:
    assert sequential_latencies([1.0, 2.0, 0.5]) == [1.0, 3.0, 3.5]


def test_summarize_level_counts_tokens_over_wall_time_and_flags_truncation() -> None:
    results = [
        RequestResult(start=0.0, first=0.1, end=1.1, tokens=11, expected=11),
        RequestResult(start=0.0, first=0.2, end=2.0, tokens=5, expected=11),  # truncated
        RequestResult(start=0.0, first=math.nan, end=0.0, tokens=0, expected=11, error="boom"),
    ]
    level = summarize_level(2, results, wall_s=2.0)
    assert level.aggregate_tps == pytest.approx(8.0)
    assert level.truncated == 2
    assert level.median_ttft_s == pytest.approx(0.15)
    assert results[0].decode_rate == pytest.approx(10.0)


def _level(streams: int, tps: float, p95: float, ttft: float = 0.01, decode: float = 100.0) -> LevelSummary:
    return LevelSummary(streams, 8, 0, 1.0, tps, p95, p95, ttft, decode)


def _results(ours_8: float) -> BenchResults:
    base = SystemResult(BASELINE, (_level(1, 100, 1.0), _level(4, 100, 4.0), _level(8, 100, 8.0)))
    ours = SystemResult(OURS_GENERATE, (_level(1, 98, 1.0, 0.02, 97), _level(4, 180, 2.0), _level(8, ours_8, 4.0)))
    theirs = SystemResult(LLAMA_SERVER, (_level(1, 90, 1.0), _level(4, 50, 5.0), _level(8, 50, 9.0)))
    return BenchResults(
        config={"threads": 2}, machine={"cores": 2}, systems=(base, ours, theirs),
        control_plane=ControlPlane(8, {"/api/ps": 0.002}, {"/api/ps": 0.03}, {"/api/ps": 40}, 0),
        rps=RequestsPerSecond(2000, 16, 900.0, 1000.0),
        memory=Memory(daemon_idle_mib=80, runner_mib=400, inprocess_mib=300, runner_kv_mib=144, inprocess_kv_mib=18),
    )


def test_targets_pass_and_fail_on_the_issues_bounds() -> None:
    checks = {c.name: c for c in evaluate_targets(_results(ours_8=220))}
    assert checks[f"{OURS_GENERATE}: single-stream decode / in-process"].passed  # 0.97 ≥ 0.95
    assert checks[f"{OURS_GENERATE}: time to first token (ms)"].passed  # 20 ≤ 10 + 15
    assert checks[f"{OURS_GENERATE}: aggregate at 4 streams / own single-stream"].passed  # 180/98 ≥ 1.7
    assert checks[f"{OURS_GENERATE}: aggregate at 8 streams / own single-stream"].passed  # 220/98 ≥ 2.1
    assert checks[f"{OURS_GENERATE}: p95 latency at 8 streams / one-at-a-time (in-process)"].passed  # 4/8
    assert checks[f"{OURS_GENERATE}: aggregate at 4 streams / llama-cpp-python server"].passed  # 3.6 ≥ 3
    assert all(c.passed for c in checks.values()), [c for c in checks.values() if not c.passed]
    assert checks["GET /api/version requests/s / bare Quart-trio app"].passed  # 0.9 ≥ 0.85
    assert checks["runner RSS (MiB) vs in-process + 50 MiB + its extra KV cache"].passed  # 400 ≤ 476
    assert checks["daemon RSS without models (MiB)"].passed


def test_targets_fail_when_a_figure_is_missing_or_low() -> None:
    results = _results(ours_8=150)
    checks = {c.name: c for c in evaluate_targets(results)}
    assert not checks[f"{OURS_GENERATE}: aggregate at 8 streams / own single-stream"].passed
    no_server = BenchResults(results.config, results.machine, results.systems[:2])
    missing = {c.name: c for c in evaluate_targets(no_server)}
    assert math.isnan(missing[f"{OURS_GENERATE}: aggregate at 8 streams / llama-cpp-python server"].value)
    assert not missing[f"{OURS_GENERATE}: aggregate at 8 streams / llama-cpp-python server"].passed


def test_report_prints_ratios_against_the_in_process_baseline() -> None:
    results = _results(ours_8=150)
    text = format_report(results, evaluate_targets(results), levels=(1, 4, 8))
    assert "150.0 (×1.50)" in text  # ours at 8 streams against in-process at 8
    assert "PASS" in text and "FAIL" in text
    assert ratio_cell(math.nan, 1.0) == "-" and ratio_cell(2.0, math.nan) == "2.0"
    table = format_table(["a", "bb"], [["xxx", "y"]]).splitlines()
    assert table == ["a    bb", "---  --", "xxx  y"]
    assert to_json(results)["systems"][0]["name"] == BASELINE


def test_prompts_are_deterministic_and_distinct_per_level() -> None:
    assert make_prompts(3) == make_prompts(3)
    plan = PromptPlan(BenchConfig())
    used = [p for n in (1, 2, 4, 8) for p in plan.levels[n]] + plan.control_plane + [plan.warm_up]
    assert len(used) == len(set(used))
    assert len(plan.levels[8]) == 8 and len(plan.levels[1]) == 4  # max(level, 4) requests per round
    rounds = [p for r in plan.rounds for n in (1, 2, 4, 8) for p in r[n]] + plan.recheck + plan.control_plane
    assert len(plan.rounds) == 3 and len(rounds) == len(set(rounds)) == 3 * (4 + 4 + 4 + 8) + 4 + 8
    assert plan.levels == plan.rounds[0]


def test_quick_config_uses_the_tiny_model_and_few_requests() -> None:
    config = parse_args(["--quick", "--skip", "rps"])
    assert config.dims == QUICK_DIMS and config.num_predict == 16 and config.skip == {"rps"}
    assert BenchConfig().per_stream(8) == 1 and BenchConfig().per_stream(1) == 4
    assert config.rounds == 2 and BenchConfig().rounds == 3 and parse_args(["--rounds", "5"]).rounds == 5


def test_full_model_is_about_110m_parameters() -> None:
    assert 105e6 < BenchDims().parameter_count() < 115e6
    assert kv_cache_bytes(BenchDims(), 512) == 2 * 12 * 512 * 768 * 2


def test_model_writer_gives_a_loadable_gguf_of_the_requested_shape(tmp_path: Path) -> None:
    from llama_cpp import Llama

    path = write_bench_gguf(tmp_path / "tiny.gguf", TINY)
    assert path.read_bytes() == write_bench_gguf(tmp_path / "again.gguf", TINY).read_bytes()
    llm = Llama(str(path), n_ctx=256, n_threads=1, verbose=False)
    assert (llm.n_vocab(), llm.n_embd()) == (TINY.n_vocab, TINY.n_embd)
    assert llm.metadata["llama.block_count"] == str(TINY.n_layer)
    assert llm.token_eos() == EOS_ID
    assert len(llm.tokenize(b"once upon a time", add_bos=False)) < len("once upon a time")


def test_generation_never_ends_early_and_streams_one_chunk_per_token(tmp_path: Path) -> None:
    from llama_cpp import Llama

    llm = Llama(str(cached_bench_model(TINY, tmp_path)), n_ctx=256, n_threads=1, verbose=False)
    for prompt in make_prompts(3, words=10):
        chunks = [c["choices"][0] for c in llm.create_completion(prompt, max_tokens=48, temperature=0, seed=1,
                                                                 stream=True)]
        assert sum(1 for c in chunks if c["text"]) == 48
        assert chunks[-1]["finish_reason"] == "length"


async def test_hammer_counts_keep_alive_responses_framed_by_content_length() -> None:
    body = b'{"version":"0.0.0"}'
    response = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def handler(stream: trio.SocketStream) -> None:
        buffer = b""
        async with stream:
            while data := await stream.receive_some(4096):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    _, buffer = buffer.split(b"\r\n\r\n", 1)
                    await stream.send_all(response[:30])  # split writes: the reader must reassemble
                    await stream.send_all(response[30:])

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        result = await hammer("127.0.0.1", port, "/api/version", total=50, connections=4, timeout_s=30)
        nursery.cancel_scope.cancel()
    assert (result.requests, result.errors) == (50, 0)


def test_report_warns_when_the_baseline_moved_during_the_run() -> None:
    results = _results(ours_8=220)
    steady = dataclasses.replace(results, baseline_recheck=_level(1, 100, 1.0, decode=102.0))
    noisy = dataclasses.replace(results, baseline_recheck=_level(1, 100, 1.0, decode=60.0))
    assert steady.baseline_drift == pytest.approx(0.02)
    assert "WARNING" not in format_report(steady, [], levels=(1,))
    assert "(-40.0%)" in format_report(noisy, [], levels=(1,)) and "WARNING" in format_report(noisy, [], levels=(1,))
    assert math.isnan(results.baseline_drift)


def test_rounds_rotate_the_order_of_the_systems() -> None:
    assert rotated_orders(["A", "B", "C", "D"], 3) == [["A", "B", "C", "D"], ["B", "C", "D", "A"],
                                                       ["C", "D", "A", "B"]]
    assert rotated_orders(["A", "B"], 3) == [["A", "B"], ["B", "A"], ["A", "B"]]
    assert rotated_orders([], 2) == [[], []]


def test_a_level_is_the_median_of_its_rounds() -> None:
    sample = RequestResult(0.0, 0.1, 1.0, 8, 8)
    rounds = [dataclasses.replace(_level(4, tps, p95, ttft, decode), samples=(sample,), round=i, position=i)
              for i, (tps, p95, ttft, decode) in enumerate([(100.0, 2.0, 0.01, 50.0), (60.0, 9.0, 0.05, 30.0),
                                                            (110.0, 1.5, 0.02, 55.0)])]
    level = combine_rounds(4, rounds)
    assert (level.aggregate_tps, level.p95_latency_s, level.median_ttft_s, level.median_decode_tps) == (
        100.0, 2.0, 0.02, 50.0)  # the slow round (60 tok/s) moves no median
    assert level.requests == 24 and len(level.samples) == 3 and level.rounds == tuple(rounds)
    assert level.spread("aggregate_tps") == (60.0, 110.0)
    assert combine_rounds(4, rounds[:2]).aggregate_tps == pytest.approx(80.0)
    nan_round = dataclasses.replace(rounds[1], median_ttft_s=math.nan)
    assert combine_rounds(4, [rounds[0], nan_round]).median_ttft_s == 0.01  # a NaN round is left out
    assert math.isnan(_level(1, 1, 1).spread("aggregate_tps")[0])
    with pytest.raises(ValueError):
        combine_rounds(4, [])
    as_json = to_json(level)
    assert [r["round"] for r in as_json["rounds"]] == [0, 1, 2] and as_json["rounds"][0]["samples"]


def test_generation_interleaves_the_systems_per_level_and_drops_a_failed_one() -> None:
    config = BenchConfig(levels=(1, 4), rounds=3)
    plan = PromptPlan(config)
    calls: list[tuple[str, int, tuple[str, ...]]] = []

    def burst(name: str, streams: int, prompts: list[str]) -> LevelSummary:
        calls.append((name, streams, tuple(prompts)))
        if name == "C" and streams == 4:
            raise RuntimeError("down")
        return _level(streams, 10.0 * (len(calls)), 1.0)

    errors: list[str] = []
    systems = measure_generation({n: partial(burst, n) for n in "ABC"}, config, plan, errors)
    assert [c[0] for c in calls] == list("ABCBCACAB" + "ABC" + "BA" + "AB")
    assert [c[1] for c in calls] == [1] * 9 + [4] * 7
    assert calls[0][2] == calls[1][2] == tuple(plan.rounds[0][1]) and calls[3][2] == tuple(plan.rounds[1][1])
    assert len(errors) == 1 and "C at 4 stream(s), round 1" in errors[0]
    by_name = {s.name: s for s in systems}
    assert [lvl.streams for lvl in by_name["C"].levels] == [1]
    a1 = by_name["A"].level(1)
    assert a1 is not None and [(r.round, r.position) for r in a1.rounds] == [(0, 0), (1, 2), (2, 1)]
    assert a1.aggregate_tps == 60.0  # rounds at 10, 60, 80 tok/s (calls 1, 6, 8)


def test_report_shows_the_spread_over_rounds() -> None:
    results = _results(ours_8=220)
    base = results.systems[0]
    rounds = tuple(dataclasses.replace(_level(1, tps, 1.0), round=i) for i, tps in enumerate((90.0, 100.0, 120.0)))
    noisy = dataclasses.replace(base, levels=(combine_rounds(1, rounds), *base.levels[1:]))
    text = "\n".join(render_spread(dataclasses.replace(results, systems=(noisy, *results.systems[1:])), (1, 4)))
    assert "90.0–120.0 (+33%)" in text and "per round 90.0, 100.0, 120.0 (max/min +33%)" in text
    assert f"WARNING: rounds more than 25% apart (max/min) at: {BASELINE} @1." in text
    quiet = tuple(dataclasses.replace(r, aggregate_tps=r.aggregate_tps / 10 + 100) for r in rounds)
    calm = dataclasses.replace(base, levels=(combine_rounds(1, quiet), *base.levels[1:]))
    assert "WARNING" not in "\n".join(render_spread(dataclasses.replace(results, systems=(calm,)), (1,)))
    assert render_spread(results, (1,)) == []  # no rounds, nothing to show


def test_in_process_child_serves_bursts_on_command(tmp_path: Path) -> None:
    spec = {"model": str(cached_bench_model(TINY, tmp_path)), "n_ctx": 256, "n_threads": 1, "num_predict": 6,
            "warmup_prompt": "warm"}
    commands = io.StringIO(json.dumps({"waves": [["a b", "c d"], ["e f"]]}) + "\n\n" + json.dumps({"quit": True})
                           + "\n" + json.dumps({"waves": [["never"]]}) + "\n")
    replies = io.StringIO()
    serve(spec, commands, replies)
    lines = [json.loads(line) for line in replies.getvalue().splitlines()]
    assert len(lines) == 2 and lines[0]["ready"]
    waves = lines[1]["waves"]
    assert [len(w) for w in waves] == [2, 1] and all(r["tokens"] == 6 and r["error"] is None for w in waves for r in w)
    assert waves[0][0]["start"] == waves[0][1]["start"] < waves[0][1]["first"]  # served in turn, one wave start


def test_line_reader_waits_with_a_deadline() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; print('one'); sys.stdout.flush(); time.sleep(30)"],
                             stdout=subprocess.PIPE)
    try:
        reader = LineReader(child, "child")
        assert reader.read_line(30) == b"one"
        with pytest.raises(RuntimeError, match="no reply within"):
            reader.read_line(0.3)
        child.kill()
        child.wait(10)
        with pytest.raises(RuntimeError, match="closed its output"):
            reader.read_line(10)
    finally:
        child.kill()
        child.wait(10)
