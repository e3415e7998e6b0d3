"""PullJob and PushJob: one actor per running registry transfer.

Each is a temporary child of the TransferSupervisor. The job actor owns the
transfer's watchers (one request's stream, or several when clients pull the same
model at once); a worker thread it starts does the registry I/O and reports each
progress line and the outcome as messages, so the actor stays responsive and
registry I/O never blocks the trio thread or another actor. Expected failures
(``OllamaError``: unknown model, digest mismatch, registry refusals) end every
watcher's stream with that error; anything else crashes the job, and the kernel
fails the held streams with the crash. Stopping the job cancels the worker at its
next chunk, leaving the partial file for a resume.

The ModelManager stays the single writer of the store: a pull writes only into
``blobs/sha256-<hex>-partial`` files the manager hands out, and the manager
verifies and commits them and writes the manifest, last. A blob is hashed while
it streams and committed only after every blob of the manifest verified, so a
tampered blob never enters the store.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import structlog

from ollama_actors.domain.digests import Digest, parse_digest
from ollama_actors.domain.errors import (
    ModelNotFoundError,
    OllamaError,
    RequestCanceledError,
    ServiceUnavailableError,
)
from ollama_actors.domain.manifests import Layer, Manifest
from ollama_actors.domain.names import parse_name
from ollama_actors.kernel import (
    BlockingReply,
    ExitReason,
    GenServer,
    ReplyTo,
    call,
    handle_call,
    handle_info,
    send_info,
)
from ollama_actors.kernel.names import Names
from ollama_actors.management.adapters.oci_registry import OciRegistry, RegistryError, TransientRegistryError
from ollama_actors.management.messages import (
    CommitBlobPartial,
    CreateProgress,
    DiscardBlobPartial,
    ManifestForPush,
    OpenBlobPartial,
    ProgressSink,
    ReadManifestForPush,
    StorePulledManifest,
    TransferRequest,
)

__all__ = ["PullJob", "PushJob", "WatchTransfer", "pull_key"]

PROGRESS_INTERVAL_S = 0.06  # Ollama's ~60 ms between progress lines per layer
MANAGER_TIMEOUT_S = 600.0  # committing a large blob hashes it again


@dataclass(frozen=True)
class WatchTransfer:
    """Call to a running job: also stream its progress to ``progress`` (the lines so
    far are replayed first). Reply: None. Two clients pulling one model share one job."""

    progress: Any  # Any: a bridge.TokenStream (a ProgressSink that is also a reply-to)


@dataclass(frozen=True)
class _Line:
    line: CreateProgress


@dataclass(frozen=True)
class _Done:
    value: object
    error: BaseException | None


class _TransferJob(GenServer):
    """The job actor fans progress out to every watcher; its worker thread does the I/O.

    The worker reports each line and its outcome as info messages, so the actor's
    mailbox stays free for ``WatchTransfer`` while bytes flow. A watcher that leaves
    changes nothing for the others; the last line per step is kept for late watchers.
    """

    def __init__(self, request: TransferRequest, progress: Any, names: Names, *, key: str | None = None) -> None:
        super().__init__()  # Any above: a bridge.TokenStream
        self._request = request
        self._sinks: list[Any] = [progress]
        self._history: list[CreateProgress] = []
        self._names = names
        self._key = key
        self._last_emit = 0.0
        self._cancelled = threading.Event()

    def init(self) -> None:
        self.hold(self._sinks[0])
        if self._key is not None:
            self._names.register(self._key, self.actor_ref)
        threading.Thread(target=self._work, name=f"{type(self).__name__}-worker", daemon=True).start()

    def terminate(self, reason: ExitReason) -> None:
        self._cancelled.set()  # the worker stops at its next chunk; partials stay
        if self._key is not None:
            self._names.unregister(self._key, self.actor_ref)

    @handle_call(WatchTransfer)
    def _on_watch(self, msg: WatchTransfer, reply: ReplyTo) -> None:
        for line in self._history:
            msg.progress.push(line)
        self._sinks.append(msg.progress)
        self.hold(msg.progress)
        reply.set(None)

    @handle_info(_Line)
    def _on_line(self, msg: _Line) -> None:
        last = self._history[-1] if self._history else None
        if last is not None and (last.status, last.digest) == (msg.line.status, msg.line.digest):
            self._history[-1] = msg.line
        else:
            self._history.append(msg.line)
        for sink in self._sinks:
            sink.push(msg.line)  # a client that left does not stop the transfer

    @handle_info(_Done)
    def _on_done(self, msg: _Done) -> None:
        if msg.error is not None and not isinstance(msg.error, OllamaError):
            raise msg.error  # unexpected: crash; the kernel fails every held stream
        for sink in self._sinks:
            if msg.error is None:
                sink.set(msg.value)
            else:
                sink.fail(msg.error)
        self.stop_normal()

    def _work(self) -> None:
        """The worker thread: run the transfer, hand the outcome to the actor."""
        try:
            outcome = _Done(self._transfer(), None)
        except BaseException as error:  # handed over, not swallowed: the actor decides
            outcome = _Done(None, error)
        send_info(self.actor_ref, outcome)

    def _transfer(self) -> tuple[CreateProgress, ...]:
        raise NotImplementedError

    def _emit(self, line: CreateProgress) -> None:
        send_info(self.actor_ref, _Line(line))

    def _emit_bytes(self, status: str, digest: Digest, total: int, done: int) -> None:
        if self._cancelled.is_set():
            raise RequestCanceledError("transfer canceled")
        now = time.monotonic()
        if done >= total or now - self._last_emit >= PROGRESS_INTERVAL_S:
            self._last_emit = now
            self._emit(CreateProgress(status, str(digest), total, done))

    def _manager(self, message: object) -> Any:  # Any: per message
        """Call the ModelManager from the worker and wait for its answer (it never calls back)."""
        ref = self._names.whereis("model_manager")
        if ref is None:
            raise ServiceUnavailableError("model manager is not running")
        reply: BlockingReply[Any] = BlockingReply()
        call(ref, message, reply)
        return reply.wait(MANAGER_TIMEOUT_S)


class _OversizeError(RegistryError):
    """The registry sent more bytes than the manifest declared."""


class PullJob(_TransferJob):
    """``pulling manifest`` → blobs (skipped when present) → verify → manifest → ``success``.

    Each missing blob downloads into ``blobs/sha256-<hex>-partial``, which a failed
    or cancelled pull leaves behind: the next pull resumes it with a Range request
    and fetches only the missing bytes. Content known bad (digest mismatch, more
    bytes than declared) is discarded, never committed.
    """

    RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # then "max retries exceeded"

    def _transfer(self) -> tuple[CreateProgress, ...]:
        name = parse_name(self._request.model)
        self._emit(CreateProgress("pulling manifest"))
        registry = OciRegistry(name, insecure=self._request.insecure)
        try:
            raw = registry.get_manifest()
            manifest = Manifest.from_json(raw)
            fetched = [f for layer in _unique((*manifest.layers, manifest.config))
                       if (f := self._pull_blob(registry, layer)) is not None]
        finally:
            registry.close()
        self._emit(CreateProgress("verifying sha256 digest"))
        for digest, actual in fetched:
            if actual != digest.hex:
                self._manager(DiscardBlobPartial(str(digest)))
                raise RegistryError(
                    f"digest mismatch, file must be downloaded again: want {digest}, got sha256:{actual}", status=400
                )
        for digest, _ in fetched:
            self._manager(CommitBlobPartial(str(digest)))
        self._emit(CreateProgress("writing manifest"))
        removed = self._manager(StorePulledManifest(name.full, raw))
        if removed:
            self._emit(CreateProgress("removing unused layers"))
        self._emit(CreateProgress("success"))
        return (CreateProgress("success"),)

    def _pull_blob(self, registry: OciRegistry, layer: Layer) -> tuple[Digest, str] | None:
        """Download (or resume) one blob, hashing as it streams; None when already stored."""
        status = f"pulling {layer.digest.short}"
        partial: Path | None = self._manager(OpenBlobPartial(str(layer.digest)))
        if partial is None:
            self._emit(CreateProgress(status, str(layer.digest), layer.size, layer.size))
            return None
        with partial.open("r+b") as out:
            writer = _HashingWriter(out)
            if writer.size > layer.size:
                writer.restart()
            self._emit(CreateProgress(status, str(layer.digest), layer.size, writer.size))
            _check_free_space(partial.parent, layer.size - writer.size)
            try:
                self._download(registry, layer, writer, status)
            except _OversizeError:
                out.close()
                self._manager(DiscardBlobPartial(str(layer.digest)))
                raise
            return layer.digest, writer.hexdigest()

    def _download(self, registry: OciRegistry, layer: Layer, writer: _HashingWriter, status: str) -> None:
        """Fetch what the partial file lacks; a transient failure is retried after a
        back-off, from the byte where it stopped; 4xx answers are not retried."""
        for delay in (*self.RETRY_DELAYS_S, None):
            if writer.size >= layer.size:
                return
            try:
                registry.download_blob(layer.digest, writer, self._bounded(status, layer), offset=writer.size)
                return
            except TransientRegistryError as error:
                if delay is None:
                    raise RegistryError(f"max retries exceeded: {error}") from None
                structlog.get_logger().info("pull_retry", digest=str(layer.digest), after_s=delay, error=str(error))
            if self._cancelled.wait(delay):
                raise RequestCanceledError("transfer canceled")

    def _bounded(self, status: str, layer: Layer) -> Callable[[int], None]:
        def progress(done: int) -> None:
            if done > layer.size:  # a hostile registry must not fill the disk
                raise _OversizeError(f"blob {layer.digest} is larger than its manifest says ({layer.size} bytes)")
            self._emit_bytes(status, layer.digest, layer.size, done)

        return progress


def _check_free_space(folder: Path, needed: int) -> None:
    """Refuse a download the disk cannot hold (Ollama would fail half-way)."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise RegistryError(f"insufficient disk space: need {needed} bytes, {free} free", status=507)


