"""Load generators: streaming generation clients, concurrency levels, pollers, a GET hammer.

Every system under test is driven by the same code with the same prompts, so the
figures differ only by the server. Times come from ``time.perf_counter`` in this
(the harness) process. Every wait is bounded: httpx timeouts on each request and
``trio.fail_after`` around each level; errors become failed results, not hangs.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx
import trio

from tests.bench.stats import RequestResult

__all__ = [
    "Generate",
    "HammerResult",
    "hammer",
    "make_prompts",
    "ollama_generate",
    "openai_completion",
    "poll_control_plane",
    "run_level",
]

Generate = Callable[[httpx.AsyncClient, str], Awaitable[RequestResult]]
"""A streaming generation of one prompt: (client, prompt) → the request as measured."""

_WORDS = """
once upon a time there was a little girl named lily she loved to play outside in the
park one day she saw a big red ball under a tree and her friend the dog ran to get it
the sun was warm and the birds sang in the forest near the river where a boat sailed
""".split()


def make_prompts(count: int, *, words: int = 40, seed: int = 8) -> list[str]:
    """``count`` distinct deterministic prompts of ``words`` words (~50-60 tokens each).

    Distinct so that no server reuses a cached prompt prefix across requests
    (each request pays its own prompt processing, as different users' would).
    """
    rng = random.Random(seed)
    return [f"{i}: " + " ".join(rng.choice(_WORDS) for _ in range(words)) for i in range(count)]


def ollama_generate(base_url: str, model: str, options: dict[str, object]) -> Generate:
    """Streaming ``POST /api/generate`` (raw prompt); tokens from the final line's ``eval_count``."""
    expected = int(options["num_predict"])  # type: ignore[call-overload]

    async def run(client: httpx.AsyncClient, prompt: str) -> RequestResult:
        body = {"model": model, "prompt": prompt, "raw": True, "stream": True, "options": options}
        start = time.perf_counter()
        first, chunks, tokens, error = math.nan, 0, 0, None
        async with client.stream("POST", f"{base_url}/api/generate", json=body) as response:
            if response.status_code != 200:
                error = f"status {response.status_code}: {(await response.aread())[:200]!r}"
            async for line in response.aiter_lines():
                if not line:
                    continue
                event = json.loads(line)
                if event.get("response"):
                    chunks += 1
                    if chunks == 1:
                        first = time.perf_counter()
                if "error" in event:
                    error = str(event["error"])
                if event.get("done"):
                    tokens = int(event.get("eval_count", 0))
        return RequestResult(start, first, time.perf_counter(), tokens, expected, chunks, error)

    return run


def openai_completion(base_url: str, model: str, *, max_tokens: int, usage: bool) -> Generate:
    """Streaming ``POST /v1/completions`` (server-sent events).

    Tokens: the final usage chunk's ``completion_tokens`` when ``usage`` (ollama-actors
    supports ``stream_options.include_usage``), else the count of chunks carrying text
    (llama-cpp-python's server sends one per token; the bench model never emits a
    token whose text is held back). ``finish_reason`` must be ``length``.
    """

    async def run(client: httpx.AsyncClient, prompt: str) -> RequestResult:
        body: dict[str, object] = {"model": model, "prompt": prompt, "max_tokens": max_tokens,
                                   "temperature": 0, "seed": 1, "stream": True}
        if usage:
            body["stream_options"] = {"include_usage": True}
        start = time.perf_counter()
        first, chunks, reported, finish, error = math.nan, 0, None, None, None
        async with client.stream("POST", f"{base_url}/v1/completions", json=body) as response:
            if response.status_code != 200:
                error = f"status {response.status_code}: {(await response.aread())[:200]!r}"
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if "error" in event:
                    error = str(event["error"])
                for choice in event.get("choices") or ():
                    if choice.get("text"):
                        chunks += 1
                        if chunks == 1:
                            first = time.perf_counter()
                    finish = choice.get("finish_reason") or finish
                if event.get("usage"):
                    reported = int(event["usage"].get("completion_tokens", 0))
        if error is None and finish != "length":
            error = f"finish_reason {finish!r}, not 'length'"
        tokens = reported if reported is not None else chunks
        return RequestResult(start, first, time.perf_counter(), tokens, max_tokens, chunks, error)

    return run


async def run_level(
    generate: Generate, prompts: Sequence[str], *, streams: int, per_stream: int, timeout_s: float
) -> tuple[list[RequestResult], float]:
    """``streams`` concurrent clients, each sending ``per_stream`` requests back to back.

    Prompts are dealt round-robin so every system sees the same ones. Returns the
    requests and the wall time from the first send to the last token.
    Raises ``trio.TooSlowError`` past ``timeout_s``.
    """
    results: list[RequestResult] = []
    limits = httpx.Limits(max_connections=streams + 4, max_keepalive_connections=streams + 4)
    timeout = httpx.Timeout(timeout_s, connect=10.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def stream(index: int) -> None:
            for k in range(per_stream):
                prompt = prompts[(index * per_stream + k) % len(prompts)]
                try:
                    results.append(await generate(client, prompt))
                except httpx.HTTPError as exc:
                    now = time.perf_counter()
                    results.append(RequestResult(now, math.nan, now, 0, 1, 0, f"{type(exc).__name__}: {exc}"))

        start = time.perf_counter()
        with trio.fail_after(timeout_s):
            async with trio.open_nursery() as nursery:
                for index in range(streams):
                    nursery.start_soon(stream, index)
        return results, time.perf_counter() - start


async def poll_control_plane(
    base_url: str, paths: Sequence[str], done: trio.Event, *, interval_s: float = 0.02, limit: int = 100_000
) -> dict[str, list[float]]:
    """Latencies (s) of ``GET`` on each path in turn, until ``done`` is set (at most ``limit`` rounds).

    One request at a time, as an operator's ``ollama ps`` would; a pause between
    rounds keeps the poller from becoming the load it measures.
    """
    latencies: dict[str, list[float]] = {path: [] for path in paths}
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(30.0)) as client:
        for _ in range(limit):
            if done.is_set():
                break
            for path in paths:
                start = time.perf_counter()
                (await client.get(path)).raise_for_status()
                latencies[path].append(time.perf_counter() - start)
            await trio.sleep(interval_s)
    return latencies


@dataclass(frozen=True)
class HammerResult:
    """``requests`` GETs over ``connections`` keep-alive connections in ``wall_s`` seconds."""

    requests: int
    connections: int
    errors: int
    wall_s: float

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.wall_s if self.wall_s > 0 else math.nan


async def hammer(host: str, port: int, path: str, *, total: int, connections: int, timeout_s: float) -> HammerResult:
    """Send ``total`` ``GET path`` requests over ``connections`` persistent HTTP/1.1 connections.

    A minimal client (one fixed request, responses framed by ``Content-Length``)
    rather than httpx: on a 2-core machine the load generator shares the CPU with
    the server, and httpx's own cost per request would cap the figure below what
    either server can answer. Raises ``trio.TooSlowError`` past ``timeout_s``.
    """
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n\r\n".encode()
    shares = [total // connections + (1 if i < total % connections else 0) for i in range(connections)]
    errors = 0

    async def one_connection(count: int) -> None:
        nonlocal errors
        stream = await trio.open_tcp_stream(host, port)
        reader = _ResponseReader(stream)
        async with stream:
            for _ in range(count):
                await stream.send_all(request)
                status = await reader.read_response()
                errors += status != 200

    start = time.perf_counter()
    with trio.fail_after(timeout_s):
        async with trio.open_nursery() as nursery:
            for count in shares:
                nursery.start_soon(one_connection, count)
    return HammerResult(total, connections, errors, time.perf_counter() - start)


class _ResponseReader:
    """Reads whole HTTP/1.1 responses (status line, headers, ``Content-Length`` body)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def read_response(self) -> int:
        while b"\r\n\r\n" not in self._buffer:
            await self._fill()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(self._buffer) < length:
            await self._fill()
        self._buffer = self._buffer[length:]
        return status

    async def _fill(self) -> None:
        data = await self._stream.receive_some(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self._buffer += data
