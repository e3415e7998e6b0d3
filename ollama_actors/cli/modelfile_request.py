"""Turn a parsed Modelfile into the JSON body of ``POST /api/create`` (reference §4.3).

This is the client half of ``ollama create``: paths named by ``FROM``/``ADAPTER``/
``DRAFT`` are resolved on *this* machine (absolute; ``~`` and ``~user``; else
relative to the Modelfile's directory). A path that exists becomes uploaded blobs
referenced by name in ``files``/``adapters``/``draft_files``; a ``FROM`` that names
nothing on disk is sent verbatim as ``from`` (a model name the daemon resolves).

The module is pure: every look at the file system (does a path exist, list a
directory, resolve a link, hash a file, expand ``~``) goes through the injected
:class:`LocalFiles`, so the planning is tested with an in-memory fake and the
caller owns the I/O (including the slow hashing of multi-GB GGUF files).
"""

from __future__ import annotations

import os.path
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal, Protocol

from ollama_actors.domain.errors import InvalidRequestError

__all__ = [
    "CreateRequest",
    "InstructionLike",
    "LocalFiles",
    "Upload",
    "build_create_request",
    "request_file_names",
    "select_model_files",
]

NO_MODEL_FILES = "no Modelfile or safetensors files found"
_SEMVER = re.compile(r"v?\d+(\.\d+(\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)?)?")

# Directory contents, in Ollama's order of preference: the first group that
# matches wins (filesForModel in parser/parser.go).
_WEIGHT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("model*.safetensors", "*/model*.safetensors"),
    ("consolidated*.safetensors",),
    ("pytorch_model*.bin",),
    ("consolidated*.pth",),
    ("*.gguf",),
    ("*.bin",),
)
_EXTRAS = ("*.json", "*/*.json", "chat_template.jinja")


class InstructionLike(Protocol):
    """What this module reads of the parser's ``Instruction``."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def key(self) -> str | None: ...


class LocalFiles(Protocol):
    """The client machine's file system, as far as create needs it."""

    def kind(self, path: str) -> Literal["file", "dir"] | None:
        """``"file"``, ``"dir"``, or ``None`` when nothing exists at ``path``."""

    def listing(self, directory: str) -> Sequence[str]:
        """Files at the top level and one level down, as relative ``/`` paths."""

    def realpath(self, path: str) -> str:
        """``path`` with symbolic links resolved."""

    def digest(self, path: str) -> str:
        """``sha256:<hex>`` of the file's bytes."""

    def expanduser(self, path: str) -> str:
        """``~`` / ``~user`` expanded to a home directory."""


@dataclass(frozen=True)
class Upload:
    """A local file the daemon must hold as a blob before the create request."""

    path: str
    digest: str


@dataclass(frozen=True)
class CreateRequest:
    """The ``/api/create`` body and the blobs to upload first (HEAD, then POST if missing)."""

    body: dict[str, Any]  # Any: JSON values (parameters are typed per option)
    uploads: tuple[Upload, ...]


def _expand(path: str, base_dir: str, files: LocalFiles) -> str:
    # Ollama's expandPath: absolute as is; ~ and ~user; else relative to the Modelfile.
    if path.startswith(("/", "\\")):
        return os.path.normpath(path)
    if path.startswith("~"):
        return os.path.normpath(files.expanduser(path))
    return os.path.normpath(os.path.join(base_dir, path))


def _matches(path: str, pattern: str) -> bool:
    # Go's filepath.Match: '*' never crosses a '/'.
    parts, wanted = path.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def _glob(listing: Sequence[str], *patterns: str) -> list[str]:
    return [p for pattern in patterns for p in sorted(x for x in listing if _matches(x, pattern))]


def select_model_files(listing: Sequence[str]) -> list[str]:
    """Which files of a model directory to upload, in Ollama's order of preference.

    Raises:
        InvalidRequestError: no weights found (``no Modelfile or safetensors files found``).
    """
    weights = next((_glob(listing, *group) for group in _WEIGHT_GROUPS if _glob(listing, group[0])), None)
    if weights is None:
        raise InvalidRequestError(NO_MODEL_FILES)
    tokenizer = _glob(listing, "tokenizer.model") or _glob(listing, "*/tokenizer.model")
    return weights + _glob(listing, *_EXTRAS) + tokenizer


