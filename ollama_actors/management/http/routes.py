"""Routes of the management context: tags, show, copy, delete, blobs, create, pull, push.

Translate only: JSON in, a message to the ModelManager, JSON (or a status
stream) out. Blob uploads stream the body straight to a temp file in the
store's blob folder; the ModelManager verifies and commits it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import trio
from quart import Blueprint, Response, request

from ollama_actors.bridge.reply import ask
from ollama_actors.bridge.stream import TokenStream
from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.digests import parse_digest
from ollama_actors.domain.errors import (
    BlobNotFoundError,
    InvalidModelNameError,
    InvalidRequestError,
    ServiceUnavailableError,
)
from ollama_actors.edge.deps import EdgeDeps
from ollama_actors.edge.json_body import Fields, read_json
from ollama_actors.domain.names import parse_name
from ollama_actors.kernel import ChildSpec, Restart, StartChild, StartError, call
from ollama_actors.management.actors.transfers import PullJob, PushJob, TransferRunningError, WatchTransfer, pull_key
from ollama_actors.management.http.progress import respond_progress
from ollama_actors.management.messages import (
    AbortBlobUpload,
    CommitBlob,
    CopyModel,
    CreateModel,
    CreateProgress,
    CreateRequest,
    DeleteModel,
    HasBlob,
    ListModels,
    ModelSummary,
    OpenBlobUpload,
    ShowInfo,
    ShowModel,
    TransferRequest,
)
from ollama_actors.runner.http.schemas import local_time

__all__ = ["management_blueprint"]


def management_blueprint(deps: EdgeDeps) -> Blueprint:
    bp = Blueprint("management", __name__)
    timeout = deps.settings.request_timeout_s

    async def manager(message: object, *, wait: float = timeout) -> Any:  # Any: per message
        return await ask(deps.actor("model_manager"), message, timeout=wait)

    @bp.route("/api/tags", methods=["GET", "HEAD"])
    async def tags() -> dict[str, Any]:
        models: tuple[ModelSummary, ...] = await manager(ListModels())
        return {"models": [_summary_json(m) for m in models]}

    @bp.post("/api/show")
    async def show() -> dict[str, Any]:
        f = Fields(await read_json(), "ShowRequest")
        name = (f.str("model") or f.str("name")).strip()
        if not name:
            raise InvalidRequestError("model is required")
        info: ShowInfo = await manager(
            ShowModel(name, verbose=f.bool("verbose"), system=f.str("system"), options=f.object("options") or {})
        )
        return _show_json(info)

    @bp.post("/api/copy")
    async def copy() -> Response:
        f = Fields(await read_json(), "CopyRequest")
        await manager(CopyModel(f.str("source"), f.str("destination")))
        return Response("", status=200)

    @bp.delete("/api/delete")
    async def delete() -> Response:
        f = Fields(await read_json(), "DeleteRequest")
        name = f.str("model") or f.str("name")
        if not name.strip():
            raise InvalidModelNameError(f'name "{name}" is invalid')
        await manager(DeleteModel(name))
        return Response("", status=200)

    @bp.route("/api/blobs/<digest>", methods=["HEAD"])
    async def head_blob(digest: str) -> Response:
        parse_digest(digest)
        if not await manager(HasBlob(digest)):
            raise BlobNotFoundError(digest)
        return Response("", status=200)

    @bp.post("/api/blobs/<digest>")
    async def upload_blob(digest: str) -> Response:
        parse_digest(digest)
        temp: Path | None = await manager(OpenBlobUpload(digest))
        if temp is None:
            # Already stored. Ollama answers without reading the body; we drain it
            # so a client still sending (the official one streams the file) is not
            # left blocked on a full socket buffer.
            async for _ in request.body:
                pass
            return Response("", status=200)
        committed = False
        try:
            async with await trio.open_file(temp, "wb") as out:
                async for chunk in request.body:
                    await out.write(chunk)
            await manager(CommitBlob(temp, digest), wait=timeout + 600)
            committed = True
        finally:
            if not committed:
                with trio.CancelScope(shield=True):
                    with trio.move_on_after(5):
                        await manager(AbortBlobUpload(temp))
        return Response("", status=201)

    @bp.post("/api/create")
    async def create() -> Response:
        body = await read_json()
        create_request = _create_request(body)
        streaming = Fields(body, "CreateRequest").bool("stream", True)
        # The stream is both where the ModelManager pushes status lines as they
        # happen and the call's reply-to: a crash of the actor fails it, so this
        # wait ends even without a deadline (a quantization may take minutes).
        stream: TokenStream[CreateProgress] = TokenStream()
        call(deps.actor("model_manager"), CreateModel(create_request, progress=stream), stream)
        return await respond_progress(stream, streaming=streaming)

    async def transfer(kind: str, job: type[PullJob] | type[PushJob]) -> Response:
        f = Fields(await read_json(), f"{kind.capitalize()}Request")
        name = (f.str("model") or f.str("name")).strip()
        if not name:
            raise InvalidRequestError("model is required")
        parse_name(name)  # 400 "invalid model name" before anything starts
        transfer_request = TransferRequest(name, insecure=f.bool("insecure"))
        stream: TokenStream[CreateProgress] = TokenStream()
        # A pull of a model already being pulled joins that job (one download, both
        # see its progress). Each job has its own child id; the job itself claims
        # the model's name in its init, which the supervisor runs one at a time,
        # so two starts cannot both win, and a job that is ending (it released the
        # name first) never blocks the next pull.
        key = pull_key(name) if job is PullJob else None
        for _ in range(START_ATTEMPTS):
            running = deps.names.whereis(key) if key else None
            if running is not None:
                try:
                    await ask(running, WatchTransfer(stream), timeout=timeout)
                    break
                except ServiceUnavailableError:  # it is ending: start a new one
                    continue
            # The job is a temporary child of the transfer supervisor; it holds the
            # stream, so its crash ends the stream with an error line.
            spec = ChildSpec(
                id=f"{key or kind}#{uuid.uuid4().hex[:12]}",
                start=lambda link: job.start_link(link, transfer_request, stream, deps.names, key=key),
                restart=Restart.TEMPORARY,
                shutdown=5.0,
            )
            try:
                await ask(deps.actor("transfer_supervisor"), StartChild(spec), timeout=timeout)
                break
            except StartError as error:
                if not _caused_by(error, TransferRunningError):
                    raise
                # another request started it first: watch it
        else:
            raise ServiceUnavailableError(f"{kind} could not start, please try again")
        return await respond_progress(stream, streaming=f.bool("stream", True))

    @bp.post("/api/pull")
    async def pull() -> Response:
        return await transfer("pull", PullJob)

    @bp.post("/api/push")
    async def push() -> Response:
        return await transfer("push", PushJob)

    return bp


START_ATTEMPTS = 8  # each lost race means another request's job is now there to watch


def _caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is in the ``cause`` chain of a ``StartError``."""
    while error is not None:
        if isinstance(error, kind):
            return True
        error = getattr(error, "cause", None) or error.__cause__
    return False


