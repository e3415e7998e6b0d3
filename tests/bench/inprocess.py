"""The baseline: llama-cpp-python in process, one request at a time (run as a child process).

``python -m tests.bench.inprocess SPEC.json`` loads the model with ``Llama(...)``,
streams one warm-up completion, answers ``{"ready": true, ...}`` on one line, then
serves bursts on command for as long as the harness keeps it: every line on its stdin
is a JSON command, ``{"waves": [[prompt, ...], ...]}`` (each wave a burst of prompts
served one request after another) or ``{"quit": true}``, and each gets one line of
JSON back: per wave the requests' times (``start`` is the wave's start: a burst of
clients served in turn waits in line). It exits at ``quit`` or at the end of its stdin
(the harness is gone).

A child process rather than the harness itself, so that the baseline's RSS is that
of a process holding only the model (as a runner process is), and no harness thread
competes with ggml's threads during its decode. Long-lived, so that it can take its
turn in every round of the interleaved generation phase (the harness reads its RSS
from ``/proc``). Replies go to the stdout it was started with; anything else that
writes to fd 1 (llama.cpp's C code) is sent to stderr, so no stray line can corrupt
the protocol.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["load", "main", "rss_kib", "run_waves", "serve"]


def rss_kib(pid: int | str = "self") -> int:
    """``VmRSS`` of a process in KiB, from ``/proc/<pid>/status`` (0 if it has none)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _stream_one(llm: Any, prompt: str, spec: dict[str, Any], start: float) -> dict[str, Any]:
    """One streamed completion; ``Any``: llama_cpp's ``Llama`` (imported lazily, heavy)."""
    first, chunks, finish = None, 0, None
    for chunk in llm.create_completion(
        prompt, max_tokens=spec["num_predict"], temperature=0.0, seed=1, stream=True
    ):
        choice = chunk["choices"][0]
        if choice.get("text"):
            chunks += 1
            if first is None:
                first = time.perf_counter()
        finish = choice.get("finish_reason") or finish
    end = time.perf_counter()
    error = None if finish == "length" else f"finish_reason {finish!r}, not 'length'"
    return {"start": start, "first": first or end, "end": end, "tokens": chunks, "error": error}


def _run_wave(llm: Any, prompts: list[str], spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A burst of prompts served in turn: every request's ``start`` is the wave's."""
    start = time.perf_counter()
    return [_stream_one(llm, prompt, spec, start) for prompt in prompts]


def load(spec: dict[str, Any]) -> Any:
    """The model, loaded and warmed up by one streamed completion (``Any``: llama_cpp's ``Llama``)."""
    from llama_cpp import Llama

    llm = Llama(
        model_path=spec["model"], n_ctx=spec["n_ctx"], n_batch=spec.get("n_batch", 512),
        n_threads=spec["n_threads"], n_threads_batch=spec["n_threads"], verbose=False,
    )
    _stream_one(llm, spec["warmup_prompt"], spec, time.perf_counter())
    return llm


def run_waves(llm: Any, waves: list[list[str]], spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """One burst command: its waves, each served one request at a time."""
    return [_run_wave(llm, wave, spec) for wave in waves]


def serve(spec: dict[str, Any], commands: TextIO, replies: TextIO) -> None:
    """Load, say ready, then answer every command line until ``quit`` or the end of ``commands``."""
    rss_before = rss_kib()
    llm = load(spec)
    _reply(replies, {"ready": True, "rss_kib": {"before_load": rss_before, "loaded": rss_kib()}})
    for line in commands:
        if not line.strip():
            continue
        command = json.loads(line)
        if command.get("quit"):
            break
        _reply(replies, {"waves": run_waves(llm, command["waves"], spec)})


def _reply(replies: TextIO, data: dict[str, Any]) -> None:
    replies.write(json.dumps(data) + "\n")
    replies.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    replies = os.fdopen(os.dup(1), "w")  # the protocol's channel; fd 1 itself now goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(spec, sys.stdin, replies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
