"""Where a push can mount a blob from instead of uploading it (pure).

A registry that already holds a blob in one repository can link it into another
(``POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>``, answered 201)
without a byte crossing the network. The daemon knows which repositories of a
registry should hold a blob from its own store: every stored model named on that
registry's host was pulled from there or pushed there, and a layer's ``from``
names the model it was inherited from. A wrong guess costs nothing: the registry
answers 202 and the upload goes on as usual.
"""

from __future__ import annotations

from collections.abc import Iterable

from ollama_actors.domain.errors import OllamaError
from ollama_actors.domain.names import ModelName, parse_name
from ollama_actors.management.domain.stored import StoredManifest

__all__ = ["mount_sources"]


def _repository(name: ModelName) -> str:
    return f"{name.namespace}/{name.model}"


def mount_sources(own: StoredManifest, stored: Iterable[StoredManifest]) -> tuple[tuple[str, str], ...]:
    """``(digest, "<namespace>/<model>")`` for each blob of ``own`` (the model being
    pushed) that another repository on its host should hold; the first source wins."""
    target = own.name
    wanted = {str(d) for d in own.manifest.all_digests}
    host, repo = target.host.casefold(), _repository(target).casefold()
    sources: dict[str, str] = {}
    for layer in (*own.manifest.layers, own.manifest.config):  # the layer's own "from" first
        origin = _parse(layer.from_)
        if origin is not None and origin.host.casefold() == host and _repository(origin).casefold() != repo:
            sources.setdefault(str(layer.digest), _repository(origin))
    for other in stored:
        if other.name.host.casefold() != host or _repository(other.name).casefold() == repo:
            continue
        for digest in other.manifest.all_digests:
            if str(digest) in wanted:
                sources.setdefault(str(digest), _repository(other.name))
    return tuple(sorted(sources.items()))


def _parse(text: str | None) -> ModelName | None:
    if not text:
        return None
    try:
        return parse_name(text)
    except OllamaError:
        return None
