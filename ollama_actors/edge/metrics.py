"""``GET /metrics`` in Prometheus text format (prometheus-client).

One ``CollectorRegistry`` per daemon (``DaemonMetrics``), never the library's
global one: two daemons (or two test apps) in one process keep separate counts.

- requests by endpoint (the route rule, not the raw path, so names and digests
  cannot blow up the label set), method and status; latency histograms; in flight;
- tokens: prompt and generated, and tokens per second, counted where a
  generation ends (native and /v1 routes); time to first token per model, from
  the start of the request to the first streamed chunk with content (to the
  answer when not streaming), observed by the routes through ``FirstToken``;
- runner restarts and restart-intensity events, from the runner supervisor's
  observer (called in the supervisor's thread; prometheus-client is thread-safe);
- loaded models, their size and VRAM size (``ListRunning``) and queue depth per
  model (``SchedulerInfo``), asked of the scheduler at scrape time;
- transfer bytes by direction, from ``transfer.bytes`` events on the event bus
  (``observe_event``, subscribed by the daemon; called on the bus's thread).
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from quart import Quart, Response, g, request

from ollama_actors.adapters.event_bus import Event
from ollama_actors.bridge.reply import ask
from ollama_actors.kernel.supervisor import SupervisorReport
from ollama_actors.runner.messages import ListRunning, SchedulerInfo, SchedulerStatistics

__all__ = ["DaemonMetrics", "FirstToken", "TRANSFER_BYTES_EVENT", "install_metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

TRANSFER_BYTES_EVENT = "transfer.bytes"
"""Bus event of pull/push jobs: ``{"direction": "pull" | "push", "bytes": <int>}``,
the bytes moved since the job's previous such event."""
TRANSFER_DIRECTIONS = ("pull", "push")


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
        self.model_vram = Gauge(
            "ollama_actors_loaded_model_vram_bytes", "Part of each loaded model held in GPU memory", ["model"],
            registry=r,
        )
        self.time_to_first_token = Histogram(
            "ollama_actors_time_to_first_token_seconds",
            "From the request's start to its first generated content (non-streamed: to the answer)",
            ["model"], buckets=TTFT_BUCKETS, registry=r,
        )
        self.queue_depth = Gauge(
            "ollama_actors_queue_depth", "Requests waiting in the scheduler's queue, per model", ["model"],
            registry=r,
        )
        self.running_requests = Gauge(
            "ollama_actors_running_requests", "Requests assigned to a model's runner and not yet done", ["model"],
            registry=r,
        )
        self.transfer_bytes = Counter(
            "ollama_actors_transfer_bytes", "Bytes moved by registry pulls and pushes", ["direction"], registry=r
        )
        for direction in TRANSFER_DIRECTIONS:  # both series exist from the start, at 0
            self.transfer_bytes.labels(direction)
        # Children of the per-request metrics by label values: ``labels()`` validates
        # and locks on every call, the hot path of every request. The label values
        # are the registry's own series (route rule, method, status), so the caches
        # hold no more than the registry does.
        self._request_counts: dict[tuple[str, str, int], Any] = {}
        self._request_latencies: dict[tuple[str, str], Any] = {}

    def request_answered(self, endpoint: str, method: str, status: int, elapsed_s: float | None) -> None:
        """Count one answered request; observe its latency when it was timed from the start."""
        key = (endpoint, method, status)
        count = self._request_counts.get(key)
        if count is None:
            count = self._request_counts[key] = self.requests.labels(endpoint, method, str(status))
        count.inc()
        if elapsed_s is not None:
            latency = self._request_latencies.get(key[:2])
            if latency is None:
                latency = self._request_latencies[key[:2]] = self.latency.labels(endpoint, method)
            latency.observe(elapsed_s)

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

    def observe_event(self, event: Event) -> None:
        """An event bus subscriber (runs on the bus's thread): counts ``transfer.bytes``.

        A malformed event is ignored rather than raised: a raising subscriber is
        dropped by the bus, and the metrics would stop counting for good.
        """
        if event.name != TRANSFER_BYTES_EVENT:
            return
        direction, moved = event.data.get("direction"), event.data.get("bytes")
        if direction in TRANSFER_DIRECTIONS and isinstance(moved, int) and not isinstance(moved, bool) and moved > 0:
            self.transfer_bytes.labels(direction).inc(moved)

    def first_token(self, model: str, started_ns: int) -> FirstToken:
        """A time-to-first-token clock for one request that started at ``started_ns``
        (``time.monotonic_ns()``)."""
        return FirstToken(self, model, started_ns)

    def generation_done(self, model: str, done: Any) -> None:
        """Count the tokens of one finished generation (a ``Completed``)."""
        self.prompt_tokens.labels(model).inc(max(0, int(done.prompt_eval_count)))
        self.generated_tokens.labels(model).inc(max(0, int(done.eval_count)))
        if done.eval_count and done.eval_duration_ns:
            self.tokens_per_second.labels(model).observe(done.eval_count / (done.eval_duration_ns / 1e9))


