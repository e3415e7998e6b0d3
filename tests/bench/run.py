"""The benchmark run: every system on one model, interleaved, then the report and the JSON.

Order: the model (cached); (a) llama-cpp-python in process, a long-lived child that
serves bursts on command; the daemon with no model (its RSS, then ``GET /api/version``
against a bare Quart-trio app); the model created through the API; llama-cpp-python's
server (c). Then the generation phase, every server up the whole time: for each level,
``rounds`` rounds, each round one burst of the level's requests for every system in
turn, the order rotated from round to round (A B C D, then B C D A, …), so that a slow
period of the machine (its speed drifts over seconds) falls on every system alike;
a level's figures are the medians over its rounds. Systems never run side by side, so
none competes with another for the cores. Then the control plane polled while 8
streams generate, the RSS figures, the servers stopped, and (a) again at one stream,
to show whether the machine stayed quiet. A part that fails is recorded and the run
goes on; every server and child is stopped when the run ends, however it ends.

Exit status: 0 when every part ran and no response was truncated (targets may
still fail: they are the project's, not the harness's), 1 otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

import llama_cpp

from tests.bench import phases
from tests.bench.config import BenchConfig, parse_args
from tests.bench.inprocess import rss_kib
from tests.bench.loadgen import make_prompts
from tests.bench.model import cached_bench_model, kv_cache_bytes
from tests.bench.report import format_report
from tests.bench.results import (
    BASELINE,
    LLAMA_SERVER,
    OURS_GENERATE,
    OURS_OPENAI,
    BenchResults,
    ControlPlane,
    Memory,
    RequestsPerSecond,
    SystemResult,
    to_json,
)
from tests.bench.servers import Server, ServerStack
from tests.bench.stats import LevelSummary, combine_rounds, rotated_orders
from tests.bench.targets import evaluate_targets

__all__ = ["PromptPlan", "machine_info", "main", "measure_generation", "run_benchmark"]

T = TypeVar("T")
MIB = 1024 * 1024


class PromptPlan:
    """Distinct prompts per round and level (and for warm-up, the re-check and the control-plane wave).

    Every system gets the same prompts in the same round of a level; no two rounds or
    levels share one, so a server's prompt cache cannot carry earlier work over.
    ``levels`` is the first round's.
    """

    def __init__(self, config: BenchConfig) -> None:
        counts = [config.per_stream(n) * n for n in config.levels]
        recheck = config.per_stream(1)
        total = sum(counts) * config.rounds + recheck + config.control_plane_streams + 1
        self.all = make_prompts(total)
        self.rounds: list[dict[int, list[str]]] = []
        offset = 0
        for _ in range(config.rounds):
            level: dict[int, list[str]] = {}
            for streams, count in zip(config.levels, counts):
                level[streams] = self.all[offset:offset + count]
                offset += count
            self.rounds.append(level)
        self.levels = self.rounds[0]
        self.recheck = self.all[offset:offset + recheck]
        offset += recheck
        self.control_plane = self.all[offset:offset + config.control_plane_streams]
        self.warm_up = self.all[-1]


def machine_info() -> dict[str, object]:
    """What the figures depend on: CPU, cores, memory, versions, and the load before the run."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")), "0")
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__, "loadavg_1m_at_start": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def _attempt(errors: list[str], label: str, fn: Callable[[], T]) -> T | None:
    """``fn()``, or None with the failure recorded: one broken part must not hide the others."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - recorded in the report, the run goes on
        errors.append(f"{label}: {type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
        return None


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_benchmark(config: BenchConfig, folder: Path) -> BenchResults:
    """Measure everything (see the module docstring) and return the results.

    A SIGTERM kills every child process group at once and exits 143: unwinding through
    ``trio.run`` from a signal handler is not reliable, and no server may outlive the run.
    """
    with ServerStack(folder) as servers:
        previous = signal.signal(signal.SIGTERM, partial(_die_on_sigterm, servers))
        try:
            return _measure_all(servers, config)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _die_on_sigterm(servers: ServerStack, signum: int, frame: object) -> None:
    servers.kill_all()
    os._exit(128 + signum)


def _measure_all(servers: ServerStack, config: BenchConfig) -> BenchResults:
    errors: list[str] = []
    machine = machine_info()
    _log(f"model: writing or reusing {config.dims.parameter_count() / 1e6:.1f}M parameters")
    model = cached_bench_model(config.dims, config.cache_dir)
    plan = PromptPlan(config)
    bursts: dict[str, phases.Burst] = {}
    _log("(a) llama-cpp-python in process: loading (a child that serves bursts on command)")
    base = _attempt(errors, "in-process", lambda: phases.InProcessServer(servers, config, model, plan.warm_up))
    if base is not None:
        bursts[BASELINE] = base.burst
    daemon: Server | None = None
    idle_kib = 0
    rps: RequestsPerSecond | None = None
    started = _attempt(errors, "daemon", lambda: _start_daemon(servers, config, model, plan, errors))
    if started is not None:
        daemon, idle_kib, rps = started
        bursts[OURS_GENERATE] = phases.http_burst(phases.ours_generate(daemon, config), config)
        bursts[OURS_OPENAI] = phases.http_burst(phases.ours_openai(daemon, config), config)
    llama: Server | None = None
    if "llama-server" not in config.skip:
        _log("(c) llama-cpp-python server: starting")
        llama = _attempt(errors, "llama-cpp-python server", lambda: _start_llama_server(servers, config, model, plan))
        if llama is not None:
            bursts[LLAMA_SERVER] = phases.http_burst(phases.llama_server_generate(llama, config), config)
    systems = measure_generation(bursts, config, plan, errors)
    cp: ControlPlane | None = None
    memory: Memory | None = None
    if daemon is not None:
        if "control-plane" not in config.skip:
            _log(f"control plane while {config.control_plane_streams} streams generate")
            cp = _attempt(errors, "control plane", lambda: phases.measure_control_plane(
                daemon, config, plan.control_plane))
        if base is not None:
            memory = _attempt(errors, "RSS", lambda: Memory(
                idle_kib / 1024, phases.runner_rss_kib(daemon) / 1024, base.rss_kib() / 1024,
                kv_cache_bytes(config.dims, config.num_ctx * config.parallel) / MIB,
                kv_cache_bytes(config.dims, config.num_ctx) / MIB))
        servers.stop(daemon)
    if llama is not None:
        servers.stop(llama)
    recheck = None
    if base is not None:
        _log("(a) again at 1 stream, the others stopped: did the machine stay quiet?")
        recheck = _attempt(errors, "in-process re-check", lambda: base.burst(1, plan.recheck))
        base.close()
    machine["loadavg_1m_at_end"] = os.getloadavg()[0]
    return BenchResults(config.summary(), machine, tuple(systems), cp, rps, memory, tuple(errors), recheck)


def measure_generation(
    bursts: Mapping[str, phases.Burst], config: BenchConfig, plan: PromptPlan, errors: list[str]
) -> list[SystemResult]:
    """Every level in ``rounds`` rounds, the systems in a rotated order each round; medians over rounds.

    A system whose burst fails is recorded in ``errors`` and left out of the rounds
    after it (its levels measured so far are kept).
    """
    names = list(bursts)
    measured: dict[str, dict[int, list[LevelSummary]]] = {name: {n: [] for n in config.levels} for name in names}
    failed: set[str] = set()
    for streams in config.levels:
        for index, order in enumerate(rotated_orders(names, config.rounds)):
            order = [name for name in order if name not in failed]
            _log(f"{streams} stream(s), round {index + 1}/{config.rounds}: {' → '.join(order)}")
            for position, name in enumerate(order):
                summary = _attempt(errors, f"{name} at {streams} stream(s), round {index + 1}",
                                   partial(bursts[name], streams, plan.rounds[index][streams]))
                if summary is None:
                    failed.add(name)
                    continue
                measured[name][streams].append(dataclasses.replace(summary, round=index, position=position))
    return [SystemResult(name, tuple(combine_rounds(n, rounds) for n, rounds in measured[name].items() if rounds))
            for name in names if any(measured[name].values())]


def _start_daemon(
    servers: ServerStack, config: BenchConfig, model: Path, plan: PromptPlan, errors: list[str]
) -> tuple[Server, int, RequestsPerSecond | None]:
    """The daemon started, its idle RSS, requests/s against the bare app, the model created and warm."""
    _log("(b) ollama-actors: starting the daemon")
    daemon = phases.start_daemon(servers, config, servers.folder)
    phases.settle()
    idle_kib = rss_kib(daemon.pid)
    rps = None
    if "rps" not in config.skip:
        _log("GET /api/version: daemon against a bare Quart-trio app")
        bare = phases.start_bare_app(servers, config, phases.daemon_version(daemon))
        rps = _attempt(errors, "requests/s", lambda: phases.measure_rps(daemon, bare, config))
        servers.stop(bare)
    _log("creating the model through /api/blobs and /api/create")
    phases.create_bench_model(daemon, config, model)
    for generate in (phases.ours_generate(daemon, config), phases.ours_openai(daemon, config)):
        warm = phases.warm_up(generate, plan.warm_up, config.request_timeout_s + 120)
        if warm.error:
            raise RuntimeError(f"warm-up failed: {warm.error}")
    return daemon, idle_kib, rps


def _start_llama_server(servers: ServerStack, config: BenchConfig, model: Path, plan: PromptPlan) -> Server:
    server = phases.start_llama_server(servers, config, model)
    warm = phases.warm_up(phases.llama_server_generate(server, config), plan.warm_up, config.request_timeout_s)
    if warm.error:
        raise RuntimeError(f"warm-up failed: {warm.error}")
    return server


def write_json(results: BenchResults, checks: Sequence[object], path: Path) -> None:
    """The results and the targets' verdicts as one JSON document."""
    document = {"results": to_json(results),
                "targets": [{**to_json(c), "passed": c.passed} for c in checks]}  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the report, write the JSON; see the module docstring for the status."""
    config = parse_args(argv)
    folder = config.work_dir or Path(tempfile.mkdtemp(prefix="ollama-actors-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    _log(f"run folder (logs): {folder}")
    try:
        results = run_benchmark(config, folder)
    finally:
        if not config.keep:
            shutil.rmtree(folder / "models", ignore_errors=True)
    checks = evaluate_targets(results)
    print(format_report(results, checks, config.levels))
    json_path = config.json_path or folder / "results.json"
    write_json(results, checks, json_path)
    print(f"\nJSON: {json_path}")
    truncated = sum(s.truncated for s in results.systems)
    return 1 if results.errors or truncated else 0
