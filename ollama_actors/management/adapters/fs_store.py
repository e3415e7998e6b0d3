"""``FileSystemModelStore``: the ``ModelStore`` port in Ollama's exact on-disk layout.

A store written by Ollama is read as it is, and Ollama reads ours (§3.2, §3.3).

Invariant (crash safety): every file appears under its final name only complete
and durable. Each write goes temp file in the same folder → write → flush+fsync →
digest check → ``os.replace`` → fsync of the folder; a manifest is written only
once all its blobs are present. A crash at any instant therefore leaves at worst a
temp file (an invalid blob name, or a dot-file beside a manifest), which the
startup prune removes once it is older than the grace period, and a store that
loads.

Invariant (containment): every path is derived from a validated ``ModelName`` or
``Digest`` through ``management.domain.layout`` and checked to stay under the root.

Threading: not thread-safe by design. The ModelManager actor is the single
writer and calls every method from its own thread; all methods block on disk I/O.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import structlog

from ollama_actors.domain.digests import Digest, parse_digest
from ollama_actors.domain.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    InvalidManifestError,
    InvalidModelNameError,
    ModelNotFoundError,
)
from ollama_actors.domain.manifests import Manifest
from ollama_actors.domain.names import ModelName
from ollama_actors.management.domain.layout import (
    BLOB_TEMP_PREFIX,
    BLOB_TEMP_SUFFIX,
    BLOBS_DIR,
    MANIFEST_TEMP_SUFFIX,
    MANIFESTS_DIR,
    is_blob_temp_name,
    is_manifest_temp_name,
    manifest_relpath,
    manifest_temp_prefix,
    name_from_manifest_parts,
    normalized_blob_filename,
)
from ollama_actors.management.domain.pruning import (
    DEFAULT_PRUNE_GRACE_SECONDS,
    BlobFile,
    is_stale,
    prune_plan,
    unreferenced,
)
from ollama_actors.management.domain.stored import StoredManifest

__all__ = ["FileSystemModelStore"]

_DIR_MODE = 0o755
_FILE_MODE = 0o644
_CHUNK = 1 << 20
# Finds digests in a manifest that does not parse, so that its blobs are kept.
_DIGEST_IN_TEXT = re.compile(rb"sha256[:-][0-9a-fA-F]{64}")


def _log() -> structlog.stdlib.BoundLogger:
    """Fetched per call, never cached at import, so tests can capture logs."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger("ollama_actors.management.store")
    return logger


