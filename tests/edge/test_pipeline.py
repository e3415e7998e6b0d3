"""The edge's per-request pipeline (``create_app``'s one before/after hook pair) and
its fast request log line (``ollama_actors.logging.log_info``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs
from werkzeug.datastructures import Headers

import ollama_actors.logging as oa_logging
from ollama_actors.edge.app import create_app
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.headers import first_values
from ollama_actors.edge.metrics import DaemonMetrics
from ollama_actors.kernel.names import Names
from ollama_actors.logging import configure_logging, log_info
from ollama_actors.settings import Settings


def _app(tmp_path: Path, metrics: DaemonMetrics, **overrides: object):  # type: ignore[no-untyped-def]
    settings = replace(Settings(models=tmp_path / "models", socket=None), **overrides)  # type: ignore[arg-type]
    return create_app(EdgeDeps(names=Names(), settings=settings, version="0.0.0", metrics=metrics))


def _sample(metrics: DaemonMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


# --- headers ------------------------------------------------------------------------


def test_first_values_reads_like_headers_get() -> None:
    headers = Headers([("Host", "a:1"), ("host", "b"), ("X-Request-ID", "rid"), ("Accept", "*/*")])
    found = first_values(headers.items())
    assert found == {"host": "a:1", "x-request-id": "rid"}
    assert found["host"] == headers.get("Host")


# --- the pipeline ---------------------------------------------------------------------


async def test_a_request_is_counted_timed_logged_and_given_an_id(tmp_path: Path) -> None:
    metrics = DaemonMetrics()
    client = _app(tmp_path, metrics).test_client()
    with capture_logs() as logs:
        response = await client.get("/api/version", headers={"X-Request-Id": "abc"})
        fresh = await client.get("/api/version")
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "abc"
    assert len(fresh.headers["X-Request-Id"]) == 16 and fresh.headers["X-Request-Id"] != "abc"
    labels = {"endpoint": "/api/version", "method": "GET"}
    assert _sample(metrics, "ollama_actors_http_requests_total", **labels, status="200") == 2
    assert _sample(metrics, "ollama_actors_http_request_duration_seconds_count", **labels) == 2
    assert _sample(metrics, "ollama_actors_http_requests_in_flight") == 0
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert lines[0] == {"event": "request", "log_level": "info", "request_id": "abc", "method": "GET",
                        "path": "/api/version", "status": 200, "duration_ms": lines[0]["duration_ms"]}
    assert structlog.contextvars.get_contextvars() == {}


async def test_a_refused_request_is_counted_and_logged_without_an_id_or_timing(tmp_path: Path) -> None:
    metrics = DaemonMetrics()
    client = _app(tmp_path, metrics).test_client()
    with capture_logs() as logs:
        response = await client.get("/api/version", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert response.headers["X-Request-Id"] == ""
    labels = {"endpoint": "/api/version", "method": "GET"}
    assert _sample(metrics, "ollama_actors_http_requests_total", **labels, status="403") == 1
    assert _sample(metrics, "ollama_actors_http_request_duration_seconds_count", **labels) is None
    assert _sample(metrics, "ollama_actors_http_requests_in_flight") == 0
    (line,) = [entry for entry in logs if entry["event"] == "request"]
    assert line["request_id"] is None and line["status"] == 403 and line["duration_ms"] == 0


async def test_an_error_answer_to_a_request_with_a_body_closes_the_connection(tmp_path: Path) -> None:
    client = _app(tmp_path, DaemonMetrics()).test_client()
    missing = await client.post("/api/nothing-here", data=b"{}", headers={"Content-Length": "2"})
    bodiless = await client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.headers.get("Connection") == "close"
    assert bodiless.status_code == 404 and "Connection" not in bodiless.headers
    assert (await client.get("/api/version")).headers.get("Connection") is None


async def test_request_answered_reuses_its_children_across_requests() -> None:
    metrics = DaemonMetrics()
    for _ in range(3):
        metrics.request_answered("/api/tags", "GET", 200, 0.01)
    metrics.request_answered("/api/tags", "GET", 500, None)
    labels = {"endpoint": "/api/tags", "method": "GET"}
    assert _sample(metrics, "ollama_actors_http_requests_total", **labels, status="200") == 3
    assert _sample(metrics, "ollama_actors_http_requests_total", **labels, status="500") == 1
    assert _sample(metrics, "ollama_actors_http_request_duration_seconds_count", **labels) == 3


# --- the request log line -------------------------------------------------------------------


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """``configure_logging(json=True)`` writing into a buffer; everything put back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_structlog, saved_installed = structlog.get_config(), oa_logging._installed
    configure_logging(json=True)
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.configure(**saved_structlog)
        oa_logging._installed = saved_installed
        structlog.contextvars.clear_contextvars()


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_log_info_writes_the_line_structlog_writes(configured: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="rid", model="m")
    fields = {"request_id": "rid", "method": "GET", "path": "/api/version", "status": 200, "duration_ms": 0.5}
    structlog.get_logger("ollama_actors.edge.app").info("request", **fields)
    log_info("ollama_actors.edge.app", "request", **fields)
    slow, fast = _lines(configured)
    assert list(fast) == list(slow)  # same keys, same order
    assert {**fast, "timestamp": None} == {**slow, "timestamp": None}
    assert fast["logger"] == "ollama_actors.edge.app" and fast["model"] == "m" and fast["level"] == "info"


def test_log_info_goes_through_structlog_when_configured_otherwise(configured: io.StringIO) -> None:
    with capture_logs() as logs:
        log_info("ollama_actors.edge.app", "request", status=200)
    assert logs == [{"event": "request", "status": 200, "log_level": "info"}]
    assert configured.getvalue() == ""


def test_log_info_respects_the_level_and_other_handlers(configured: io.StringIO) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    log_info("ollama_actors.edge.app", "request", status=200)
    assert configured.getvalue() == ""
    logging.getLogger().setLevel(logging.INFO)
    extra = io.StringIO()
    handler = logging.StreamHandler(extra)
    logging.getLogger().addHandler(handler)
    log_info("ollama_actors.edge.app", "request", status=201)
    assert [line["status"] for line in _lines(configured)] == [201]
    assert extra.getvalue() != ""  # the stdlib route: every handler gets it
