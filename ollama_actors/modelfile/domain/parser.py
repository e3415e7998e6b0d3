"""Modelfile text ⇄ instructions, with Ollama's lexical rules (``parser/parser.go``).

The parser is a port of Ollama's rune-by-rune state machine so that every input
is accepted or rejected exactly as ``ollama create`` does it: instructions are
matched case-insensitively, ``#`` starts a comment only where an instruction
could start, values run to the end of the line unless a ``"…"`` or ``\"\"\"…\"\"\"``
quote is still open, quotes are stripped without escape processing, non-printable
characters are dropped, and errors use Ollama's words (``command must be one of
…``) behind a ``(line N, column C): `` prefix pointing at the fault: Ollama gives
only ``(line N): ``, and only for a bad instruction word or role. Unlike Ollama,
CR LF counts as one line break, so line numbers are the ones an editor shows.

``format_modelfile`` writes instructions back with Ollama's quoting rule (§1.9)
and falls back to the other quote style only where Ollama's choice would not
read back to the same value, so ``parse_modelfile(format_modelfile(m)) == m``.
"""

from __future__ import annotations

import codecs
from enum import Enum, auto

from ollama_actors.modelfile.domain.instructions import (
    COMMANDS,
    INVALID_COMMAND,
    INVALID_ROLE,
    MESSAGE_ROLES,
    Instruction,
    Modelfile,
    ModelfileError,
)

# Parameter typing lives in its own module; re-exported here because callers treat
# "the Modelfile parser" as one API (parse, then type the parameters).
from ollama_actors.modelfile.domain.parameters import parameter_value, parameters_dict

__all__ = [
    "Instruction",
    "Modelfile",
    "ModelfileError",
    "format_modelfile",
    "parameter_value",
    "parameters_dict",
    "parse_modelfile",
]

class _State(Enum):
    NIL = auto()
    NAME = auto()
    VALUE = auto()
    PARAMETER = auto()
    MESSAGE = auto()
    COMMENT = auto()


class _UnexpectedEOF(Exception):
    pass


def _is_alpha(ch: str) -> bool:
    return "a" <= ch <= "z" or "A" <= ch <= "Z"


def _next_state(ch: str, state: _State) -> tuple[_State, str]:
    """Ollama's ``parseRuneForState``: the next state and the rune to keep ("" = none).

    Raises:
        ModelfileError: an invalid instruction word (line added by the caller).
        _UnexpectedEOF: a bad character in a parameter name or message role.
    """
    space, newline = ch in " \t", ch in "\r\n"
    if state is _State.NIL:
        if ch == "#":
            return _State.COMMENT, ""
        return (_State.NIL, "") if space or newline else (_State.NAME, ch)
    if state is _State.NAME:
        if _is_alpha(ch):
            return _State.NAME, ch
        if space:
            return _State.VALUE, ""
        raise ModelfileError(INVALID_COMMAND)
    if state is _State.VALUE:
        return (_State.NIL, ch) if space or newline else (_State.VALUE, ch)
    if state in (_State.PARAMETER, _State.MESSAGE):
        if _is_alpha(ch) or (state is _State.PARAMETER and (ch.isdigit() and ch.isascii() or ch == "_")):
            return state, ch
        if space:
            return _State.VALUE, ""
        raise _UnexpectedEOF
    return (_State.NIL, "") if newline else (_State.COMMENT, "")


def _unquote(text: str) -> tuple[str, bool]:
    """Ollama's ``unquote``: strip ``\"\"\"…\"\"\"`` or ``"…"``; False while still open."""
    if text.startswith('"""'):
        if len(text) >= 6 and text.endswith('"""'):
            return text[3:-3], True
        return "", False
    if text.startswith('"'):
        if len(text) >= 2 and text.endswith('"'):
            return text[1:-1], True
        return "", False
    return text, True


