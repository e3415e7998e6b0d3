"""The reference for ``GET /api/version``: a bare Quart-trio app on Hypercorn (child process).

``python -m tests.bench.bare_app PORT VERSION`` serves ``{"version": VERSION}`` on
``127.0.0.1:PORT`` with the daemon's Hypercorn settings (trio worker, no access log,
30 s keep-alive) and nothing else: no middleware, no actors. Its requests/s is the
stack's own limit, against which the daemon's edge (security checks, request log,
metrics, admission) is measured.
"""

from __future__ import annotations

import sys

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

__all__ = ["create_bare_app", "main"]


def create_bare_app(version: str) -> QuartTrio:
    """An app with one route, answering the same JSON as the daemon's ``/api/version``."""
    app = QuartTrio(__name__)

    @app.route("/api/version", methods=["GET", "HEAD"])
    async def api_version() -> dict[str, str]:
        return {"version": version}

    return app


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    port, version = int(args[0]), args[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    config.keep_alive_timeout = 30
    trio.run(serve, create_bare_app(version), config)  # type: ignore[arg-type]  # Quart is an ASGI app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
