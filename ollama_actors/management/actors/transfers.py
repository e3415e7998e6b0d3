"""PullJob and PushJob: one actor per running registry transfer.

Each is a temporary child of the TransferSupervisor. The job actor owns the
transfer's watchers (one request's stream, or several when clients pull the same
model at once); a worker thread it starts does the registry I/O and reports each
progress line and the outcome as messages, so the actor stays responsive and
registry I/O never blocks the trio thread or another actor. Expected failures
(``OllamaError``: unknown model, digest mismatch, registry refusals) end every
watcher's stream with that error; anything else crashes the job, and the kernel
fails the held streams with the crash.

Cancellation (``worker_reply.Cancellation``): stopping the job, or the last
watcher leaving (Ctrl-C in the CLI), cancels the worker at its next chunk and
ends any wait it has on the ModelManager at once, leaving the partial file (and
the parts' sidecar) for a resume. A watcher that leaves while others stay
changes nothing for them.

One pull per model: a pull job claims the name ``pull:<model>`` in its ``init``
(the supervisor starts jobs one at a time, so the claim is atomic) and releases
it as soon as it is done or cancelled, before it stops, so the next pull of that
model starts a fresh job instead of meeting a dying one.

The ModelManager stays the single writer of the store: a pull writes only into
``blobs/sha256-<hex>-partial`` files the manager hands out, and the manager
verifies and commits them and writes the manifest, last. Every blob is verified
(hashed while it streams, or over the whole file after parallel parts) and
committed only after every blob of the manifest verified, so a tampered blob
never enters the store. The worker waits on the manager with ``WorkerReply``,
not the kernel's ``BlockingReply`` (see ``worker_reply`` for why).

Bytes that cross the network are published on the event bus as
``transfer.bytes`` ``{"direction": "pull"|"push", "bytes": n}``, once per part
or stream attempt (pull) and per uploaded chunk (push), for ``/metrics``.
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

from ollama_actors.adapters.event_bus import publisher
from ollama_actors.domain.digests import Digest, parse_digest
from ollama_actors.domain.errors import (
    ModelNotFoundError,
    OllamaError,
    ServiceUnavailableError,
)
from ollama_actors.domain.manifests import Layer, Manifest
from ollama_actors.domain.names import parse_name
from ollama_actors.kernel import (
    ExitReason,
    GenServer,
    ReplyTo,
    call,
    handle_call,
    handle_info,
    send_info,
)
from ollama_actors.kernel.names import Names
from ollama_actors.management.actors.worker_reply import Cancellation
from ollama_actors.management.adapters.oci_registry import (
    OciRegistry,
    RangeNotSupportedError,
    RegistryError,
    TransientRegistryError,
)
from ollama_actors.management.adapters.parallel_download import download_parts
from ollama_actors.management.adapters.part_file import PartFile
from ollama_actors.management.adapters.ssh_key import Ed25519Signer, default_key_path
from ollama_actors.management.domain.parts import Part, plan_parts
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

__all__ = ["PullJob", "PushJob", "TransferRunningError", "WatchTransfer", "pull_key"]

PROGRESS_INTERVAL_S = 0.06  # Ollama's ~60 ms between progress lines per layer
MANAGER_TIMEOUT_S = 600.0  # committing a large blob hashes it again


@dataclass(frozen=True)
class WatchTransfer:
    """Call to a running job: also stream its progress to ``progress`` (the lines so
    far are replayed first). Reply: None. Two clients pulling one model share one job."""

    progress: Any  # Any: a bridge.TokenStream (a ProgressSink that is also a reply-to)


class TransferRunningError(OllamaError):
    """A job for this model is already running and accepting watchers: watch it instead.

    Raised by a job's ``init``. Jobs start one at a time in the transfer
    supervisor's thread, so the check-and-register there is atomic without a
    child id per model (such an id would stay taken by a job that is still
    stopping, and refuse the next pull).
    """

    status = 409


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
    changes nothing for the others; when the last one has left the job cancels
    itself (Ollama's rule: cancelling the last waiter cancels the download), and
    what was downloaded stays in the partial for the next pull to resume. The last
    line per step is kept for late watchers.
    """

    def __init__(self, request: TransferRequest, progress: Any, names: Names, *, key: str | None = None) -> None:
        super().__init__()  # Any above: a bridge.TokenStream
        self._request = request
        self._sinks: list[Any] = [progress]
        self._history: list[CreateProgress] = []
        self._names = names
        self._key = key
        self._last_emit = 0.0
        self._cancel = Cancellation()
        self._publish = publisher(names)

    def init(self) -> None:
        if self._key is not None:
            running = self._names.whereis(self._key)
            if running is not None and running != self.actor_ref:
                raise TransferRunningError(f"{self._key} is already running")
            self._names.register(self._key, self.actor_ref)
        self.hold(self._sinks[0])
        threading.Thread(target=self._work, name=f"{type(self).__name__}-worker", daemon=True).start()

    def terminate(self, reason: ExitReason) -> None:
        self._cancel.cancel()  # the worker stops at its next chunk; partials stay
        self._release_key()

    def _release_key(self) -> None:
        if self._key is not None:
            self._names.unregister(self._key, self.actor_ref)

    @handle_call(WatchTransfer)
    def _on_watch(self, msg: WatchTransfer, reply: ReplyTo) -> None:
        if self._cancel.is_set():  # too late to join: the caller starts a fresh job
            raise ServiceUnavailableError("transfer is ending")
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
            sink.push(msg.line)
        self._sinks = [sink for sink in self._sinks if not sink.done]  # those who left
        if not self._sinks and not self._cancel.is_set():
            structlog.get_logger().info("transfer_abandoned", model=self._request.model)
            self._release_key()  # a new pull must not join a job that is stopping
            self._cancel.cancel()

    @handle_info(_Done)
    def _on_done(self, msg: _Done) -> None:
        self._release_key()  # from now on a pull of this model starts a fresh job
        self._cancel.cancel()
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
        self._cancel.check()
        now = time.monotonic()
        if done >= total or now - self._last_emit >= PROGRESS_INTERVAL_S:
            self._last_emit = now
            self._emit(CreateProgress(status, str(digest), total, done))

    def _moved(self, direction: str, count: int) -> None:
        """Publish ``transfer.bytes``: bytes that crossed the network (per part, chunk or attempt)."""
        if count > 0:
            self._publish("transfer.bytes", {"direction": direction, "bytes": count})

    def _manager(self, message: object) -> Any:  # Any: per message
        """Call the ModelManager from the worker and wait for its answer (it never calls
        back). The wait ends early with ``RequestCanceledError`` if the job is cancelled
        (see ``worker_reply``)."""
        ref = self._names.whereis("model_manager")
        if ref is None:
            raise ServiceUnavailableError("model manager is not running")
        reply = self._cancel.reply()
        call(ref, message, reply)
        return reply.wait(MANAGER_TIMEOUT_S)


