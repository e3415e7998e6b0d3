"""The baseline: llama-cpp-python in process, one request at a time (run as a child process).

``python -m tests.bench.inprocess SPEC.json`` loads the model with ``Llama(...)``,
streams one warm-up completion, then for each level serves its waves of prompts one
request after another, and prints one JSON object: per level and wave the requests' times (``start`` is the wave's
start: a burst of clients served in turn waits in line), and the process's RSS.

A child process rather than the harness itself, so that the baseline's RSS is that
of a process holding only the model (as a runner process is), and no harness thread
competes with ggml's threads during its decode.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "rss_kib", "run_spec"]


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


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Load, warm up, run the waves; the result as JSON-ready data."""
    from llama_cpp import Llama

    rss_before = rss_kib()
    llm = Llama(
        model_path=spec["model"], n_ctx=spec["n_ctx"], n_batch=spec.get("n_batch", 512),
        n_threads=spec["n_threads"], n_threads_batch=spec["n_threads"], verbose=False,
    )
    rss_loaded = rss_kib()
    _stream_one(llm, spec["warmup_prompt"], spec, time.perf_counter())
    levels = []
    for waves in spec["levels"]:
        levels.append([_run_wave(llm, wave, spec) for wave in waves])
        print(f"[inprocess] level of {len(waves[0])} stream(s) done", file=sys.stderr, flush=True)
    return {"levels": levels, "rss_kib": {"before_load": rss_before, "loaded": rss_loaded, "after_runs": rss_kib()}}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    print(json.dumps(run_spec(spec)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
