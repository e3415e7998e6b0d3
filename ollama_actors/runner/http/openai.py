"""OpenAI-compatible API (/v1/*), translated onto the runner context's jobs."""

from __future__ import annotations

from quart import Blueprint

from ollama_actors.edge.deps import EdgeDeps

__all__ = ["openai_blueprint"]


def openai_blueprint(deps: EdgeDeps) -> Blueprint:
    bp = Blueprint("openai", __name__)
    return bp