class _OversizeError(RegistryError):
    """The registry sent more bytes than the manifest declared."""


class PullJob(_TransferJob):
    """``pulling manifest`` → blobs (skipped when present) → verify → manifest → ``success``.

    Each missing blob downloads into ``blobs/sha256-<hex>-partial``, which a failed
    or cancelled pull leaves behind: the next pull resumes it and fetches only the
    missing bytes. A blob larger than ``MIN_PART_SIZE`` is fetched as up to
    ``PARTS`` byte ranges, ``PARALLEL`` at a time, each written at its offset, with
    the parts' progress in a sidecar (``adapters/part_file.py``); a registry that
    ignores Range gets one stream instead. Content known bad (digest mismatch,
    more bytes than declared) is discarded, never committed.

    The class attributes are Ollama's numbers; tests lower them.
    """

    RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # then "max retries exceeded"
    MIN_PART_SIZE = 100 * 1000 * 1000  # Ollama's minDownloadPartSize
    MAX_PART_SIZE = 1000 * 1000 * 1000  # Ollama's maxDownloadPartSize
    PARTS = 16  # Ollama's numDownloadParts
    PARALLEL = 8  # parts in flight at once

    def _transfer(self) -> tuple[CreateProgress, ...]:
        name = parse_name(self._request.model)
        self._emit(CreateProgress("pulling manifest"))
        registry = OciRegistry(name, insecure=self._request.insecure, signer=Ed25519Signer(default_key_path()))
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
        """Download (or resume) one blob; its digest and actual hash, or None when already stored."""
        status = f"pulling {layer.digest.short}"
        partial: Path | None = self._manager(OpenBlobPartial(str(layer.digest)))
        if partial is None:
            self._emit(CreateProgress(status, str(layer.digest), layer.size, layer.size))
            return None
        # Blocks allocated, not length: a parted partial is a sparse file of full size.
        _check_free_space(partial.parent, layer.size - min(partial.stat().st_blocks * 512, layer.size))
        plan = plan_parts(layer.size, min_part=self.MIN_PART_SIZE, max_part=self.MAX_PART_SIZE, count=self.PARTS)
        if len(plan) > 1:
            fetched = self._pull_parts(registry, layer, partial, plan, status)
            if fetched is not None:
                return fetched
        PartFile.collapse(partial, plan)
        return self._pull_stream(registry, layer, partial, status)

    def _pull_parts(
        self, registry: OciRegistry, layer: Layer, partial: Path, plan: tuple[Part, ...], status: str
    ) -> tuple[Digest, str] | None:
        """Fetch the missing byte ranges concurrently; None if the registry ignores Range."""
        with PartFile.open(partial, plan) as file:
            self._emit(CreateProgress(status, str(layer.digest), layer.size, file.state.completed))

            def attempt() -> None:
                download_parts(
                    registry, layer.digest, file, concurrency=self.PARALLEL,
                    on_progress=lambda done: self._emit_bytes(status, layer.digest, layer.size, done),
                    on_moved=lambda count: self._moved("pull", count),
                )

            try:
                self._retrying(layer, attempt)
            except RangeNotSupportedError:
                structlog.get_logger().info("pull_range_unsupported", digest=str(layer.digest))
                return None
            return layer.digest, file.hexdigest()

    def _pull_stream(self, registry: OciRegistry, layer: Layer, partial: Path, status: str) -> tuple[Digest, str]:
        """One stream from where the partial ends, hashing as it goes."""
        with partial.open("r+b") as out:
            writer = _HashingWriter(out)
            if writer.size > layer.size:
                writer.restart()
            self._emit(CreateProgress(status, str(layer.digest), layer.size, writer.size))
            _check_free_space(partial.parent, layer.size - writer.size)

            def attempt() -> None:
                if writer.size >= layer.size:
                    return
                before = writer.written
                try:
                    registry.download_blob(layer.digest, writer, self._bounded(status, layer), offset=writer.size)
                finally:
                    self._moved("pull", writer.written - before)

            try:
                self._retrying(layer, attempt)
            except _OversizeError:
                out.close()
                self._manager(DiscardBlobPartial(str(layer.digest)))
                raise
            return layer.digest, writer.hexdigest()

    def _retrying(self, layer: Layer, attempt: Callable[[], None]) -> None:
        """Run ``attempt`` until it returns; a transient failure is retried after a
        back-off (each attempt resumes where the bytes stopped); 4xx is not retried."""
        for delay in (*self.RETRY_DELAYS_S, None):
            try:
                attempt()
                return
            except TransientRegistryError as error:
                if delay is None:
                    raise RegistryError(f"max retries exceeded: {error}") from None
                structlog.get_logger().info("pull_retry", digest=str(layer.digest), after_s=delay, error=str(error))
            self._cancel.sleep(delay)

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
    """``retrieving manifest`` → blobs (skipped when the registry has them, mounted
    when another repository of that registry has them) → manifest → ``success``."""

    def _transfer(self) -> tuple[CreateProgress, ...]:
        name = parse_name(self._request.model)
        self._emit(CreateProgress("retrieving manifest"))
        registry = OciRegistry(name, insecure=self._request.insecure, signer=Ed25519Signer(default_key_path()))
        try:
            try:
                local: ManifestForPush = self._manager(ReadManifestForPush(self._request.model))
            except ModelNotFoundError:
                self._emit(CreateProgress("couldn't retrieve manifest"))  # Ollama's line before the error
                raise
            mounts = dict(local.mounts)
            for raw_digest, path, size in local.blobs:
                self._push_blob(registry, parse_digest(raw_digest), path, size, mounts.get(raw_digest))
            self._emit(CreateProgress("pushing manifest"))
            registry.put_manifest(local.raw, local.media_type)
        finally:
            registry.close()
        self._emit(CreateProgress("success"))
        return (CreateProgress("success"),)

    def _push_blob(self, registry: OciRegistry, digest: Digest, path: Path, size: int, mount_from: str | None) -> None:
        """Skip a blob the repository has, mount one another repository has, else upload it."""
        status = f"pushing {digest.short}"
        if registry.blob_exists(digest):
            self._emit(CreateProgress(status, str(digest), size, size))
            return
        self._emit(CreateProgress(status, str(digest), size, 0))
        sent = 0

        def progress(done: int) -> None:
            nonlocal sent
            self._moved("push", done - sent)  # once per uploaded chunk
            sent = done
            self._emit_bytes(status, digest, size, done)

        if registry.upload_blob(digest, path, size, progress, mount_from=mount_from):
            structlog.get_logger().info("blob_mounted", digest=str(digest), source=mount_from)
            self._emit(CreateProgress(status, str(digest), size, size))


class _HashingWriter:
    """Appends to a partial file and hashes it, the bytes already there included."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hasher = hashlib.sha256()
        for block in iter(lambda: out.read(1 << 20), b""):
            self._hasher.update(block)
        self.size = out.tell()  # bytes in the file, all hashed
        self.written = 0  # bytes written through this writer (what crossed the network)

    def write(self, data: bytes) -> int:
        self._hasher.update(data)
        self.size += len(data)
        self.written += len(data)
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
