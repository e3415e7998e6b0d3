"""Optional OpenTelemetry tracing (issue 7): a request is one trace, HTTP span → actor
spans; off by default, when nothing from OpenTelemetry is even imported."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import trio

from ollama_actors.daemon import serve_daemon
from ollama_actors.settings import Settings
from ollama_actors.tracing import Tracing, open_tracing
from tests.fixtures.daemons import TINY, upload_and_create

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


def _settings(tmp_path: Path) -> Settings:
    return replace(Settings(), host="127.0.0.1", port=0, socket=None, models=tmp_path / "models",
                   bundled_models=False)


async def _serve_one_request(settings: Settings, tracing: Tracing, path: str, headers: dict[str, str]) -> int:
    """Start a daemon, make one request, stop it (which flushes and closes the tracing)."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: serve_daemon(settings, stop=stop, tracing=tracing, task_status=task_status)
        )
        url = next(bind for bind in binds if bind.startswith("http://"))
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            status = (await client.get(path, headers=headers)).status_code
        stop.set()
    return status


async def test_a_request_is_an_http_span_with_actor_child_spans_in_one_trace(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    tracing = open_tracing(_settings(tmp_path), exporter=exporter)
    assert tracing is not None
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
    status = await _serve_one_request(_settings(tmp_path), tracing, "/api/tags", {"traceparent": traceparent})
    assert status == 200
    spans = exporter.get_finished_spans()
    http = [s for s in spans if s.kind is SpanKind.SERVER and s.name == "GET /api/tags"]
    assert len(http) == 1, [s.name for s in spans]
    server = http[0]
    assert format(server.context.trace_id, "032x") == TRACE_ID  # continues the caller's trace
    assert format(server.parent.span_id, "016x") == PARENT_SPAN_ID
    assert server.attributes["http.response.status_code"] == 200
    children = [s for s in spans if s.parent is not None and s.parent.span_id == server.context.span_id]
    assert [s.name for s in children] == ["model_manager ListModels"]
    assert children[0].context.trace_id == server.context.trace_id
    assert children[0].attributes["actor.name"] == "model_manager"


async def test_actor_messages_outside_requests_make_no_spans(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    tracing = open_tracing(_settings(tmp_path), exporter=exporter)
    assert tracing is not None
    assert await _serve_one_request(_settings(tmp_path), tracing, "/", {}) == 200
    assert [s.name for s in exporter.get_finished_spans()] == ["GET /"]


def test_tracing_is_off_by_default_and_nothing_of_opentelemetry_is_imported(tmp_path: Path) -> None:
    """A whole daemon serves a request that reaches an actor; OpenTelemetry stays unloaded."""
    script = """
import sys
from dataclasses import replace
import httpx, trio
from ollama_actors.daemon import serve_daemon
from ollama_actors.kernel import trace
from ollama_actors.settings import load_settings
from ollama_actors.tracing import open_tracing

async def main():
    settings = replace(load_settings({"HOME": sys.argv[1]}), port=0, socket=None, bundled_models=False)
    assert settings.traces_exporter == "none" and open_tracing(settings) is None
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(lambda task_status: serve_daemon(settings, stop=stop, task_status=task_status))
        assert trace._hook is None
        url = next(b for b in binds if b.startswith("http://"))
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/api/tags")).status_code == 200
        stop.set()

trio.run(main)
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_asking_for_otlp_without_the_packages_is_one_clear_error(tmp_path: Path) -> None:
    script = """
import sys
sys.modules["opentelemetry.exporter.otlp.proto.http.trace_exporter"] = None  # as if not installed
from dataclasses import replace
from ollama_actors.settings import Settings
from ollama_actors.tracing import open_tracing
try:
    open_tracing(replace(Settings(), traces_exporter="otlp"))
except ValueError as error:
    print(error)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "pip install 'ollama-actors[otel]'" in done.stdout


async def test_a_generation_traces_through_the_scheduler_to_the_runner_supervisor(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    settings = replace(_settings(tmp_path), num_thread=1)
    tracing = open_tracing(settings, exporter=exporter)
    assert tracing is not None
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: serve_daemon(settings, stop=stop, tracing=tracing, task_status=task_status)
        )
        url = next(bind for bind in binds if bind.startswith("http://"))
        await trio.to_thread.run_sync(upload_and_create, url, TINY, tiny_model_path)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            response = await client.post("/api/generate", json={
                "model": TINY, "prompt": "hi", "stream": False, "options": {"num_predict": 2, "num_ctx": 512}})
        assert response.status_code == 200
        stop.set()
    spans = exporter.get_finished_spans()
    by_id = {span.context.span_id: span for span in spans}
    server = next(s for s in spans if s.name == "POST /api/generate")

    def ancestors(span: object) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:  # type: ignore[attr-defined]
            span = by_id[span.parent.span_id]  # type: ignore[attr-defined]
            names.append(span.name)  # type: ignore[attr-defined]
        return names

    start_child = next(s for s in spans if s.name == "runner_supervisor StartChild")
    assert ancestors(start_child) == ["scheduler Submit", "POST /api/generate"]
    assert start_child.context.trace_id == server.context.trace_id
    assert any(s.name == "model_manager ResolveModel" and ancestors(s) == ["POST /api/generate"] for s in spans)
