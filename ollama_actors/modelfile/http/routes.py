"""Routes of the modelfile context (template render preview)."""

from __future__ import annotations

from quart import Blueprint

from ollama_actors.edge.deps import EdgeDeps

__all__ = ["modelfile_blueprint"]


def modelfile_blueprint(deps: EdgeDeps) -> Blueprint:
    bp = Blueprint("modelfile", __name__)
    return bp
