"""Supervision-tree introspection routes (/x/runner/*)."""

from __future__ import annotations

from quart import Blueprint

from ollama_actors.edge.deps import EdgeDeps

__all__ = ["introspection_blueprint"]


def introspection_blueprint(deps: EdgeDeps) -> Blueprint:
    bp = Blueprint("introspection", __name__)
    return bp