def _summary_json(model: ModelSummary) -> dict[str, Any]:
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": local_time(model.modified_at),
        "size": model.size,
        "digest": model.digest,
        "details": model.details.to_json(),
    }


def _show_json(info: ShowInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "license": info.license,
        "modelfile": info.modelfile,
        "parameters": info.parameters,
        "template": info.template,
        "system": info.system,
        "details": info.details.to_json(),
        "model_info": dict(info.model_info),
        "capabilities": list(info.capabilities),
        "modified_at": local_time(info.modified_at),
    }
    if info.messages:
        out["messages"] = [{"role": m.role, "content": m.content} for m in info.messages]
    if info.tensors:
        out["tensors"] = list(info.tensors)
    return {k: v for k, v in out.items() if v not in ("", None) or k in ("model_info", "details")}


def _create_request(body: dict[str, Any]) -> CreateRequest:
    f = Fields(body, "CreateRequest")
    model = (f.str("model") or f.str("name")).strip()
    if not model:
        raise InvalidModelNameError("invalid model name")
    license_raw = f.raw("license")
    licenses = [license_raw] if isinstance(license_raw, str) else (license_raw or [])
    if not all(isinstance(x, str) for x in licenses):
        raise InvalidRequestError("json: cannot unmarshal license into Go struct field CreateRequest.license")
    files, adapters = f.object("files") or {}, f.object("adapters") or {}
    messages = []
    for m in f.list("messages") or []:
        mf = Fields(m if isinstance(m, dict) else {}, "Message")
        messages.append(ChatMessage(role=mf.str("role"), content=mf.str("content")))
    return CreateRequest(
        model=model,
        from_=f.get("from", str, None) or None,
        files={str(k): v for k, v in files.items()},
        adapters={str(k): v for k, v in adapters.items()},
        template=f.get("template", str, None),
        system=f.get("system", str, None),
        parameters=f.object("parameters") or {},
        messages=tuple(messages),
        license=tuple(licenses),
        quantize=f.get("quantize", str, None) or f.get("quantization", str, None),
    )