def _decode(data: bytes) -> str:
    """UTF-8 unless a UTF-8/UTF-16 byte order mark says otherwise; bad bytes → U+FFFD."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, "replace")
    return data.decode("utf-8", "replace")


_Position = tuple[int, int]  # 1-based line and column


class _Parser:
    """The state machine's registers (Ollama's locals in ``ParseFile``), plus the
    positions errors point at: where the instruction word, the parameter name or
    message role, and the value start."""

    def __init__(self) -> None:
        self.state = _State.NIL
        self.buffer: list[str] = []
        self.line, self.column = 1, 1
        self.previous = ""
        self.here: _Position = (1, 1)
        self.name_at: _Position = (1, 1)
        self.key_at: _Position = (1, 1)
        self.value_at: _Position | None = None
        self.start_line = 1
        self.name = ""
        self.key: str | None = None
        self.instructions: list[Instruction] = []

    def feed(self, ch: str) -> None:
        self.here = (self.line, self.column)
        self.step(ch)
        # CR, LF and CR LF each end one line. (Ollama counts CR LF as two lines, so
        # its numbers drift in CRLF files; ours match what an editor shows.)
        if ch not in "\r\n":
            self.column += 1
        elif not (ch == "\n" and self.previous == "\r"):
            self.line, self.column = self.line + 1, 1
        self.previous = ch

    def step(self, ch: str) -> None:
        try:
            nxt, keep = _next_state(ch, self.state)
        except ModelfileError as error:
            raise _located(error.reason, self.name_at) from None
        except _UnexpectedEOF:
            # a bad character (a line break: the value is missing) in a name or role
            raise _located(f"unexpected EOF: {''.join(self.buffer)}", self.here) from None
        if nxt is not self.state:
            if self.leave(ch, nxt) is None:
                return
        if keep.isprintable() and keep:
            self.mark(keep)
            self.buffer.append(keep)

    def mark(self, keep: str) -> None:
        """Remember where a key or value starts (its first kept character)."""
        if self.state in (_State.PARAMETER, _State.MESSAGE) and not self.buffer:
            self.key_at = self.here
        elif self.state is _State.VALUE and self.value_at is None and keep.strip(" \t"):
            self.value_at = self.here

    def leave(self, ch: str, nxt: _State) -> _State | None:
        """Finish the current state; ``None`` when the value goes on instead."""
        word = "".join(self.buffer)
        if self.state is _State.NAME:
            if word.lower() not in COMMANDS:
                raise _located(INVALID_COMMAND, self.name_at)
            self.name = word.lower()
            nxt = {"parameter": _State.PARAMETER, "message": _State.MESSAGE}.get(self.name, nxt)
        elif self.state is _State.PARAMETER:
            self.key = word
        elif self.state is _State.MESSAGE:
            if word not in MESSAGE_ROLES:
                raise _located(INVALID_ROLE, self.key_at if word else self.here)
            self.key = word
        elif self.state is _State.VALUE:
            value, complete = _unquote(word.strip(" \t\r\n"))
            if not complete or ch in " \t":
                self.buffer.append(ch)
                return None
            self.instructions.append(Instruction(self.name, value, self.key, self.start_line))
            self.key = None
        if self.state is _State.NIL and nxt is _State.NAME:
            self.start_line, self.name_at = self.line, self.here
        self.buffer, self.value_at = [], None
        self.state = nxt
        return nxt

    def finish(self) -> tuple[Instruction, ...]:
        """The instructions, once the text has ended.

        Raises:
            ModelfileError: ``unexpected EOF`` at the opening quote of a value never
                closed, or at the end of the text when an instruction lacks its value.
        """
        if self.state is _State.VALUE:
            value, complete = _unquote("".join(self.buffer).strip(" \t\r\n"))
            if not complete:
                raise _located("unexpected EOF", self.value_at or (self.line, self.column))
            self.instructions.append(Instruction(self.name, value, self.key, self.start_line))
        elif self.state not in (_State.NIL, _State.COMMENT):
            raise _located("unexpected EOF", (self.line, self.column))
        return tuple(self.instructions)


def _located(message: str, at: _Position) -> ModelfileError:
    line, column = at
    return ModelfileError(message, line=line, column=column)


def parse_modelfile(text: str | bytes, *, require_from: bool = True) -> Modelfile:
    """Parse a Modelfile (text, or bytes honouring a UTF-8/UTF-16 BOM).

    Raises:
        ModelfileError: Ollama's message where the fault is, e.g. ``(line 3, column 1):
            command must be one of …`` (the instruction word), ``(line 2, column 22):
            unexpected EOF: temperature`` (a value missing at the end of that line),
            ``(line 4, column 8): unexpected EOF`` (a quote opened there and never
            closed), or ``no FROM line`` (unless ``require_from`` is False, for
            fragments such as an editor's partial text).
    """
    decoded = _decode(text) if isinstance(text, bytes) else text.removeprefix("\ufeff")
    parser = _Parser()
    for ch in decoded:
        parser.feed(ch)
    instructions = parser.finish()
    if require_from and not any(i.name == "from" for i in instructions):
        raise ModelfileError("no FROM line")
    return Modelfile(instructions)


# -- writing ---------------------------------------------------------------------------
def _ollama_quote(value: str) -> str:
    """Ollama's rule: quote values with a newline or an edge space; triple quotes
    when the value contains a double quote."""
    if "\n" in value or value.startswith(" ") or value.endswith(" "):
        return f'"""{value}"""' if '"' in value else f'"{value}"'
    return value


def _reads_back(written: str, value: str) -> bool:
    try:
        parsed = parse_modelfile(f"SYSTEM {written}\n", require_from=False).instructions
    except ModelfileError:
        return False
    return len(parsed) == 1 and parsed[0].value == value


def _write_value(name: str, value: str) -> str:
    first = value if name == "from" else _ollama_quote(value)
    for candidate in (first, f'"{value}"', f'"""{value}"""'):
        if _reads_back(candidate, value):
            return candidate
    raise ModelfileError(f"{name.upper()} value {value!r} cannot be written in a Modelfile")


def _instruction_line(instruction: Instruction) -> str:
    name, key = instruction.name, instruction.key or ""
    value = _write_value(name, instruction.value)
    if name == "parameter":
        if not all(_is_alpha(c) or c.isdigit() and c.isascii() or c == "_" for c in key):
            raise ModelfileError(f"parameter name {key!r} cannot be written in a Modelfile")
        return f"PARAMETER {key} {value}"
    if name == "message":
        if key not in MESSAGE_ROLES:
            raise ModelfileError(INVALID_ROLE)
        return f"MESSAGE {key} {value}"
    if name not in COMMANDS:
        raise ModelfileError(INVALID_COMMAND)
    return f"{name.upper()} {value}"


def format_modelfile(modelfile: Modelfile) -> str:
    """Modelfile text for ``modelfile``, one instruction per line (Ollama's
    ``Modelfile.String``), reading back to the same instructions.

    Raises:
        ModelfileError: an instruction no Modelfile text can express (a value with
            characters the parser drops, an invalid role or parameter name).
    """
    return "".join(_instruction_line(i) + "\n" for i in modelfile.instructions)
