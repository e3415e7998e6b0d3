"""``create_app(deps)``: the Quart (quart-trio) application, one blueprint per context.

No module-level app: each daemon (and each test server) builds its own.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace

import structlog
from quart import Response, g, request
from quart_trio import QuartTrio

from ollama_actors.edge.admission import install_admission
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.errors import install_error_handlers
from ollama_actors.edge.metrics import DaemonMetrics, install_metrics
from ollama_actors.edge.security import install_security
from ollama_actors.edge.tracing import install_tracing
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
    install_security(app, deps.settings)  # first before_request hook: CORS, host, API key, body limit
    install_admission(app, deps.admission)  # 503 once the daemon is stopping
    _install_request_log(app)
    if deps.tracing is not None:  # off by default: no hook at all
        install_tracing(app, deps.tracing)
    install_metrics(app, deps.metrics, names=deps.names, timeout=deps.settings.request_timeout_s)
    _install_close_after_unread_body(app)

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


def _install_request_log(app: QuartTrio) -> None:
    """A request id per request (the client's ``X-Request-Id`` or a fresh one),
    bound in the task's structlog context (every message the handler sends to an
    actor carries it, ``kernel.trace``), echoed in the response, and one
    summary log line per request."""

    @app.before_request
    async def _start() -> None:
        g.request_id = _request_id(request.headers.get("X-Request-Id"))
        g.started = time.monotonic()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.after_request
    async def _log(response: Response) -> Response:
        structlog.get_logger().info(
            "request",
            request_id=getattr(g, "request_id", None),
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=round((time.monotonic() - getattr(g, "started", time.monotonic())) * 1000, 2),
        )
        response.headers["X-Request-Id"] = getattr(g, "request_id", "")
        structlog.contextvars.clear_contextvars()
        return response


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _request_id(given: str | None) -> str:
    """The client's request id when it is a plain token (it goes into every log line
    and message of the request), else a fresh one."""
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex[:16]


def _install_close_after_unread_body(app: QuartTrio) -> None:
    """Close the connection after an error answer to a request that carried a body.

    Error paths (unknown route, bad digest, …) answer before reading the body. With
    HTTP/1.1 keep-alive the unread rest would then stall the next request on the same
    connection (seen with Hypercorn's h11 worker), so, as Go's server does when a
    handler leaves a body unread, we ask for the connection to be closed.
    """

    @app.after_request
    async def _close(response: Response) -> Response:
        has_body = request.content_length or request.headers.get("Transfer-Encoding")
        if response.status_code >= 400 and has_body:
            response.headers["Connection"] = "close"
        return response
