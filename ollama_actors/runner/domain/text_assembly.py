"""Token bytes in, client text out: UTF-8 completion, stop sequences, token limits.

Pure rules the batch decoder applies to each sequence, the way Ollama's runner
does: bytes of an unfinished UTF-8 sequence wait for the next token; text that
might be the start of a stop sequence is held back; a completed stop sequence
ends the sequence and is not emitted.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["TextAssembler", "token_limit"]


@dataclass
class TextAssembler:
    """Bytes of pieces in, text out: completes UTF-8 sequences and holds back stop prefixes."""

    stops: tuple[str, ...]

    def __post_init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def add(self, piece: bytes) -> tuple[str, bool]:
        """Text now safe to emit, and whether a stop sequence was completed (then
        the text is everything before it, and the rest is dropped)."""
        self._pending += self._decoder.decode(piece)
        cut = _first_stop(self._pending, self.stops)
        if cut is not None:
            text, self._pending = self._pending[:cut], ""
            return text, True
        keep = _stop_prefix_length(self._pending, self.stops)
        text = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(text) :]
        return text, False

    def flush(self) -> str:
        """Everything held back, unfinished UTF-8 replaced by U+FFFD."""
        text, self._pending = self._pending + self._decoder.decode(b"", final=True), ""
        return text


def token_limit(num_predict: int, n_ctx: int, n_prompt: int) -> int:
    """How many tokens a sequence may generate: ``num_predict`` (<= 0: unlimited) capped
    by the room its context leaves (no context shift). The last sampled token is
    never evaluated, so it fits."""
    room = n_ctx - n_prompt
    return min(num_predict, room) if num_predict > 0 else room


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def _stop_prefix_length(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest end of ``text`` that some stop sequence starts with."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest
