"""``GET /metrics`` of a real daemon: Prometheus text that the official parser reads,
counters that move with traffic (requests, tokens), loaded models, runner restarts."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ollama_actors.edge.metrics import DaemonMetrics
from ollama_actors.kernel import Restart, SupervisorReport
from tests.fixtures.daemon import RunningDaemon
from tests.fixtures.daemons import TINY


def _samples(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def http(daemon: RunningDaemon) -> httpx.Client:
    with httpx.Client(base_url=daemon.base_url, timeout=60) as client:
        yield client


def test_metrics_parse_and_request_counters_move(http: httpx.Client) -> None:
    before = _samples(http)
    for _ in range(3):
        assert http.get("/api/version").status_code == 200
    assert http.get("/api/nothing-here").status_code == 404
    after = _samples(http)
    labels = {"endpoint": "/api/version", "method": "GET", "status": "200"}
    assert _value(after, "ollama_actors_http_requests_total", **labels) - _value(
        before, "ollama_actors_http_requests_total", **labels) == 3
    assert _value(after, "ollama_actors_http_requests_total", endpoint="unmatched", method="GET", status="404") >= 1
    assert _value(after, "ollama_actors_http_request_duration_seconds_count", endpoint="/api/version", method="GET") >= 3


def test_tokens_and_loaded_models_follow_generation(http: httpx.Client) -> None:
    before = _samples(http)
    response = http.post("/api/generate", json={
        "model": TINY, "prompt": "hi", "stream": False,
        "options": {"num_predict": 4, "temperature": 0, "seed": 1, "num_ctx": 512}})
    assert response.status_code == 200
    body = response.json()
    after = _samples(http)
    generated = _value(after, "ollama_actors_generated_tokens_total", model=TINY) - _value(
        before, "ollama_actors_generated_tokens_total", model=TINY)
    assert generated == body["eval_count"] > 0
    assert _value(after, "ollama_actors_prompt_tokens_total", model=TINY) >= body["prompt_eval_count"]
    assert _value(after, "ollama_actors_loaded_models") >= 1
    assert _value(after, "ollama_actors_loaded_model_size_bytes", model=TINY) > 0


def test_runner_restarts_are_counted_from_supervisor_reports() -> None:
    metrics = DaemonMetrics()
    report = lambda event, reason=None: SupervisorReport(event, "runner_supervisor", "m", reason, Restart.TRANSIENT)  # noqa: E731
    metrics.observe_supervisor(report("child_started"))
    metrics.observe_supervisor(report("child_terminated", "crashed: boom"))
    metrics.observe_supervisor(report("child_started"))
    metrics.observe_supervisor(report("child_terminated", "shutdown"))
    metrics.observe_supervisor(report("child_started"))
    assert metrics.registry.get_sample_value("ollama_actors_runner_restarts_total") == 1
    assert metrics.registry.get_sample_value(
        "ollama_actors_supervisor_reports_total", {"supervisor": "runner_supervisor", "event": "child_started"}) == 3


def test_two_daemons_keep_separate_registries() -> None:
    a, b = DaemonMetrics(), DaemonMetrics()
    a.requests.labels("/", "GET", "200").inc()
    assert b.registry.get_sample_value("ollama_actors_http_requests_total", {"endpoint": "/", "method": "GET", "status": "200"}) is None


def test_in_flight_returns_to_the_scrape_alone_after_streams(http: httpx.Client) -> None:
    with http.stream("POST", "/api/generate", json={"model": TINY, "prompt": "hi",
                     "options": {"num_predict": 3, "temperature": 0, "seed": 1, "num_ctx": 512}}) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines
    deadline = time.monotonic() + 5
    while _value(_samples(http), "ollama_actors_http_requests_in_flight") != 1:  # the scrape itself
        assert time.monotonic() < deadline, "a finished stream is still counted in flight"
        time.sleep(0.05)