def _fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_and_sync(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``, flush it to disk and close ``fd``."""
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _hash_and_sync(path: Path) -> Digest:
    """SHA-256 of a file written by someone else, flushed to disk before we rename it."""
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
        os.fsync(src.fileno())
    return Digest(digest.hexdigest())


def _local_time(mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, tz=UTC).astimezone()


class FileSystemModelStore:
    """Ollama's ``models`` folder: ``manifests/<host>/<namespace>/<model>/<tag>``, ``blobs/sha256-<hex>``.

    Opening creates ``manifests/`` and ``blobs/`` (0755) and renames blob files
    spelled ``sha256:<hex>`` (or with uppercase hex) to ``sha256-<hex>``, as
    Ollama's ``fixBlobs`` does at start-up.
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(os.path.abspath(root))
        self._manifests = self._root / MANIFESTS_DIR
        self._blobs = self._root / BLOBS_DIR
        os.makedirs(self._manifests, mode=_DIR_MODE, exist_ok=True)
        os.makedirs(self._blobs, mode=_DIR_MODE, exist_ok=True)
        self._fix_blob_names()

    @property
    def root(self) -> Path:
        """The store's root directory (``OLLAMA_MODELS``), absolute."""
        return self._root

    # -- blobs ---------------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        """``<root>/blobs/sha256-<hex>``; the file may not exist."""
        return self._blobs / digest.filename

    def has_blob(self, digest: Digest) -> bool:
        """Whether the blob file is present."""
        return self.blob_path(digest).is_file()

    def blob_size(self, digest: Digest) -> int:
        """Size of the blob in bytes.

        Raises:
            BlobNotFoundError: no such blob.
        """
        try:
            return os.stat(self.blob_path(digest)).st_size
        except FileNotFoundError:
            raise BlobNotFoundError(str(digest)) from None

    def touch_blob(self, digest: Digest) -> None:
        """Set the blob's mtime to now, restarting its prune grace period.

        Raises:
            BlobNotFoundError: no such blob.
        """
        try:
            os.utime(self.blob_path(digest))
        except FileNotFoundError:
            raise BlobNotFoundError(str(digest)) from None

    def new_blob_temp(self) -> Path:
        """Create an empty temp file in ``blobs/`` for a streamed write and return its path.

        The name (``sha256-<random>.tmp``) is not a valid digest, so a temp left by
        a crash is removed by the startup prune after the grace period. Hand it to
        :meth:`commit_blob` or :meth:`discard_blob_temp`.
        """
        fd, name = tempfile.mkstemp(prefix=BLOB_TEMP_PREFIX, suffix=BLOB_TEMP_SUFFIX, dir=self._blobs)
        os.close(fd)
        return Path(name)

    def commit_blob(self, temp: Path, expected: Digest | None = None) -> Digest:
        """Hash ``temp``, check it against ``expected`` and move it into place.

        If the blob already exists the temp is dropped and the blob touched, as
        Ollama does. The temp is gone afterwards in every case.

        Raises:
            DigestMismatchError: the content's digest is not ``expected``.
            ValueError: ``temp`` is not a temp file of this store (a programming error).
        """
        temp = self._checked_temp(temp)
        try:
            actual = _hash_and_sync(temp)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return self._commit_hashed(temp, actual, expected)

    def commit_new_blob(self, temp: Path) -> tuple[Digest, bool]:
        """Like :meth:`commit_blob` without an expected digest; also returns whether
        the blob is new (False: it was there already and ``temp`` was dropped)."""
        temp = self._checked_temp(temp)
        try:
            actual = _hash_and_sync(temp)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        existed = self.has_blob(actual)
        return self._commit_hashed(temp, actual, None), not existed

    def discard_blob_temp(self, temp: Path) -> None:
        """Remove a temp from :meth:`new_blob_temp` that will not be committed."""
        self._checked_temp(temp).unlink(missing_ok=True)

    def write_blob_bytes(self, data: bytes) -> Digest:
        """Store ``data`` as a blob and return its digest; an existing blob is only touched."""
        digest = Digest(hashlib.sha256(data).hexdigest())
        if self.has_blob(digest):
            self.touch_blob(digest)
            return digest
        fd, name = tempfile.mkstemp(prefix=BLOB_TEMP_PREFIX, suffix=BLOB_TEMP_SUFFIX, dir=self._blobs)
        temp = Path(name)
        try:
            _write_and_sync(fd, data)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return self._commit_hashed(temp, digest, None)

    def import_blob(self, src: Path) -> Digest:
        """Copy the file ``src`` in as a blob, hashing while copying, and return its digest."""
        fd, name = tempfile.mkstemp(prefix=BLOB_TEMP_PREFIX, suffix=BLOB_TEMP_SUFFIX, dir=self._blobs)
        temp = Path(name)
        digest = hashlib.sha256()
        try:
            with open(src, "rb") as source, os.fdopen(fd, "wb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return self._commit_hashed(temp, Digest(digest.hexdigest()), None)

    def read_blob_bytes(self, digest: Digest) -> bytes:
        """The whole content of a (small) blob: template, system, params, license, config.

        Raises:
            BlobNotFoundError: no such blob.
        """
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(str(digest)) from None

    # -- manifests -------------------------------------------------------------------

    def resolve(self, name: ModelName) -> ModelName:
        """``name`` with each part replaced by the casing already on disk.

        Walks ``manifests/`` folder by folder, matching each part
        case-insensitively (an exact match wins, then the first in sorted order),
        and stops at the first part with no match; the remaining parts keep the
        caller's casing. So a new tag of an existing model lands in that model's
        folder, and one model never exists in two casings.
        """
        folder = self._manifests
        parts = list(name.manifest_parts)
        for index, part in enumerate(parts):
            match = self._match_entry(folder, part, want_dir=index < 3)
            if match is None:
                break
            parts[index] = match
            folder = folder / match
        return ModelName(name.scheme, *parts)

    def read_manifest(self, name: ModelName) -> StoredManifest:
        """The manifest of ``name`` (matched case-insensitively) with its bytes and file facts.

        Raises:
            ModelNotFoundError: ``model '<display>' not found``.
            InvalidManifestError: the file exists but does not parse.
        """
        resolved = self.resolve(name)
        try:
            return self._load(resolved, self._manifest_path(resolved))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ModelNotFoundError(f"model '{name.display}' not found") from None

    def write_manifest(self, name: ModelName, manifest: Manifest) -> StoredManifest:
        """Write ``manifest`` for ``name`` as Ollama's exact bytes, atomically.

        Raises:
            BlobNotFoundError: a referenced blob is not in the store (nothing written).
        """
        return self._write_manifest_bytes(name, manifest, manifest.to_json())

    def write_manifest_raw(self, name: ModelName, raw: bytes) -> StoredManifest:
        """Write ``raw`` byte for byte (pulled or copied manifests), atomically.

        Raises:
            InvalidManifestError: ``raw`` does not parse or names an invalid digest.
            BlobNotFoundError: a referenced blob is not in the store (nothing written).
        """
        return self._write_manifest_bytes(name, Manifest.from_json(raw), raw)

    def delete_manifest(self, name: ModelName) -> ModelName:
        """Remove the manifest of ``name`` and then-empty folders up to ``manifests/``.

        Blobs are left alone: follow with :meth:`remove_blobs_if_unreferenced`.
        Returns the name as it was stored.

        Raises:
            ModelNotFoundError: ``model '<display>' not found``.
        """
        resolved = self.resolve(name)
        path = self._manifest_path(resolved)
        if not path.is_file():
            raise ModelNotFoundError(f"model '{name.display}' not found")
        path.unlink()
        _fsync_dir(path.parent)
        self._remove_empty_parents(path.parent)
        _log().info("manifest_deleted", model=resolved.full)
        return resolved

    def list_manifests(self) -> list[StoredManifest]:
        """Every stored manifest that parses, newest ``modified_at`` first.

        Manifests with an invalid path name or content are logged
        (``manifest_skipped``) and left out, never fatal, as in Ollama.
        """
        stored, failures = self._scan()
        for path, reason in failures:
            _log().warning("manifest_skipped", path=str(path), reason=reason)
        stored.sort(key=lambda item: item.name.full)
        stored.sort(key=lambda item: item.modified_at, reverse=True)
        return stored

    # -- garbage -------------------------------------------------------------------------

    def referenced_digests(self) -> set[Digest]:
        """Every digest a stored manifest references.

        A manifest that does not parse still protects every digest that appears
        in its bytes: deleting a blob is the one thing we cannot undo.
        """
        stored, failures = self._scan()
        referenced = {digest for item in stored for digest in item.manifest.all_digests}
        for path, _reason in failures:
            try:
                text = path.read_bytes()
            except OSError:
                continue
            referenced.update(parse_digest(m.decode("ascii")) for m in _DIGEST_IN_TEXT.findall(text))
        return referenced

    def remove_blobs_if_unreferenced(self, digests: Iterable[Digest]) -> list[Digest]:
        """Delete those of ``digests`` that no manifest references; returns the ones removed."""
        removed: list[Digest] = []
        for digest in unreferenced(digests, self.referenced_digests()):
            try:
                self.blob_path(digest).unlink()
            except FileNotFoundError:
                continue
            removed.append(digest)
        if removed:
            _log().info("blobs_removed", digests=[str(d) for d in removed])
        return removed

    def prune(self, grace_seconds: float = DEFAULT_PRUNE_GRACE_SECONDS, now: float | None = None) -> list[str]:
        """The startup prune of §3.5; returns removed paths relative to the root.

        Removes files in ``blobs/`` older than ``grace_seconds`` that are either
        unreferenced or not named as a digest, our stale manifest temp files, then
        empty folders under ``manifests/``. Skipped entirely, with a warning, when
        any manifest fails to parse: its blobs cannot be told apart from garbage.
        """
        now = time.time() if now is None else now
        stored, failures = self._scan()
        if failures:
            _log().warning("prune_skipped", reason="manifest failed to parse", paths=[str(p) for p, _ in failures])
            return []
        referenced = {digest for item in stored for digest in item.manifest.all_digests}
        removed = [f"{BLOBS_DIR}/{name}" for name in prune_plan(referenced, self._blob_files(), now, grace_seconds)]
        for rel in removed:
            (self._root / rel).unlink(missing_ok=True)
        removed += self._prune_manifest_temps(now, grace_seconds)
        self.remove_empty_manifest_dirs()
        _log().info("prune_done", removed=len(removed))
        return removed

    def remove_empty_manifest_dirs(self) -> None:
        """Remove every empty folder under ``manifests/`` (not ``manifests/`` itself)."""
        for dirpath, _dirnames, _filenames in os.walk(self._manifests, topdown=False):
            if Path(dirpath) == self._manifests:
                continue
            try:
                os.rmdir(dirpath)
            except OSError:  # not empty, or a symlink: both stay
                continue

    # -- internals ---------------------------------------------------------------------------

    def _fix_blob_names(self) -> None:
        renamed = False
        with os.scandir(self._blobs) as entries:
            for entry in entries:
                canonical = normalized_blob_filename(entry.name)
                if canonical is not None and entry.is_file(follow_symlinks=False):
                    os.replace(entry.path, self._blobs / canonical)
                    _log().info("blob_renamed", old=entry.name, new=canonical)
                    renamed = True
        if renamed:
            _fsync_dir(self._blobs)

    def _checked_temp(self, temp: Path) -> Path:
        temp = Path(os.path.abspath(temp))
        if temp.parent != self._blobs or not is_blob_temp_name(temp.name):
            raise ValueError(f"not a blob temp file of this store: {temp}")
        return temp

    def _commit_hashed(self, temp: Path, actual: Digest, expected: Digest | None) -> Digest:
        """Move a complete, synced ``temp`` whose digest is ``actual`` into place."""
        try:
            if expected is not None and actual != expected:
                raise DigestMismatchError(str(expected), str(actual))
            final = self.blob_path(actual)
            if final.is_file():
                temp.unlink()
                os.utime(final)
                return actual
            os.chmod(temp, _FILE_MODE)
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(self._blobs)
        return actual

    def _manifest_path(self, name: ModelName) -> Path:
        path = self._root.joinpath(*manifest_relpath(name).parts)
        if os.path.commonpath([self._manifests, path]) != str(self._manifests):
            raise InvalidModelNameError()
        return path

    def _match_entry(self, folder: Path, part: str, *, want_dir: bool) -> str | None:
        """The entry of ``folder`` equal to ``part`` ignoring ASCII case, of the wanted kind."""
        try:
            with os.scandir(folder) as entries:
                candidates = sorted(
                    entry.name
                    for entry in entries
                    if entry.name.isascii()
                    and entry.name.lower() == part.lower()
                    and (entry.is_dir() if want_dir else entry.is_file())
                )
        except (FileNotFoundError, NotADirectoryError):
            return None
        if part in candidates:
            return part
        return candidates[0] if candidates else None

    def _load(self, name: ModelName, path: Path) -> StoredManifest:
        with open(path, "rb") as source:
            raw = source.read()
            mtime = os.fstat(source.fileno()).st_mtime
        manifest = Manifest.from_json(raw)
        return StoredManifest(
            name=name,
            manifest=manifest,
            raw=raw,
            digest=hashlib.sha256(raw).hexdigest(),
            modified_at=_local_time(mtime),
            size=manifest.total_size,
        )

    def _write_manifest_bytes(self, name: ModelName, manifest: Manifest, raw: bytes) -> StoredManifest:
        for digest in manifest.all_digests:
            if not self.has_blob(digest):
                raise BlobNotFoundError(str(digest))
        target = self.resolve(name)
        path = self._manifest_path(target)
        created = not path.parent.is_dir()
        os.makedirs(path.parent, mode=_DIR_MODE, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(
            prefix=manifest_temp_prefix(target.tag), suffix=MANIFEST_TEMP_SUFFIX, dir=path.parent
        )
        temp = Path(temp_name)
        try:
            _write_and_sync(fd, raw)
            os.chmod(temp, _FILE_MODE)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self._sync_manifest_dirs(path.parent, created)
        _log().info("manifest_written", model=target.full)
        return self._load(target, path)

    def _sync_manifest_dirs(self, folder: Path, created: bool) -> None:
        """fsync ``folder`` and, if we just created it, its parents up to ``manifests/``."""
        _fsync_dir(folder)
        while created and folder != self._manifests:
            folder = folder.parent
            _fsync_dir(folder)

    def _remove_empty_parents(self, folder: Path) -> None:
        while folder != self._manifests and self._manifests in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty: the rest of the chain is in use
                return
            folder = folder.parent

    def _manifest_files(self) -> Iterator[tuple[tuple[str, ...], Path]]:
        """Every non-folder exactly four levels below ``manifests/`` (Ollama's ``*/*/*/*`` glob)."""

        def walk(folder: Path, parts: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Path]]:
            try:
                with os.scandir(folder) as entries:
                    listing = sorted(entries, key=lambda entry: entry.name)
            except (FileNotFoundError, NotADirectoryError):
                return
            for entry in listing:
                here = (*parts, entry.name)
                if len(here) < 4:
                    if entry.is_dir():
                        yield from walk(Path(entry.path), here)
                elif not entry.is_dir():
                    yield here, Path(entry.path)

        yield from walk(self._manifests, ())

    def _scan(self) -> tuple[list[StoredManifest], list[tuple[Path, str]]]:
        """All manifests that load, and the paths (with a reason) of those that do not."""
        stored: list[StoredManifest] = []
        failures: list[tuple[Path, str]] = []
        for parts, path in self._manifest_files():
            if is_manifest_temp_name(parts[-1]):
                continue
            name = name_from_manifest_parts(parts)
            if name is None:
                failures.append((path, "invalid manifest name"))
                continue
            try:
                stored.append(self._load(name, path))
            except (OSError, InvalidManifestError) as exc:
                failures.append((path, str(exc)))
        return stored, failures

    def _blob_files(self) -> list[BlobFile]:
        files: list[BlobFile] = []
        with os.scandir(self._blobs) as entries:
            for entry in entries:
                if not entry.is_dir(follow_symlinks=False):
                    files.append(BlobFile(entry.name, entry.stat(follow_symlinks=False).st_mtime))
        return sorted(files, key=lambda blob: blob.name)

    def _prune_manifest_temps(self, now: float, grace_seconds: float) -> list[str]:
        removed: list[str] = []
        for parts, path in self._manifest_files():
            if is_manifest_temp_name(parts[-1]) and is_stale(path.lstat().st_mtime, now, grace_seconds):
                path.unlink(missing_ok=True)
                removed.append("/".join((MANIFESTS_DIR, *parts)))
        return removed
