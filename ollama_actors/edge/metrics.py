"""``GET /metrics`` in Prometheus text format (prometheus-client).

One ``CollectorRegistry`` per daemon (``DaemonMetrics``), never the library's
global one: two daemons (or two test apps) in one process keep separate counts.

- requests by endpoint (the route rule, not the raw path, so names and digests
  cannot blow up the label set), method and status; latency histograms; in flight;
- tokens: prompt and generated, counted where a native generation ends;
- runner restarts and restart-intensity events, from the runner supervisor's
  observer (called in the supervisor's thread; prometheus-client is thread-safe);
- loaded models and their sizes, asked of the scheduler at scrape time.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from quart import Quart, Response, g, request

from ollama_actors.bridge.reply import ask
from ollama_actors.kernel.supervisor import SupervisorReport
from ollama_actors.runner.messages import ListRunning

__all__ = ["DaemonMetrics", "install_metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class DaemonMetrics:
    """Every metric of one daemon, in its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._crashed: set[tuple[str, str]] = set()  # touched by one supervisor thread each
        self.requests = Counter(
            "ollama_actors_http_requests", "HTTP requests answered", ["endpoint", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "ollama_actors_http_request_duration_seconds", "Time to the response head (streams: first line)",
            ["endpoint", "method"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.in_flight = Gauge("ollama_actors_http_requests_in_flight", "Requests being handled", registry=r)
        self.prompt_tokens = Counter(
            "ollama_actors_prompt_tokens", "Prompt tokens evaluated", ["model"], registry=r
        )
        self.generated_tokens = Counter(
            "ollama_actors_generated_tokens", "Tokens generated", ["model"], registry=r
        )
        self.tokens_per_second = Histogram(
            "ollama_actors_generation_tokens_per_second", "Generation speed per request", ["model"],
            buckets=(1, 5, 10, 25, 50, 100, 200, 400, 800), registry=r,
        )
        self.runner_restarts = Counter(
            "ollama_actors_runner_restarts", "Runners restarted by the runner supervisor", registry=r
        )
        self.supervisor_events = Counter(
            "ollama_actors_supervisor_reports", "Supervisor reports (child_terminated, restart_intensity_reached, …)",
            ["supervisor", "event"], registry=r,
        )
        self.loaded_models = Gauge("ollama_actors_loaded_models", "Models loaded now", registry=r)
        self.model_size = Gauge(
            "ollama_actors_loaded_model_size_bytes", "Size of each loaded model", ["model"], registry=r
        )

    def observe_supervisor(self, report: SupervisorReport) -> None:
        """A supervisor observer (``Supervisor.start_link(..., observer=...)``).

        A restart is reported as ``child_terminated`` (not by our own shutdown)
        followed by ``child_started`` of the same child.
        """
        self.supervisor_events.labels(report.supervisor, report.event).inc()
        key = (report.supervisor, report.child_id)
        if report.event == "child_terminated":
            if report.reason == "shutdown":
                self._crashed.discard(key)
            else:
                self._crashed.add(key)
        elif report.event == "child_started" and key in self._crashed:
            self._crashed.discard(key)
            if report.supervisor == "runner_supervisor":
                self.runner_restarts.inc()

    def generation_done(self, model: str, done: Any) -> None:
        """Count the tokens of one finished generation (a ``Completed``)."""
        self.prompt_tokens.labels(model).inc(max(0, int(done.prompt_eval_count)))
        self.generated_tokens.labels(model).inc(max(0, int(done.eval_count)))
        if done.eval_count and done.eval_duration_ns:
            self.tokens_per_second.labels(model).observe(done.eval_count / (done.eval_duration_ns / 1e9))


def install_metrics(app: Quart, metrics: DaemonMetrics, *, names: Any, timeout: float) -> None:
    """Count every request; serve ``GET /metrics``."""

    @app.before_request
    async def _start() -> None:
        g.metrics_started = time.monotonic()
        metrics.in_flight.inc()

    @app.after_request
    async def _count(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.requests.labels(rule, request.method, str(response.status_code)).inc()
        started = getattr(g, "metrics_started", None)
        if started is not None:
            metrics.latency.labels(rule, request.method).observe(time.monotonic() - started)
        return response

    @app.teardown_request
    async def _done(_error: BaseException | None) -> None:
        if getattr(g, "metrics_started", None) is not None:
            metrics.in_flight.dec()

    @app.route("/metrics", methods=["GET"])
    async def scrape() -> Response:
        await _refresh_loaded(metrics, names, timeout)
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)


async def _refresh_loaded(metrics: DaemonMetrics, names: Any, timeout: float) -> None:
    scheduler = names.whereis("scheduler")
    if scheduler is None:
        return
    try:
        running = await ask(scheduler, ListRunning(), timeout=min(timeout, 5.0))
    except Exception as error:  # a scrape must not fail because the scheduler is busy
        structlog.get_logger().warning("metrics_scheduler_unavailable", error=repr(error))
        return
    metrics.loaded_models.set(len(running))
    metrics.model_size.clear()
    for model in running:
        metrics.model_size.labels(model.name).set(model.size)
