"""The scheduler under load, with real runner processes and the generated tiny model.

Queue overflow (503 + Retry-After), 8 clients on 2 models with one loaded at a time,
16 concurrent requests against 2 slots and a queue of 4, clients that leave while
queued, admitted or on the context, a load waiting for a busy runner that must
not be starved, and reuse of a runner whose context is larger than asked. Every
wait is bounded by a deadline or a timeout; a request has reached the queue (or
a slot) when the scheduler's own ``SchedulerStatistics`` say so, never after a
fixed sleep.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from ollama_actors.kernel.messages import call
from ollama_actors.kernel.reply import BlockingReply
from ollama_actors.runner.messages import ModelStatistics, SchedulerInfo, SchedulerStatistics
from tests.fixtures.daemon import RunningDaemon, start_daemon
from tests.fixtures.daemons import upload_and_create
from tests.fixtures.tiny_gguf import write_tiny_llama_gguf

NUM_CTX = 65536  # long enough that num_predict -1 runs far longer than any test
SHORT = {"num_predict": 4, "temperature": 0, "seed": 3, "num_ctx": 2048}
LONG = {"num_predict": -1, "temperature": 0.8, "seed": 3, "num_ctx": NUM_CTX}
BUSY = "server busy, please try again.  maximum pending requests exceeded"
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scheduler-load-models")
    return {
        "one": write_tiny_llama_gguf(folder / "one.gguf", context_length=NUM_CTX),
        "two": write_tiny_llama_gguf(folder / "two.gguf", seed=11, context_length=NUM_CTX),
    }


@pytest.fixture
def open_daemon(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> Iterator[object]:
    with ExitStack() as stack:

        def start(**settings: object) -> RunningDaemon:
            running = start_daemon(tmp_path_factory.mktemp("store"), num_thread=1, **settings)
            stack.callback(running.stop)
            for name, path in models.items():
                upload_and_create(running.base_url, f"{name}:latest", path)
            return running

        yield start


def _generate(daemon: RunningDaemon, model: str = "one", **options: object) -> httpx.Response:
    body = {"model": model, "prompt": "hello", "stream": False, "options": {**SHORT, **options}}
    return httpx.post(f"{daemon.base_url}/api/generate", json=body, timeout=TIMEOUT)


class _Stream:
    """A streaming generate over a raw socket in its own thread, so that the test can
    hang up at any moment (even before the response began): ``first`` is set once a
    chunk arrived, ``status`` holds the response's status code."""

    def __init__(self, daemon: RunningDaemon, options: dict[str, object], model: str = "one") -> None:
        self.first = threading.Event()
        self.status: int | None = None
        self.lines: list[dict[str, object]] = []
        url = httpx.URL(daemon.base_url)
        body = json.dumps({"model": model, "prompt": "tell me a story", "options": options}).encode()
        self.sock = socket.create_connection((url.host, url.port), timeout=60)
        self.sock.sendall(
            f"POST /api/generate HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        buffer = b""
        try:
            while chunk := self.sock.recv(65536):
                buffer += chunk
                if self.status is None and b"\r\n\r\n" in buffer:
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    self.status = int(head.split()[1])
                for line in buffer.split(b"\n"):
                    if line.startswith(b"{"):
                        with contextlib.suppress(ValueError):
                            self.lines.append(json.loads(line))
                            self.first.set()
                buffer = buffer[buffer.rfind(b"\n") + 1:]
        except OSError:
            pass  # we hung up

    def disconnect(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(10)
        assert not self.thread.is_alive()


def _ps(daemon: RunningDaemon) -> list[dict[str, object]]:
    return httpx.get(f"{daemon.base_url}/api/ps", timeout=10).json()["models"]


def _wait_until(condition: object, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


def _statistics(daemon: RunningDaemon) -> SchedulerStatistics:
    scheduler = daemon.names.whereis("scheduler")
    assert scheduler is not None
    reply: BlockingReply[SchedulerStatistics] = BlockingReply()
    call(scheduler, SchedulerInfo(), reply)
    return reply.wait(10)


def _wait_for_scheduler(
    daemon: RunningDaemon, *, deadline_s: float = 30.0, **expected: Callable[[ModelStatistics | None], bool]
) -> SchedulerStatistics:
    """Poll the scheduler until, for each model named, ``expected[model](its entry)``
    holds; fail with the last snapshot after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while True:
        statistics = _statistics(daemon)
        if all(check(statistics.model(name)) for name, check in expected.items()):
            return statistics
        assert time.monotonic() < end, f"scheduler not in the expected state in time: {statistics}"
        time.sleep(0.02)


def _is(state: str | None = None, *, queued: int | None = None, running: int | None = None) -> Callable[
    [ModelStatistics | None], bool
]:
    """A condition on one model's entry: every value given must match."""

    def check(model: ModelStatistics | None) -> bool:
        return (
            model is not None
            and (state is None or model.state == state)
            and (queued is None or model.queued == queued)
            and (running is None or model.running == running)
        )

    return check


def test_an_overflowing_queue_answers_503_with_retry_after(open_daemon) -> None:  # noqa: ANN001
    daemon = open_daemon(num_parallel=1, max_queue=2)
    running = _Stream(daemon, LONG)
    assert running.first.wait(30)
    queued = [_Stream(daemon, LONG) for _ in range(2)]
    _wait_for_scheduler(daemon, one=_is("ready", queued=2, running=1))  # the slot is taken
    shown = httpx.get(f"{daemon.base_url}/x/runner/scheduler", timeout=10).json()  # operators see it too
    assert shown["queue_depth"] == 2
    assert [(m["name"], m["state"], m["queued"], m["running"], m["slots"]) for m in shown["models"]] == [
        ("one:latest", "ready", 2, 1, 1)
    ]
    try:
        response = _generate(daemon, num_ctx=NUM_CTX)
        assert response.status_code == 503
        assert response.json() == {"error": BUSY}
        assert response.headers.get("Retry-After")
        assert _generate(daemon, model="two").status_code == 200  # the queue is per model
    finally:
        running.disconnect()
        while queued:  # they were queued, not refused: each starts once the slot is free
            _wait_until(lambda: any(stream.first.is_set() for stream in queued))
            started = next(stream for stream in queued if stream.first.is_set())
            started.disconnect()
            queued.remove(started)


def test_eight_clients_on_two_models_with_one_loaded_are_all_answered(open_daemon) -> None:  # noqa: ANN001
    daemon = open_daemon(max_loaded_models=1)
    seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.add(len(_ps(daemon)))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(_generate, daemon, ("one", "two")[i % 2]) for i in range(8)]
        responses = [f.result(timeout=120) for f in futures]
    stop.set()
    watcher.join(5)
    assert [r.status_code for r in responses] == [200] * 8
    assert all(r.json()["done"] for r in responses)
    assert max(seen) <= 1  # never two loaded: the other one was evicted
    assert len(_ps(daemon)) == 1


def test_sixteen_requests_on_two_slots_and_a_queue_of_four_complete_or_get_503(open_daemon) -> None:  # noqa: ANN001
    daemon = open_daemon(num_parallel=2, max_queue=4)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(_generate, daemon, num_predict=16) for _ in range(16)]
        responses = [f.result(timeout=120) for f in futures]
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 503}, codes
    assert codes.count(200) >= 2
    for response in responses:
        if response.status_code == 200:
            assert response.json()["done"] and response.json()["response"] is not None
        else:
            assert response.json() == {"error": BUSY}
            assert response.headers.get("Retry-After")
    assert _ps(daemon)[0]["context_length"] == 2048  # each slot sees num_ctx


