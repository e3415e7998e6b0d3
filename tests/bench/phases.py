"""The benchmark's measurements, one function per system or figure.

Each system is a ``Burst``: one round of one level (the same prompts for every
system in that round), returning the round's summary; ``run`` interleaves them.
Each function returns plain results; starting and stopping servers is
``servers.ServerStack``'s job, and all figures are computed by ``stats``. Every wait is bounded (request timeouts,
level deadlines, start deadlines).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio

from tests.bench.config import BenchConfig
from tests.bench.inprocess import rss_kib
from tests.bench.loadgen import (
    Generate,
    hammer,
    ollama_generate,
    openai_completion,
    poll_control_plane,
    run_level,
)
from tests.bench.results import ControlPlane, RequestsPerSecond
from tests.bench.servers import LineReader, Server, ServerStack, create_model, free_port, python_tool, runner_pids
from tests.bench.stats import LevelSummary, RequestResult, median, percentile, summarize_level

__all__ = [
    "Burst",
    "InProcessServer",
    "MODEL_NAME",
    "create_bench_model",
    "daemon_env",
    "daemon_version",
    "llama_server_generate",
    "measure_control_plane",
    "http_burst",
    "level_timeout_s",
    "measure_rps",
    "model_parameters",
    "ours_generate",
    "ours_openai",
    "runner_rss_kib",
    "settle",
    "start_bare_app",
    "start_daemon",
    "start_llama_server",
    "warm_up",
]

MODEL_NAME = "bench:latest"
CONTROL_PATHS = ("/api/version", "/api/tags", "/api/ps")


def _prompt_plan(config: BenchConfig, prompts: Sequence[str], streams: int) -> list[list[str]]:
    """The waves of one level: wave ``k`` holds each stream's ``k``-th prompt (as ``run_level`` deals them)."""
    per = config.per_stream(streams)
    return [[prompts[(i * per + k) % len(prompts)] for i in range(streams)] for k in range(per)]


Burst = Callable[[int, Sequence[str]], LevelSummary]
"""One round of one level for one system: (streams, the round's prompts) → its summary."""


