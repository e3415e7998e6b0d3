"""The request id travels: from ``X-Request-Id`` into the actors' log lines (issue 7)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.daemons import TINY


class ThreadLogCapture:
    """structlog processor: keeps every entry with the name of the thread that logged it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []

    def __call__(self, _logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.entries.append({**event, "thread": threading.current_thread().name})
        raise structlog.DropEvent

    def lines(self, request_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for entry in self.entries if entry.get("request_id") == request_id]


@pytest.fixture
def logs() -> Iterator[ThreadLogCapture]:
    """Every structlog line of the daemon, with the context merge first as in ``configure_logging``."""
    capture = ThreadLogCapture()
    old = structlog.get_config()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    try:
        yield capture
    finally:
        structlog.configure(**old)


def test_an_actors_log_lines_carry_the_clients_request_id(daemon: RunningDaemon, logs: ThreadLogCapture) -> None:
    """A fresh daemon loads the model for the first generation: the scheduler, on its
    own thread, logs ``runner_starting`` while handling that request's job."""
    with httpx.Client(base_url=daemon.base_url, timeout=60) as http:
        response = http.post(
            "/api/generate", headers={"X-Request-Id": "abc"},
            json={"model": TINY, "prompt": "hi", "stream": False, "options": {"num_predict": 1, "num_ctx": 512}},
        )
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "abc"
    lines = logs.lines("abc")
    starting = [line for line in lines if line["event"] == "runner_starting"]
    assert starting, f"no runner_starting line with request_id=abc in {lines}"
    assert starting[0]["thread"].startswith("Scheduler")
    assert any(line["event"] == "request" for line in lines)  # the edge's own summary line


def test_an_unsafe_request_id_is_replaced_by_a_fresh_one(daemon: RunningDaemon) -> None:
    with httpx.Client(base_url=daemon.base_url, timeout=60) as http:
        response = http.get("/api/version", headers={"X-Request-Id": "a b\x7f" + "x" * 200})
        plain = http.get("/api/version")
    assert response.status_code == 200
    given = response.headers["X-Request-Id"]
    assert given.isalnum() and len(given) == 16
    assert plain.headers["X-Request-Id"] != given
