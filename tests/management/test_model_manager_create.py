"""The ModelManager streams create's status lines as they happen (not all at the end).

A real ModelManager over a temp store, with a ``GatedQuantizer``: a whole
``Quantizer`` (it really quantizes, through llama.cpp) that first waits until the
test opens its gate, so the test can look at the stream while quantization runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from ollama_actors.adapters.quantizer import LlamaCppQuantizer
from ollama_actors.bridge.stream import StreamEnd, TokenStream
from ollama_actors.kernel import call
from ollama_actors.kernel.names import Names
from ollama_actors.management.actors.model_manager import ModelManager
from ollama_actors.management.messages import CreateModel, CreateProgress, CreateRequest
from tests.fixtures.daemons import sha256_file


class GatedQuantizer:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.gate = threading.Event()

    def quantize(self, source: Path, target: Path, file_type: str) -> None:
        self.started.set()
        if not self.gate.wait(30):
            raise TimeoutError("the test never opened the gate")
        LlamaCppQuantizer().quantize(source, target, file_type)


@pytest.fixture
def quantizer() -> GatedQuantizer:
    return GatedQuantizer()


@pytest.fixture
def manager(tmp_path: Path, quantizer: GatedQuantizer) -> Iterator[object]:
    ref = ModelManager.start(tmp_path / "store", Names(), noprune=True, quantizer=quantizer)
    try:
        yield ref
    finally:
        ref.stop()


async def _statuses(stream: TokenStream[CreateProgress]) -> list[str] | StreamEnd:
    got = await stream.receive_batch()
    return got if isinstance(got, StreamEnd) else [line.status for line in got]


async def test_status_lines_arrive_while_the_quantization_still_runs(
    manager: object, quantizer: GatedQuantizer, tiny_model_path: Path, tmp_path: Path
) -> None:
    store_blob = tmp_path / "store" / "blobs" / sha256_file(tiny_model_path).replace(":", "-")
    store_blob.write_bytes(tiny_model_path.read_bytes())
    stream: TokenStream[CreateProgress] = TokenStream()
    request = CreateRequest(model="q", files={"m.gguf": sha256_file(tiny_model_path)}, quantize="q8_0")
    call(manager, CreateModel(request, progress=stream), stream)  # type: ignore[arg-type]
    seen: list[str] = []
    with trio.fail_after(30):
        while "quantizing F16 model to Q8_0" not in seen:
            got = await _statuses(stream)
            assert isinstance(got, list), got
            seen += got
    assert seen == ["parsing GGUF", "quantizing F16 model to Q8_0"]  # the gate is still shut
    assert await trio.to_thread.run_sync(quantizer.started.wait, 10)
    quantizer.gate.set()
    with trio.fail_after(30):
        while not isinstance(got := await _statuses(stream), StreamEnd):
            seen += got
    assert got.error is None
    assert seen[2:4] == ["quantizing F16 model to Q8_0", "verifying conversion"]
    assert seen[4].startswith("creating new layer sha256:")
    assert seen[-2:] == ["writing manifest", "success"]
