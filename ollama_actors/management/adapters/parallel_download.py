"""Fetch the missing parts of one blob concurrently, each with its own Range request.

Runs in a transfer job's worker thread and blocks it until every part is in or
one failed; the parts themselves run on a small thread pool (httpx's sync client
is safe to share between threads). The first failure stops the other parts at
their next chunk, their progress is saved, and that failure is raised: the job
decides whether to retry (transient), fall back to one stream
(``RangeNotSupportedError``) or give up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ollama_actors.domain.digests import Digest
from ollama_actors.management.adapters.oci_registry import OciRegistry, TransientRegistryError
from ollama_actors.management.adapters.part_file import PartFile

__all__ = ["download_parts"]


class _Stopped(Exception):
    """Another part failed: this one stops where it is (its bytes are kept)."""


def download_parts(
    registry: OciRegistry, digest: Digest, file: PartFile, *, concurrency: int,
    on_progress: Callable[[int], None], on_moved: Callable[[int], None],
) -> None:
    """Fetch every part of ``file`` that is not complete, ``concurrency`` at a time.

    ``on_progress(completed)`` is called after each chunk with the bytes on disk
    for the whole blob (it may raise to cancel: the parts stop and that error is
    raised); ``on_moved(n)`` once per part attempt with the bytes it received.
    """
    stop = threading.Event()
    errors: list[BaseException] = []

    def fetch(index: int) -> None:
        if stop.is_set():
            return
        moved = 0

        def write(chunk: bytes) -> None:
            nonlocal moved
            if stop.is_set():
                raise _Stopped()
            file.write_at(index, chunk)
            moved += len(chunk)
            on_progress(file.state.completed)
            file.save_if_due()

        part = file.state.parts[index]
        try:
            registry.download_range(digest, part.offset, part.end, write)
            if not file.state.parts[index].complete:
                raise TransientRegistryError(f"registry ended part {part.start}-{part.end - 1} of {digest} early")
        except _Stopped:
            pass
        except BaseException as error:  # handed to the caller below, not swallowed
            errors.append(error)
            stop.set()
        finally:
            if moved:
                on_moved(moved)

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="blob-part") as pool:
        list(pool.map(fetch, file.state.missing()))
    file.save()
    if errors:
        # A lasting failure (cancel, refusal, no Range support) wins over a transient one.
        raise next((e for e in errors if not isinstance(e, TransientRegistryError)), errors[0])