def _directory_files(directory: str, files: LocalFiles) -> list[str]:
    root = files.realpath(directory)
    selected = []
    for relative in select_model_files(files.listing(directory)):
        resolved = files.realpath(os.path.join(directory, relative))
        rel = os.path.relpath(resolved, root)
        if os.path.isabs(rel) or rel == ".." or rel.startswith("../"):
            hint = "\n\nUse --local-dir <dir> when downloading model to disable caching" if ".cache" in rel else ""
            raise InvalidRequestError(f"insecure path: {rel}{hint}")
        selected.append(resolved)
    return selected


def _digests(path: str, files: LocalFiles) -> dict[str, str] | None:
    """``{local path: digest}`` for a file or model directory; ``None`` if nothing is there."""
    kind = files.kind(path)
    if kind is None:
        return None
    paths = [path] if kind == "file" else _directory_files(path, files)
    return {p: files.digest(p) for p in paths}


def request_file_names(paths: Sequence[str]) -> dict[str, str]:
    """Name each uploaded file as the daemon will see it.

    One file: its base name. Several: the path relative to their common directory
    (Ollama's createRequestFileNames), so a safetensors tree keeps its layout.
    """
    root = os.path.commonpath([os.path.dirname(p) for p in paths]) if len(paths) > 1 else None
    names = {}
    for p in paths:
        name = os.path.basename(p)
        if root is not None:
            rel = os.path.relpath(p, root)
            if rel not in (".", "..") and not rel.startswith("../"):
                name = rel
        names[p] = os.path.normpath(name).replace(os.sep, "/")
    return names


def _required(path: str, value: str, files: LocalFiles) -> dict[str, str]:
    found = _digests(path, files)
    if found is None:
        raise InvalidRequestError(f"stat {path}: no such file or directory")
    return found


def _requires(value: str) -> str:
    if not _SEMVER.fullmatch(value):
        raise InvalidRequestError("requires must be a valid semver (e.g. 0.14.0)")
    return value.removeprefix("v")


def build_create_request(
    model: str,
    instructions: Sequence[InstructionLike],
    parameters: Mapping[str, Any],
    *,
    modelfile_dir: str,
    files: LocalFiles,
    quantize: str | None = None,
) -> CreateRequest:
    """Plan ``POST /api/create`` for ``model`` from a Modelfile's instructions.

    ``parameters`` is the parser's typed map (``parameters_dict``); ``modelfile_dir``
    is the absolute directory relative paths are resolved against.

    Raises:
        InvalidRequestError: an ADAPTER/DRAFT path is missing, a directory holds no
            weights, a file escapes its directory, or REQUIRES is not a version.
    """
    sources: dict[str, dict[str, str]] = {"files": {}, "adapters": {}, "draft_files": {}}
    texts: dict[str, str] = {}
    licenses: list[str] = []
    messages: list[dict[str, str]] = []
    for instruction in instructions:
        name, value = instruction.name.lower(), instruction.value
        if name in ("from", "adapter", "draft"):
            path = _expand(value, modelfile_dir, files)
            if name == "from":
                found = _digests(path, files)
                if found is None:
                    texts["from"] = value
                else:
                    sources["files"].update(found)
            elif name == "adapter":
                sources["adapters"] = _required(path, value, files)
            else:
                sources["draft_files"].update(_required(path, value, files))
        elif name in ("template", "system", "renderer", "parser"):
            texts[name] = value
        elif name == "requires":
            texts[name] = _requires(value)
        elif name == "license":
            licenses.append(value)
        elif name == "message":
            messages.append({"role": instruction.key or "", "content": value})
    return _assemble(model, sources, texts, licenses, messages, parameters, quantize)


def _assemble(
    model: str,
    sources: Mapping[str, Mapping[str, str]],
    texts: Mapping[str, str],
    licenses: Sequence[str],
    messages: Sequence[Mapping[str, str]],
    parameters: Mapping[str, Any],
    quantize: str | None,
) -> CreateRequest:
    body: dict[str, Any] = {"model": model}
    if "from" in texts:
        body["from"] = texts["from"]
    uploads: dict[str, Upload] = {}
    for field, digests in sources.items():
        if digests:
            names = request_file_names(list(digests))
            body[field] = {names[p]: d for p, d in digests.items()}
            uploads.update({p: Upload(p, d) for p, d in digests.items()})
    for field in ("template", "system"):
        if field in texts:
            body[field] = texts[field]
    if licenses:
        body["license"] = list(licenses)
    if parameters:
        body["parameters"] = dict(parameters)
    if messages:
        body["messages"] = [dict(m) for m in messages]
    for field in ("requires", "renderer", "parser"):
        if field in texts:
            body[field] = texts[field]
    if quantize:
        body["quantize"] = quantize
    return CreateRequest(body, tuple(uploads.values()))
