"""Model names: Ollama's ``[scheme://]host/namespace/model:tag`` grammar (§3.1).

Invariant: every ``ModelName`` is fully qualified and each part obeys Ollama's
character and length rules. Parts start with ``[A-Za-z0-9_]`` and never contain
``/``, so ``..`` or a separator can never reach a store path built from a name
(§8.4). Names keep their case; matching against the store is case-insensitive
(``casefold_key``), which the store uses to keep one casing per model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ollama_actors.domain.errors import InvalidModelNameError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SCHEME",
    "DEFAULT_TAG",
    "ModelName",
    "is_valid_name",
    "parse_name",
]

DEFAULT_SCHEME = "https"
DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

# ASCII classes spelled out: Python's \w and str.isalnum() accept non-ASCII letters.
_PART_RULES: dict[str, re.Pattern[str]] = {
    "host": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}"),
    "namespace": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}"),
    "model": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"),
    "tag": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"),
}
# Only these mean anything to the registry client; Ollama passes any other text on
# and fails later at the HTTP layer, we reject it up front.
_SCHEMES = frozenset({"http", "https"})


def _is_valid_part(kind: str, value: str) -> bool:
    return isinstance(value, str) and _PART_RULES[kind].fullmatch(value) is not None


@dataclass(frozen=True, order=True)
class ModelName:
    """A fully qualified model name, case preserved.

    Equality, ordering and hashing ignore ``scheme``: it only says how to reach
    the registry, while host/namespace/model/tag say where the model lives on
    disk, so ``http://h/n/m:t`` and ``h/n/m:t`` are the same stored model.

    Raises:
        InvalidModelNameError: any part breaks the §3.1 rules.
    """

    scheme: str = field(compare=False)
    host: str
    namespace: str
    model: str
    tag: str

    def __post_init__(self) -> None:
        if self.scheme not in _SCHEMES:
            raise InvalidModelNameError()
        for kind in ("host", "namespace", "model", "tag"):
            if not _is_valid_part(kind, getattr(self, kind)):
                raise InvalidModelNameError()

    def __str__(self) -> str:
        return self.full

    @property
    def full(self) -> str:
        """``host/namespace/model:tag`` (no scheme), Ollama's ``Name.String()``."""
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def display(self) -> str:
        """Ollama's short form (``DisplayShortest``), used in API replies and errors.

        The host is dropped when it is the default; the namespace is dropped only
        when the host was dropped and it is the default too; the tag always stays.
        Defaults are compared case-insensitively.
        """
        if self.host.lower() != DEFAULT_HOST:
            return self.full
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    @property
    def manifest_parts(self) -> tuple[str, str, str, str]:
        """Path components of the manifest under ``manifests/``: host, namespace, model, tag."""
        return (self.host, self.namespace, self.model, self.tag)

    @property
    def casefold_key(self) -> tuple[str, str, str, str]:
        """Key for case-insensitive matching; parts are ASCII, so ``lower`` is exact."""
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())

    def same_model(self, other: ModelName) -> bool:
        """Whether both names denote one stored model, ignoring case (``EqualFold``)."""
        return self.casefold_key == other.casefold_key


def _cut_last(text: str, sep: str) -> tuple[str, str | None]:
    """Split at the last ``sep``; ``None`` means the separator was absent."""
    index = text.rfind(sep)
    if index < 0:
        return text, None
    return text[:index], text[index + len(sep) :]


def parse_name(raw: str) -> ModelName:
    """Parse a model reference from the right, filling Ollama's defaults (§3.1).

    The caller trims request text first (the edge does); ``@digest`` suffixes are
    invalid, as at Ollama HEAD. A separator with nothing on one side (``m:``,
    ``/m``, ``a//m``) makes that part empty and so the name invalid.

    Raises:
        InvalidModelNameError: ``raw`` is not a valid name (text ``invalid model name``).
    """
    if not isinstance(raw, str):
        raise InvalidModelNameError()
    rest, tag = raw, DEFAULT_TAG
    if rest.rfind(":") > rest.rfind("/"):
        rest, cut = _cut_last(rest, ":")
        tag = cut if cut is not None else DEFAULT_TAG
    rest, model = _cut_last(rest, "/")
    if model is None:
        return ModelName(DEFAULT_SCHEME, DEFAULT_HOST, DEFAULT_NAMESPACE, rest, tag)
    rest, namespace = _cut_last(rest, "/")
    if namespace is None:
        return ModelName(DEFAULT_SCHEME, DEFAULT_HOST, rest, model, tag)
    scheme, sep, host = rest.partition("://")
    if not sep:
        scheme, host = DEFAULT_SCHEME, rest
    return ModelName(scheme.lower(), host, namespace, model, tag)


def is_valid_name(raw: str) -> bool:
    """Whether :func:`parse_name` accepts ``raw``."""
    try:
        parse_name(raw)
    except InvalidModelNameError:
        return False
    return True