def test_a_client_leaving_frees_its_queue_place_and_its_slot_promptly(open_daemon) -> None:  # noqa: ANN001
    daemon = open_daemon(num_parallel=1, max_queue=1)
    running = _Stream(daemon, LONG)
    assert running.first.wait(30)
    leaver = _Stream(daemon, LONG)
    _wait_for_scheduler(daemon, one=_is("ready", queued=1, running=1))
    assert _generate(daemon, num_ctx=NUM_CTX).status_code == 503  # the one place is taken
    leaver.disconnect()  # leaves while queued: its place is free again
    _wait_for_scheduler(daemon, one=_is("ready", queued=0, running=1))  # the server saw the hang-up
    follower = _Stream(daemon, LONG)
    _wait_for_scheduler(daemon, one=_is("ready", queued=1, running=1))  # queued, not refused
    assert follower.status is None or follower.status == 200
    assert not follower.first.is_set()  # queued behind the running one
    left_at = time.monotonic()
    running.disconnect()  # leaves mid-generation: the slot frees within one decode step
    assert follower.first.wait(10)
    started_after = time.monotonic() - left_at
    follower.disconnect()
    assert follower.status == 200
    assert started_after < 5.0, started_after
    assert not leaver.lines  # the one that left while queued never ran


def test_a_runner_with_a_larger_context_serves_a_smaller_one_without_reload(open_daemon) -> None:  # noqa: ANN001
    daemon = open_daemon()
    assert _generate(daemon, num_ctx=4096).status_code == 200
    tree_before = httpx.get(f"{daemon.base_url}/x/runner/tree", timeout=10).text
    assert _generate(daemon, num_ctx=1024).status_code == 200
    assert _ps(daemon)[0]["context_length"] == 4096
    assert httpx.get(f"{daemon.base_url}/x/runner/tree", timeout=10).text.count("runner-") == tree_before.count(
        "runner-"
    )
    assert _generate(daemon, num_ctx=8192).status_code == 200  # a larger one reloads
    assert _ps(daemon)[0]["context_length"] == 8192