def level_timeout_s(config: BenchConfig, streams: int) -> float:
    """The deadline of one burst: every request's timeout, as many times as requests wait in turn."""
    per = config.per_stream(streams)
    return config.request_timeout_s * per * max(1, streams // config.parallel + 1) + 60


class InProcessServer:
    """(a): llama-cpp-python in a long-lived child process, serving bursts on command,
    each burst's waves one request at a time (``tests.bench.inprocess``).

    Started once (model loaded, one warm-up completion) and kept for the whole
    generation phase, so that it takes its turn in every round like the servers.
    Every reply is awaited with a deadline; the child is in the ``ServerStack``, so it
    is stopped when the run ends however it ends.
    """

    def __init__(self, servers: ServerStack, config: BenchConfig, model: Path, warmup: str) -> None:
        spec = {"model": str(model), "n_ctx": config.num_ctx, "n_threads": config.threads,
                "num_predict": config.num_predict, "warmup_prompt": warmup}
        spec_path = servers.folder / "inprocess-spec.json"
        spec_path.write_text(json.dumps(spec))
        self._servers = servers
        self._config = config
        self.process = servers.spawn("inprocess", [sys.executable, "-m", "tests.bench.inprocess", str(spec_path)],
                                     cwd=Path(__file__).resolve().parents[2])
        self._reader = LineReader(self.process, f"in-process baseline (log: {servers.folder / 'inprocess.log'})")
        try:
            ready = self._reply(config.start_timeout_s + config.request_timeout_s)
            if not ready.get("ready"):
                raise RuntimeError(f"in-process baseline: unexpected first reply {ready!r}")
        except BaseException:
            self.close()
            raise

    def _reply(self, timeout_s: float) -> dict[str, Any]:
        return dict(json.loads(self._reader.read_line(timeout_s)))

    def _send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()

    def burst(self, streams: int, prompts: Sequence[str]) -> LevelSummary:
        """One round of a level: its bursts of ``streams`` requests (as ``run_level`` deals the
        prompts), each served one request at a time."""
        waves = _prompt_plan(self._config, prompts, streams)
        self._send({"waves": waves})
        data = self._reply(self._config.request_timeout_s * sum(map(len, waves)) + 60)
        num_predict = self._config.num_predict
        results = [RequestResult(r["start"], r["first"], r["end"], r["tokens"], num_predict, r["tokens"], r["error"])
                   for wave in data["waves"] for r in wave]
        wall = max(r.end for r in results) - min(r.start for r in results)
        return summarize_level(streams, results, wall)

    def rss_kib(self) -> int:
        return rss_kib(self.process.pid)

    def close(self) -> None:
        """Ask the child to quit, then stop its group (SIGTERM, SIGKILL) whatever it did."""
        with contextlib.suppress(OSError, AssertionError):
            self._send({"quit": True})
        self._servers.stop_child(self.process)


def http_burst(generate: Generate, config: BenchConfig) -> Burst:
    """A server's round of a level: ``N`` concurrent streams, each sending ``per_stream`` requests."""
    def burst(streams: int, prompts: Sequence[str]) -> LevelSummary:
        results, wall = trio.run(partial(run_level, generate, prompts, streams=streams,
                                         per_stream=config.per_stream(streams),
                                         timeout_s=level_timeout_s(config, streams)))
        return summarize_level(streams, results, wall)

    return burst


def warm_up(generate: Generate, prompt: str, timeout_s: float) -> RequestResult:
    """One unmeasured request: loads the model, warms caches and connections."""
    results, _ = trio.run(partial(run_level, generate, [prompt], streams=1, per_stream=1, timeout_s=timeout_s))
    return results[0]


def daemon_env(config: BenchConfig, port: int, models: Path) -> dict[str, str]:
    """The daemon's environment: ours, with none of the caller's ``OLLAMA_*`` settings,
    and a home of its own (``serve`` creates ``~/.ollama/id_ed25519`` there, not in
    the user's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env.update({
        "HOME": str(models.parent),
        "OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_MODELS": str(models), "OLLAMA_SOCKET": "",
        "OLLAMA_NUM_PARALLEL": str(config.parallel), "OLLAMA_KEEP_ALIVE": "-1",
        "OLLAMA_NUM_THREAD": str(config.threads), "OLLAMA_ACTORS_BUNDLED_MODELS": "false",
    })
    return env


def start_daemon(servers: ServerStack, config: BenchConfig, folder: Path) -> Server:
    """``ollama-actors serve`` on a free loopback port over an empty store in ``folder``."""
    port = free_port()
    argv = python_tool("ollama-actors") + ["serve"]
    return servers.start("daemon", argv, port=port, env=daemon_env(config, port, folder / "models"),
                         ready_path="/api/version", ready_timeout_s=config.start_timeout_s)


def model_parameters(config: BenchConfig) -> dict[str, object]:
    """The model's parameters at create, so ``/v1`` (which cannot pass them) loads the same runner."""
    return {"num_ctx": config.num_ctx, "num_thread": config.threads, "temperature": 0, "seed": 1,
            "num_predict": config.num_predict}


def create_bench_model(server: Server, config: BenchConfig, model: Path) -> None:
    create_model(server.base_url, MODEL_NAME, model, model_parameters(config))


def ours_generate(server: Server, config: BenchConfig) -> Generate:
    return ollama_generate(server.base_url, MODEL_NAME, model_parameters(config))


def ours_openai(server: Server, config: BenchConfig) -> Generate:
    return openai_completion(server.base_url, MODEL_NAME, max_tokens=config.num_predict, usage=True)


def runner_rss_kib(server: Server) -> int:
    """The RSS of the daemon's (only) runner process; 0 if none is running."""
    pids = runner_pids(server.base_url)
    return max((rss_kib(pid) for pid in pids), default=0)


def measure_control_plane(server: Server, config: BenchConfig, prompts: Sequence[str]) -> ControlPlane:
    """Poll ``CONTROL_PATHS`` one at a time while ``control_plane_streams`` streams generate."""
    streams = config.control_plane_streams
    generate = ours_generate(server, config)

    async def main() -> tuple[list[RequestResult], dict[str, list[float]]]:
        done = trio.Event()
        box: dict[str, list[RequestResult]] = {}

        async def load() -> None:
            try:
                box["results"], _ = await run_level(generate, prompts, streams=streams, per_stream=1,
                                                    timeout_s=config.request_timeout_s + 60)
            finally:
                done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(load)
            latencies = await poll_control_plane(server.base_url, CONTROL_PATHS, done)
        return box["results"], latencies

    results, latencies = trio.run(main)
    return ControlPlane(
        streams=streams,
        p50_s={p: median(v) for p, v in latencies.items()},
        p99_s={p: percentile(v, 99) for p, v in latencies.items()},
        samples={p: len(v) for p, v in latencies.items()},
        truncated_streams=sum(r.truncated for r in results),
    )


def measure_rps(daemon: Server, bare: Server, config: BenchConfig) -> RequestsPerSecond:
    """``GET /api/version`` against the daemon and the bare app, alternating rounds; medians."""
    def one(server: Server, total: int) -> tuple[float, int]:
        result = trio.run(partial(hammer, "127.0.0.1", server.port, "/api/version", total=total,
                                  connections=config.rps_connections, timeout_s=config.request_timeout_s))
        return result.rps, result.errors

    for server in (daemon, bare):
        one(server, min(200, config.rps_requests))  # warm-up: connections, code paths
    ours: list[float] = []
    theirs: list[float] = []
    errors = 0
    for _ in range(config.rps_rounds):
        for server, sink in ((bare, theirs), (daemon, ours)):
            rps, failed = one(server, config.rps_requests)
            sink.append(rps)
            errors += failed
    return RequestsPerSecond(config.rps_requests, config.rps_connections, median(ours), median(theirs),
                             tuple(ours), tuple(theirs), errors)


def start_bare_app(servers: ServerStack, config: BenchConfig, version: str) -> Server:
    port = free_port()
    root = str(Path(__file__).resolve().parents[2])  # the repository, for ``-m tests.bench.bare_app``
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    return servers.start("bare-quart-trio", [sys.executable, "-m", "tests.bench.bare_app", str(port), version],
                         port=port, env=env, ready_path="/api/version",
                         ready_timeout_s=config.start_timeout_s)


def daemon_version(server: Server) -> str:
    return str(httpx.get(f"{server.base_url}/api/version", timeout=10.0).json()["version"])


def start_llama_server(servers: ServerStack, config: BenchConfig, model: Path) -> Server:
    """(c): ``python -m llama_cpp.server`` with the same model, threads and per-sequence context.

    ``--interrupt_requests False``: by default a second request cuts the running stream
    short; without it requests wait for the server's lock in turn, which is the fair
    comparison (issue 8 counts truncated responses as failures).
    """
    port = free_port()
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_NAME,
            "--n_threads", str(config.threads), "--n_threads_batch", str(config.threads),
            "--n_ctx", str(config.num_ctx), "--host", "127.0.0.1", "--port", str(port),
            "--interrupt_requests", "False", "--verbose", "False"]
    return servers.start("llama-cpp-python-server", argv, port=port, env=dict(os.environ),
                         ready_path="/v1/models", ready_timeout_s=config.start_timeout_s)


def llama_server_generate(server: Server, config: BenchConfig) -> Generate:
    return openai_completion(server.base_url, MODEL_NAME, max_tokens=config.num_predict, usage=False)


def settle(seconds: float = 1.0) -> None:
    """A short pause so a just-started process's RSS reflects its steady state."""
    time.sleep(seconds)

