"""The Modelfile's vocabulary: instructions, the parsed file, and its error.

Shared by the parser and by parameter typing; Ollama's exact error wording lives
here so both speak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ollama_actors.domain.errors import BadRequestError

__all__ = [
    "COMMANDS",
    "INVALID_COMMAND",
    "INVALID_ROLE",
    "MESSAGE_ROLES",
    "Instruction",
    "Modelfile",
    "ModelfileError",
]

COMMANDS = (
    "from", "license", "template", "system", "adapter", "draft", "renderer", "parser",
    "parameter", "message", "requires",
)
MESSAGE_ROLES = ("system", "user", "assistant")

INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'


class ModelfileError(BadRequestError):
    """A Modelfile Ollama would refuse, located where the text shows the fault.

    ``str()`` is Ollama's message behind its ``(line N): `` prefix, widened to
    ``(line N, column C): `` when the column is known. ``line`` and ``column`` are
    1-based (a column counts characters; CR LF is one line break); Ollama itself
    gives only a line, and only for a bad instruction word or message role. Both are
    ``None`` for faults of the whole file (``no FROM line``); ``reason`` is the bare
    message.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        where = f"line {line}, column {column}" if line and column else f"line {line}"
        super().__init__(f"({where}): {message}" if line else message)
        self.line = line
        self.column = column if line else None
        self.reason = message


@dataclass(frozen=True)
class Instruction:
    """One instruction. ``name`` is lower-case (``from``, ``parameter``, ``message``, …);
    ``key`` is the parameter name (case kept) or the message role; ``line`` is where
    the instruction starts and does not take part in equality."""

    name: str
    value: str
    key: str | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Modelfile:
    instructions: tuple[Instruction, ...]
