"""The data path of one decoding sequence: engine events in, client chunks out.

Each decode step's events arrive on the model host's event thread (in the
daemon, the trio thread, through the event pump; elsewhere a reader thread).
Sending them through the Runner's mailbox first would wake one more thread per
step, and every thread that wakes per token takes CPU from llama.cpp's threads;
so the host thread turns text into chunks
(``OutputParser``) and pushes them onto the client's ``TokenStream`` itself,
and only the end of a sequence (or its client leaving) goes to the Runner as a
message, which keeps the bookkeeping: slots, the scheduler's ``JobDone``, the
final ``Completed``.

Ownership: after ``Runner`` submits the sequence, only the host's event thread
calls ``deliver``; the client's trio thread calls ``resume`` (the stream's
``on_drain``). ``_lock`` orders a push that filled the stream and its pause
before any resume, so a sequence is never left paused with an empty stream.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ollama_actors.bridge.stream import PushResult
from ollama_actors.runner.domain.output_parser import OutputParser
from ollama_actors.runner.messages import GenerateJob
from ollama_actors.runner.ports import ModelHost, SeqEvent

__all__ = ["SequenceStream"]


@dataclass
class SequenceStream:
    """One sequence on the engine and the client stream it feeds."""

    seq: int
    job: GenerateJob
    host: ModelHost
    on_end: Callable[[SequenceStream, SeqEvent | None], None]  # done (its last event) or client left (None)
    prompt_text: str = ""
    output: OutputParser = OutputParser()  # raw output → content / thinking / tool calls
    load_duration_ns: int = 0
    pieces: list[str] = field(default_factory=list)  # raw output, for ``context``
    _paused: bool = False
    _ended: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, event: SeqEvent) -> None:
        """Host thread: apply one event; the last one (or a refusal) ends the sequence."""
        if self._ended:
            return
        if event.error is not None:
            self._end(event)
            return
        self.pieces.append(event.text)
        self.output, chunk = self.output.add(event.text, done=event.done)
        if chunk is not None:
            with self._lock:
                pushed = self.job.stream.push(chunk)
                if pushed is PushResult.FULL and not event.done and not self._paused:
                    self._paused = True
                    self.host.pause(self.seq)
            if pushed is PushResult.CLOSED:  # the client left between two steps
                self.host.cancel(self.seq)
                self._end(None)
                return
        if event.done:
            self._end(event)

    def resume(self) -> None:
        """Client thread (the stream's ``on_drain``): go on after a pause."""
        with self._lock:
            if self._paused and not self._ended:
                self._paused = False
                self.host.resume(self.seq)

    def _end(self, event: SeqEvent | None) -> None:
        self._ended = True
        self.on_end(self, event)
