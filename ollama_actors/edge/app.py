"""``create_app(deps)``: the Quart (quart-trio) application, one blueprint per context.

No module-level app: each daemon (and each test server) builds its own.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import replace

from quart import Response, g, request
from quart_trio import QuartTrio
from structlog.contextvars import bind_contextvars, clear_contextvars

from ollama_actors.edge.admission import Admission
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.errors import install_error_handlers
from ollama_actors.edge.headers import first_values
from ollama_actors.edge.metrics import DaemonMetrics, install_metrics
from ollama_actors.edge.security import EdgeSecurity
from ollama_actors.edge.tracing import install_tracing
from ollama_actors.logging import log_info
from ollama_actors.management.http.routes import management_blueprint
from ollama_actors.modelfile.http.routes import modelfile_blueprint
from ollama_actors.runner.http.introspection import introspection_blueprint
from ollama_actors.runner.http.native import runner_blueprint
from ollama_actors.runner.http.openai import openai_blueprint

__all__ = ["create_app"]


def create_app(deps: EdgeDeps) -> QuartTrio:
    if deps.metrics is None:  # one registry per app: never prometheus-client's global one
        deps = replace(deps, metrics=DaemonMetrics())
    app = QuartTrio("ollama_actors")
    # Long generations must not be cut by Quart's defaults; streams also switch
    # their own response timeout off.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = None
    app.config["MAX_CONTENT_LENGTH"] = None
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    install_error_handlers(app)
    # The app's first before_request hook, in this order: security (CORS, host, API
    # key, body limit), admission (503 once the daemon is stopping), request id and
    # log, metrics; after the view: close after an unread body, metrics, the log
    # line, CORS headers.
    _install_edge(app, EdgeSecurity(deps.settings), deps.admission, deps.metrics)
    if deps.tracing is not None:  # off by default: no hook at all
        install_tracing(app, deps.tracing)
    install_metrics(app, deps.metrics, names=deps.names, timeout=deps.settings.request_timeout_s, hooks=False)

    @app.route("/", methods=["GET", "HEAD"])
    async def root() -> Response:
        return Response("Ollama is running", content_type="text/plain; charset=utf-8")

    @app.route("/api/version", methods=["GET", "HEAD"])
    async def version() -> dict[str, str]:
        return {"version": deps.version}

    app.register_blueprint(management_blueprint(deps))
    app.register_blueprint(runner_blueprint(deps))
    app.register_blueprint(openai_blueprint(deps))
    app.register_blueprint(modelfile_blueprint(deps))
    app.register_blueprint(introspection_blueprint(deps))
    return app


def _install_edge(app: QuartTrio, security: EdgeSecurity, admission: Admission, metrics: DaemonMetrics) -> None:
    """Every request's edge work in one ``before_request`` and one ``after_request``
    hook (and a teardown), on the request and ``g`` objects fetched once, with the
    headers they need read in one pass: it runs on every request, ``/api/version``
    included, so its cost is the daemon's floor.

    - security (``EdgeSecurity.check``), then admission: either may answer instead
      of the view, and then nothing below runs before the view (no request id, no
      timing, not in flight), as when they were hooks of their own;
    - a request id per request (the client's ``X-Request-Id`` or a fresh one),
      bound in the task's structlog context (every message the handler sends to an
      actor carries it, ``kernel.trace``), echoed in the response, and one summary
      log line per request (``log_info``: the line ``structlog`` would write);
    - metrics: in flight, requests by route rule, method and status, latency;
    - the connection is closed after an error answer to a request that carried a
      body. Error paths (unknown route, bad digest, …) answer before reading the
      body; with HTTP/1.1 keep-alive the unread rest would then stall the next
      request on the same connection (seen with Hypercorn's h11 worker), so, as
      Go's server does when a handler leaves a body unread, we ask for it to be closed.
    """

    @app.before_request
    async def _edge_start() -> Response | None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        state = g._get_current_object()  # type: ignore[attr-defined]
        headers = state.edge_headers = first_values(req.headers.items())
        refused = security.check(req, headers)
        if refused is None:
            refused = admission.refusal()
        if refused is not None:
            return refused
        state.request_id = request_id = _request_id(headers.get("x-request-id"))
        state.started = state.metrics_started = time.monotonic()
        bind_contextvars(request_id=request_id)
        metrics.in_flight.inc()
        return None

    @app.after_request
    async def _edge_answer(response: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]
        state = g._get_current_object()  # type: ignore[attr-defined]
        headers = getattr(state, "edge_headers", None)
        if headers is None:  # the before hook did not run (an error before it)
            headers = first_values(req.headers.items())
        status = response.status_code
        if status >= 400 and (req.content_length or headers.get("transfer-encoding")):
            response.headers["Connection"] = "close"
        now = time.monotonic()
        method = req.method
        started = getattr(state, "metrics_started", None)
        rule = req.url_rule.rule if req.url_rule is not None else "unmatched"
        metrics.request_answered(rule, method, status, now - started if started is not None else None)
        request_id = getattr(state, "request_id", None)
        log_info(
            __name__,
            "request",
            request_id=request_id,
            method=method,
            path=req.path,
            status=status,
            duration_ms=round((now - getattr(state, "started", now)) * 1000, 2),
        )
        response.headers["X-Request-Id"] = request_id if request_id is not None else ""
        clear_contextvars()
        security.add_cors_headers(headers, response)
        return response

    @app.teardown_request
    async def _edge_done(_error: BaseException | None) -> None:
        if getattr(g, "metrics_started", None) is not None:
            metrics.in_flight.dec()


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _request_id(given: str | None) -> str:
    """The client's request id when it is a plain token (it goes into every log line
    and message of the request), else a fresh one: 16 hex digits, from the
    process's PRNG rather than ``os.urandom`` (a system call per request). An id
    names a request in logs and messages; it grants nothing (a client may send
    any id it likes), so it need not be unpredictable, only unique enough."""
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return f"{random.getrandbits(64):016x}"
