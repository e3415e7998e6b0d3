"""One place that renders errors in Ollama's shape.

Any ``OllamaError`` becomes ``{"error": "<message>"}`` with its status (and
``Retry-After`` for a busy server); unknown paths and wrong methods answer in
Go's plain-text words; anything unexpected is logged and answered 500 without
leaking internals.
"""

from __future__ import annotations

import structlog
from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException

from ollama_actors.domain.errors import OllamaError, ServerBusyError

__all__ = ["error_response", "install_error_handlers"]


def error_response(error: OllamaError) -> Response:
    response = jsonify({"error": error.message})
    response.status_code = error.status
    if isinstance(error, ServerBusyError):
        response.headers["Retry-After"] = "1"
    return response


def install_error_handlers(app: Quart) -> None:
    @app.errorhandler(OllamaError)
    async def _ollama(error: OllamaError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    async def _http(error: HTTPException) -> Response:
        code = error.code or 500
        if code == 404:
            return Response("404 page not found", status=404, content_type="text/plain")
        if code == 405:
            return Response("405 method not allowed", status=405, content_type="text/plain")
        if code == 413:
            return error_response(OllamaError("request body too large", status=413))
        return error_response(OllamaError(error.description or error.name, status=code))

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        structlog.get_logger().exception("unhandled_error", error=repr(error))
        return error_response(OllamaError(f"internal error: {type(error).__name__}"))