def _unique(layers: tuple[Layer, ...]) -> list[Layer]:
    """Each blob once (a config may also be a layer), in manifest order."""
    return list({layer.digest: layer for layer in layers}.values())


class PushJob(_TransferJob):
    """``retrieving manifest`` → blobs (skipped when the registry has them) → manifest → ``success``."""

    def _transfer(self) -> tuple[CreateProgress, ...]:
        name = parse_name(self._request.model)
        self._emit(CreateProgress("retrieving manifest"))
        registry = OciRegistry(name, insecure=self._request.insecure)
        try:
            try:
                local: ManifestForPush = self._manager(ReadManifestForPush(self._request.model))
            except ModelNotFoundError:
                self._emit(CreateProgress("couldn't retrieve manifest"))  # Ollama's line before the error
                raise
            for raw_digest, path, size in local.blobs:
                digest = parse_digest(raw_digest)
                status = f"pushing {digest.short}"
                if registry.blob_exists(digest):
                    self._emit(CreateProgress(status, str(digest), size, size))
                    continue
                self._emit(CreateProgress(status, str(digest), size, 0))
                registry.upload_blob(digest, path, size, lambda done: self._emit_bytes(status, digest, size, done))
            self._emit(CreateProgress("pushing manifest"))
            registry.put_manifest(local.raw, local.media_type)
        finally:
            registry.close()
        self._emit(CreateProgress("success"))
        return (CreateProgress("success"),)


class _HashingWriter:
    """Appends to a partial file and hashes it, the bytes already there included."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hasher = hashlib.sha256()
        for block in iter(lambda: out.read(1 << 20), b""):
            self._hasher.update(block)
        self.size = out.tell()  # bytes in the file, all hashed

    def write(self, data: bytes) -> int:
        self._hasher.update(data)
        self.size += len(data)
        return self._out.write(data)

    def restart(self) -> None:
        self._out.seek(0)
        self._out.truncate()
        self._hasher = hashlib.sha256()
        self.size = 0

    def hexdigest(self) -> str:
        self._out.flush()
        os.fsync(self._out.fileno())
        return self._hasher.hexdigest()


def pull_key(model: str) -> str:
    """The name a running pull of ``model`` is registered under (case-insensitive)."""
    return "pull:" + "/".join(parse_name(model).casefold_key)
