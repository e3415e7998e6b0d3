"""Split a model's streamed output into thinking and content at its thinking tags.

A port of Ollama's ``thinking.Parser`` (Go-template models): leading whitespace is
skipped; if the output opens with the opening tag, text up to the closing tag is
thinking, and whitespace right after either tag is eaten; if the first
non-whitespace text is anything else, all output is content. Text that may be
the start of a tag waits until the next chunk tells. Pure: ``add`` returns the
parser's next state, so the actor that runs a generation owns the only mutable
reference (its slot).

Like Ollama, nothing is flushed at the end: a partial tag still held back when
the generation stops is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

__all__ = ["ThinkingParser"]


class _State(Enum):
    LOOKING_FOR_OPENING = "looking_for_opening"
    STARTED_EATING_SPACE = "started_eating_space"  # after the opening tag
    THINKING = "thinking"
    DONE_EATING_SPACE = "done_eating_space"  # after the closing tag
    DONE = "done"


@dataclass(frozen=True)
class ThinkingParser:
    """State of one output stream; ``opening``/``closing`` are the tags (both non-empty)."""

    opening: str
    closing: str
    state: _State = _State.LOOKING_FOR_OPENING
    pending: str = ""

    @property
    def thinking_done(self) -> bool:
        """Thinking is over (or never started): what follows is content."""
        return self.state in (_State.DONE_EATING_SPACE, _State.DONE)

    def add(self, text: str) -> tuple[ThinkingParser, str, str]:
        """Feed ``text``; returns the next state, the thinking and the content it completes."""
        state, pending = self.state, self.pending + text
        thinking: list[str] = []
        content: list[str] = []
        again = True
        while again:
            state, pending, think, said, again = _eat(self.opening, self.closing, state, pending)
            thinking.append(think)
            content.append(said)
        return replace(self, state=state, pending=pending), "".join(thinking), "".join(content)


_Eaten = tuple[_State, str, str, str, bool]  # state, pending, thinking, content, loop again


def _eat(opening: str, closing: str, state: _State, pending: str) -> _Eaten:
    if state is _State.LOOKING_FOR_OPENING:
        return _looking(opening, pending)
    if state is _State.STARTED_EATING_SPACE:
        trimmed = pending.lstrip()
        if not trimmed:
            return state, "", "", "", False
        return _State.THINKING, trimmed, "", "", True
    if state is _State.THINKING:
        return _thinking(closing, pending)
    if state is _State.DONE_EATING_SPACE:
        trimmed = pending.lstrip()
        return (_State.DONE if trimmed else state), "", "", trimmed, False
    return state, "", "", pending, False


def _looking(opening: str, pending: str) -> _Eaten:
    trimmed = pending.lstrip()
    if trimmed.startswith(opening):
        after = trimmed[len(opening) :].lstrip()
        next_state = _State.THINKING if after else _State.STARTED_EATING_SPACE
        return next_state, after, "", "", True
    if not trimmed or opening.startswith(trimmed):
        return _State.LOOKING_FOR_OPENING, pending, "", "", False  # wait: blank, or a partial tag
    # No opening tag: thinking was skipped; the untrimmed text is content.
    return _State.DONE, "", "", pending, False


def _thinking(closing: str, pending: str) -> _Eaten:
    if closing in pending:
        thought, rest = pending.split(closing, 1)
        rest = rest.lstrip()
        return (_State.DONE if rest else _State.DONE_EATING_SPACE), "", thought, rest, False
    held = _overlap(pending, closing)
    if held:
        return _State.THINKING, pending[-held:], pending[:-held], "", False
    return _State.THINKING, "", pending, "", False


def _overlap(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that ``tag`` starts with."""
    for n in range(min(len(tag), len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
