"""``GET /metrics`` of a real daemon: Prometheus text that the official parser reads,
counters that move with traffic (requests, tokens), loaded models, runner restarts."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ollama_actors.adapters.event_bus import publisher
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


def _ttft_count(samples: dict) -> float:  # type: ignore[type-arg]
    return _value(samples, "ollama_actors_time_to_first_token_seconds_count", model=TINY)


def _generated(samples: dict) -> float:  # type: ignore[type-arg]
    return _value(samples, "ollama_actors_generated_tokens_total", model=TINY)


V1_CHAT = {"model": TINY, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0,
           "seed": 1}


def test_time_to_first_token_moves_with_streamed_and_answered_generations(http: httpx.Client) -> None:
    before = _samples(http)
    with http.stream("POST", "/api/chat", json={"model": TINY, "messages": [{"role": "user", "content": "hi"}],
                     "options": {"num_predict": 3, "temperature": 0, "seed": 1, "num_ctx": 512}}) as response:
        assert response.status_code == 200
        assert [line for line in response.iter_lines() if line]
    assert http.post("/v1/chat/completions", json=V1_CHAT).status_code == 200
    after = _samples(http)
    assert _ttft_count(after) - _ttft_count(before) == 2
    assert _value(after, "ollama_actors_time_to_first_token_seconds_sum", model=TINY) > 0


def test_v1_generations_count_their_tokens(http: httpx.Client) -> None:
    before = _samples(http)
    answered = http.post("/v1/chat/completions", json=V1_CHAT)
    assert answered.status_code == 200
    middle = _samples(http)
    assert _generated(middle) - _generated(before) == answered.json()["usage"]["completion_tokens"] > 0
    with http.stream("POST", "/v1/completions", json={"model": TINY, "prompt": "hi", "max_tokens": 3,
                     "temperature": 0, "seed": 1, "stream": True,
                     "stream_options": {"include_usage": True}}) as response:
        events = [line for line in response.iter_lines() if line.startswith("data: {")]
    usage = [json.loads(event[6:]).get("usage") for event in events]
    completion_tokens = [u["completion_tokens"] for u in usage if u and u["completion_tokens"]][-1]
    after = _samples(http)
    assert _generated(after) - _generated(middle) == completion_tokens
    assert _ttft_count(after) - _ttft_count(before) == 2


def test_queue_depth_memory_and_transfer_series_are_exported(http: httpx.Client) -> None:
    response = http.post("/api/generate", json={"model": TINY, "prompt": "hi", "stream": False,
                         "options": {"num_predict": 1, "num_ctx": 512}})
    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(http.get("/metrics").text)}
    assert families["ollama_actors_queue_depth"].type == "gauge"
    samples = _samples(http)
    assert (("ollama_actors_queue_depth", (("model", TINY),))) in samples  # a loaded model: 0 queued
    assert ("ollama_actors_loaded_model_vram_bytes", (("model", TINY),)) in samples
    assert ("ollama_actors_running_requests", (("model", TINY),)) in samples
    for direction in ("pull", "push"):
        assert ("ollama_actors_transfer_bytes_total", (("direction", direction),)) in samples


def test_the_daemon_counts_transfer_bytes_published_on_its_event_bus(
    daemon: RunningDaemon, http: httpx.Client
) -> None:
    """The contract with pull/push jobs: ``transfer.bytes`` events on the bus."""
    before = _value(_samples(http), "ollama_actors_transfer_bytes_total", direction="push")
    publisher(daemon.names)("transfer.bytes", {"direction": "push", "bytes": 4096})
    deadline = time.monotonic() + 10
    while _value(_samples(http), "ollama_actors_transfer_bytes_total", direction="push") - before != 4096:
        assert time.monotonic() < deadline, "transfer.bytes was not counted"
        time.sleep(0.05)