class FirstToken:
    """Observes one request's time to first token, at most once.

    Routes call ``chunk`` for every chunk they send (the first one with content
    counts) and ``answered`` when the final answer is ready (counts only if no
    chunk did: a non-streamed answer, or a generation without content).
    """

    def __init__(self, metrics: DaemonMetrics | None, model: str, started_ns: int) -> None:
        self._metrics, self._model, self._started_ns = metrics, model, started_ns
        self._seen = metrics is None

    def chunk(self, piece: object) -> None:
        """A chunk is about to be sent; ``piece`` is a ``TextChunk``."""
        if not self._seen and (
            getattr(piece, "text", "") or getattr(piece, "thinking", "") or getattr(piece, "tool_calls", ())
        ):
            self._observe()

    def answered(self) -> None:
        """The answer (or the final chunk) is ready."""
        if not self._seen:
            self._observe()

    def _observe(self) -> None:
        self._seen = True
        if self._metrics is not None:
            elapsed = max(0, time.monotonic_ns() - self._started_ns) / 1e9
            self._metrics.time_to_first_token.labels(self._model).observe(elapsed)


def install_metrics(app: Quart, metrics: DaemonMetrics, *, names: Any, timeout: float, hooks: bool = True) -> None:
    """Count every request (``hooks``; ``create_app`` counts in its edge pipeline
    instead, ``edge.app``); serve ``GET /metrics``."""
    if hooks:

        @app.before_request
        async def _start() -> None:
            g.metrics_started = time.monotonic()
            metrics.in_flight.inc()

        @app.after_request
        async def _count(response: Response) -> Response:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            started = getattr(g, "metrics_started", None)
            elapsed = time.monotonic() - started if started is not None else None
            metrics.request_answered(rule, request.method, response.status_code, elapsed)
            return response

        @app.teardown_request
        async def _done(_error: BaseException | None) -> None:
            if getattr(g, "metrics_started", None) is not None:
                metrics.in_flight.dec()

    @app.route("/metrics", methods=["GET"])
    async def scrape() -> Response:
        await _refresh_from_scheduler(metrics, names, timeout)
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)


async def _refresh_from_scheduler(metrics: DaemonMetrics, names: Any, timeout: float) -> None:
    """Loaded models (``ListRunning``) and queues (``SchedulerInfo``), read at scrape time."""
    scheduler = names.whereis("scheduler")
    if scheduler is None:
        return
    try:
        running = await ask(scheduler, ListRunning(), timeout=min(timeout, 5.0))
        statistics: SchedulerStatistics = await ask(scheduler, SchedulerInfo(), timeout=min(timeout, 5.0))
    except Exception as error:  # a scrape must not fail because the scheduler is busy
        structlog.get_logger().warning("metrics_scheduler_unavailable", error=repr(error))
        return
    metrics.loaded_models.set(len(running))
    for gauge in (metrics.model_size, metrics.model_vram, metrics.queue_depth, metrics.running_requests):
        gauge.clear()  # models gone since the last scrape disappear
    for model in running:
        metrics.model_size.labels(model.name).set(model.size)
        metrics.model_vram.labels(model.name).set(model.size_vram)
    for entry in statistics.models:
        metrics.queue_depth.labels(entry.name).set(entry.queued)
        metrics.running_requests.labels(entry.name).set(entry.running)