def test_a_client_leaving_an_admitted_slot_frees_it_while_another_decodes(open_daemon) -> None:  # noqa: ANN001
    daemon = open_daemon(num_parallel=2, max_queue=1)
    running = _Stream(daemon, LONG)
    assert running.first.wait(30)
    admitted = _Stream(daemon, LONG)  # the second slot: decoding beside the first
    assert admitted.first.wait(30)
    _wait_for_scheduler(daemon, one=_is("ready", queued=0, running=2))
    queued = _Stream(daemon, LONG)  # the one queue place
    _wait_for_scheduler(daemon, one=_is("ready", queued=1, running=2))
    assert _generate(daemon, num_ctx=NUM_CTX).status_code == 503
    assert not queued.first.is_set()
    admitted.disconnect()  # its slot is given back at once; the queued one takes it
    assert queued.first.wait(10)
    _wait_for_scheduler(daemon, one=_is("ready", queued=0, running=2))
    later = _Stream(daemon, LONG)  # the place is free again
    _wait_for_scheduler(daemon, one=_is("ready", queued=1, running=2))
    try:
        assert not later.first.is_set() and later.status is None  # queued, not refused
        left_at = time.monotonic()
        running.disconnect()
        assert later.first.wait(10)
        assert time.monotonic() - left_at < 5.0
    finally:
        queued.disconnect()
        later.disconnect()


def test_a_load_waiting_for_a_busy_runner_is_not_starved_by_new_work_for_it(open_daemon) -> None:  # noqa: ANN001
    daemon = open_daemon(num_parallel=2, max_loaded_models=1)
    running = _Stream(daemon, {**LONG, "num_ctx": 2048})
    assert running.first.wait(30)
    finished: dict[str, float] = {}

    def timed(label: str, model: str) -> httpx.Response:
        response = _generate(daemon, model=model)
        finished[label] = time.monotonic()
        return response

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        other = pool.submit(timed, "two", "two")
        _wait_for_scheduler(  # "two" waits for "one" to drain
            daemon, one=_is("draining", queued=0, running=1), two=_is("waiting", queued=1)
        )
        same = pool.submit(timed, "one again", "one")  # a free slot on "one", but it is draining
        _wait_for_scheduler(  # queued, not admitted behind the waiting load
            daemon, one=_is("draining", queued=1, running=1), two=_is("waiting", queued=1)
        )
        assert not same.done()
        running.disconnect()
        assert other.result(timeout=60).status_code == 200
        assert same.result(timeout=60).status_code == 200
    assert finished["two"] < finished["one again"]
