"""The HTTP side of optional tracing: one SERVER span per request.

Installed only when tracing is on (``deps.tracing``); otherwise no hook is
added and a request costs nothing extra. The span is made current in the
request's task before the view runs, so every message the handler sends to an
actor carries it (``kernel.trace``) and the actor's span becomes its child.
The span ends at teardown, i.e. when the response head is ready: a stream's
body is not part of it (its actors' spans still are, as children).
"""

from __future__ import annotations

from quart import Quart, Response, g, request

from ollama_actors.tracing import Tracing

__all__ = ["install_tracing"]


def install_tracing(app: Quart, tracing: Tracing) -> None:
    """Start a span per request, record its status, end it at teardown."""

    @app.before_request
    async def _start_span() -> None:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        g.trace_span = tracing.start_request(request.method, route, request.path, request.headers)

    @app.after_request
    async def _status(response: Response) -> Response:
        span = getattr(g, "trace_span", None)
        if span is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            span.set_status(response.status_code, route)
        return response

    @app.teardown_request
    async def _end_span(error: BaseException | None) -> None:
        span = g.pop("trace_span", None)
        if span is not None:
            span.end(error)
