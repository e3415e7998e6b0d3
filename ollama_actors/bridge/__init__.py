"""The only place where trio objects and actor threads meet: asks, token streams, the tree."""

from __future__ import annotations

from ollama_actors.bridge.reply import (
    TrioReply,
    ask,
)
from ollama_actors.bridge.stream import (
    PushResult,
    StreamClosedError,
    StreamEnd,
    TokenStream,
)
from ollama_actors.bridge.tree import (
    RunningTree,
    open_actor_tree,
)

__all__ = [
    "PushResult",
    "RunningTree",
    "StreamClosedError",
    "StreamEnd",
    "TokenStream",
    "TrioReply",
    "ask",
    "open_actor_tree",
]
