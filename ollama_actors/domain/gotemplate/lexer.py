"""Tokenizer for Go templates: a port of ``text/template/parse/lex.go`` (Go 1.22+).

Guarantees the same token stream as Go, including the whitespace trimming of
``{{- `` / `` -}}`` (the marker needs one of space, tab, CR or LF next to the dash),
comments ``{{/* */}}``, newlines inside actions, and Go's lexical error texts. A
lexical error becomes the last token (kind ``ERROR``); the parser reports it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

from ollama_actors.domain.gotemplate.gofmt import go_quote

__all__ = ["Item", "ItemType", "lex"]

_LEFT, _RIGHT = "{{", "}}"
_LEFT_COMMENT, _RIGHT_COMMENT = "/*", "*/"
_SPACE = " \t\r\n"
_TRIM = "-"


class ItemType(Enum):
    ERROR = auto()
    BOOL = auto()
    CHAR = auto()
    CHAR_CONSTANT = auto()
    COMMENT = auto()
    COMPLEX = auto()
    ASSIGN = auto()
    DECLARE = auto()
    EOF = auto()
    FIELD = auto()
    IDENTIFIER = auto()
    LEFT_DELIM = auto()
    LEFT_PAREN = auto()
    NUMBER = auto()
    PIPE = auto()
    RAW_STRING = auto()
    RIGHT_DELIM = auto()
    RIGHT_PAREN = auto()
    SPACE = auto()
    STRING = auto()
    TEXT = auto()
    VARIABLE = auto()
    # keywords
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DOT = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    NIL = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()


KEYWORDS = {
    ".": ItemType.DOT,
    "block": ItemType.BLOCK,
    "break": ItemType.BREAK,
    "continue": ItemType.CONTINUE,
    "define": ItemType.DEFINE,
    "else": ItemType.ELSE,
    "end": ItemType.END,
    "if": ItemType.IF,
    "range": ItemType.RANGE,
    "nil": ItemType.NIL,
    "template": ItemType.TEMPLATE,
    "with": ItemType.WITH,
}
_KEYWORD_TYPES = frozenset(KEYWORDS.values())


@dataclass(frozen=True)
class Item:
    """One token: ``pos`` is its character offset, ``line`` the 1-based line it starts on."""

    typ: ItemType
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        """Go's ``item.String()``, used verbatim in parse error messages."""
        if self.typ is ItemType.EOF:
            return "EOF"
        if self.typ is ItemType.ERROR:
            return self.val
        if self.typ in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if len(self.val.encode()) > 10:
            # Go's %.10q: the first ten runes, quoted, then "...".
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _is_space(ch: str) -> bool:
    return ch != "" and ch in _SPACE


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or (ch != "" and unicodedata.category(ch) == "Nd")


def _rune_repr(ch: str) -> str:
    """Go's ``%#U``: ``U+0041 'A'`` (the quoted form only for printable runes)."""
    code = f"U+{ord(ch):04X}"
    return f"{code} '{ch}'" if ch.isprintable() else code


class _Lexer:
    """State machine; each state method returns the next state or ``None`` to stop."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.items: list[Item] = []

    # -- primitives -------------------------------------------------------------
    def next(self) -> str:
        if self.pos >= len(self.text):
            self.pos += 1  # so that backup() is symmetric at EOF
            return ""
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def backup(self) -> None:
        self.pos -= 1

    def line_at(self, pos: int) -> int:
        return 1 + self.text.count("\n", 0, pos)

    def emit(self, typ: ItemType) -> None:
        end = min(self.pos, len(self.text))
        self.items.append(Item(typ, self.start, self.text[self.start : end], self.line_at(self.start)))
        self.start = self.pos

    def ignore(self) -> None:
        self.start = self.pos

    def errorf(self, message: str) -> Callable[[], object] | None:
        """Emit an ERROR token; returns the "stop" state so callers can ``return`` it."""
        self.items.append(Item(ItemType.ERROR, self.start, message, self.line_at(self.start)))
        return None

    def accept(self, valid: str) -> bool:
        ch = self.next()
        if ch != "" and ch in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            ch = self.next()
            if ch == "" or ch not in valid:
                break
        self.backup()

    def at_right_delim(self) -> tuple[bool, bool]:
        rest = self.text[self.pos :]
        if len(rest) >= 2 and _is_space(rest[0]) and rest[1] == _TRIM and rest[2:].startswith(_RIGHT):
            return True, True
        if rest.startswith(_RIGHT):
            return True, False
        return False, False

    def at_terminator(self) -> bool:
        ch = self.peek()
        return ch == "" or _is_space(ch) or ch in ".,|:)(" or ch == _RIGHT[0]

    # -- states -----------------------------------------------------------------
    def lex_text(self) -> Callable[[], object] | None:
        x = self.text.find(_LEFT, self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim = 0
                after = self.text[x + len(_LEFT) :]
                if len(after) >= 2 and after[0] == _TRIM and _is_space(after[1]):
                    chunk = self.text[self.start : self.pos]
                    trim = len(chunk) - len(chunk.rstrip(_SPACE))
                self.pos -= trim
                if self.pos > self.start:
                    self.emit(ItemType.TEXT)
                self.pos += trim
                self.ignore()
            return self.lex_left_delim
        self.pos = len(self.text)
        if self.pos > self.start:
            self.emit(ItemType.TEXT)
        self.emit(ItemType.EOF)
        return None

    def lex_left_delim(self) -> Callable[[], object] | None:
        self.pos += len(_LEFT)
        rest = self.text[self.pos :]
        trim = len(rest) >= 2 and rest[0] == _TRIM and _is_space(rest[1])
        after = 2 if trim else 0
        if self.text.startswith(_LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        self.emit(ItemType.LEFT_DELIM)
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self) -> Callable[[], object] | None:
        self.pos += len(_LEFT_COMMENT)
        x = self.text.find(_RIGHT_COMMENT, self.pos)
        if x < 0:
            return self.errorf("unclosed comment")
        self.pos = x + len(_RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            return self.errorf("comment ends before closing delimiter")
        if trim:
            self.pos += 2
        self.pos += len(_RIGHT)
        if trim:
            rest = self.text[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> Callable[[], object] | None:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(_RIGHT)
        self.emit(ItemType.RIGHT_DELIM)
        if trim:
            rest = self.text[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
            self.ignore()
        return self.lex_text

    def lex_inside_action(self) -> Callable[[], object] | None:  # noqa: C901 - Go's switch
        """One token inside ``{{ }}``; kept as one branch chain, like Go's single
        ``switch``, so the two can be compared line by line."""
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            return self.errorf("unclosed left paren")
        ch = self.next()
        simple = {"=": ItemType.ASSIGN, "|": ItemType.PIPE}
        if ch == "":
            return self.errorf("unclosed action")
        if _is_space(ch):
            self.backup()
            return self.lex_space
        if ch in simple:
            self.emit(simple[ch])
        elif ch == ":":
            if self.next() != "=":
                return self.errorf("expected :=")
            self.emit(ItemType.DECLARE)
        elif ch == '"':
            return self.lex_quote
        elif ch == "`":
            return self.lex_raw_quote
        elif ch == "$":
            return self.lex_variable
        elif ch == "'":
            return self.lex_char
        elif ch == "." and not (self.pos < len(self.text) and "0" <= self.text[self.pos] <= "9"):
            return self.lex_field
        elif ch in ".+-" or "0" <= ch <= "9":
            self.backup()
            return self.lex_number
        elif _is_alnum(ch):
            self.backup()
            return self.lex_identifier
        elif ch == "(":
            self.emit(ItemType.LEFT_PAREN)
            self.paren_depth += 1
        elif ch == ")":
            self.emit(ItemType.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self.errorf(f"unexpected right paren {_rune_repr(ch)}")
        elif ord(ch) < 128 and ch.isprintable():
            self.emit(ItemType.CHAR)
        else:
            return self.errorf(f"unrecognized character in action: {_rune_repr(ch)}")
        return self.lex_inside_action

    def lex_space(self) -> Callable[[], object] | None:
        count = 0
        while _is_space(self.peek()):
            self.next()
            count += 1
        rest = self.text[self.pos - 1 :]
        if len(rest) >= 2 and rest[1] == _TRIM and rest[2:].startswith(_RIGHT):
            self.backup()
            if count == 1:
                return self.lex_right_delim
        self.emit(ItemType.SPACE)
        return self.lex_inside_action

    def lex_identifier(self) -> Callable[[], object] | None:
        while True:
            ch = self.next()
            if _is_alnum(ch):
                continue
            self.backup()
            word = self.text[self.start : self.pos]
            if not self.at_terminator():
                return self.errorf(f"bad character {_rune_repr(ch)}")
            if word in KEYWORDS and word != ".":
                self.emit(KEYWORDS[word])
            elif word in ("true", "false"):
                self.emit(ItemType.BOOL)
            else:
                self.emit(ItemType.IDENTIFIER)
            return self.lex_inside_action

    def lex_field(self) -> Callable[[], object] | None:
        return self.lex_field_or_variable(ItemType.FIELD)

    def lex_variable(self) -> Callable[[], object] | None:
        if self.at_terminator():
            self.emit(ItemType.VARIABLE)
            return self.lex_inside_action
        return self.lex_field_or_variable(ItemType.VARIABLE)

    def lex_field_or_variable(self, typ: ItemType) -> Callable[[], object] | None:
        if self.at_terminator():
            self.emit(ItemType.VARIABLE if typ is ItemType.VARIABLE else ItemType.DOT)
            return self.lex_inside_action
        while True:
            ch = self.next()
            if not _is_alnum(ch):
                self.backup()
                break
        if not self.at_terminator():
            return self.errorf(f"bad character {_rune_repr(self.peek())}")
        self.emit(typ)
        return self.lex_inside_action

    def lex_char(self) -> Callable[[], object] | None:
        return self._lex_escaped("'", ItemType.CHAR_CONSTANT, "unterminated character constant")

    def lex_number(self) -> Callable[[], object] | None:
        if not self.scan_number():
            return self.errorf(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
        if self.peek() in ("+", "-") and self.peek() != "":
            if not self.scan_number() or self.text[self.pos - 1] != "i":
                return self.errorf(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
            self.emit(ItemType.COMPLEX)
        else:
            self.emit(ItemType.NUMBER)
        return self.lex_inside_action

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self) -> Callable[[], object] | None:
        return self._lex_escaped('"', ItemType.STRING, "unterminated quoted string")

    def _lex_escaped(self, close: str, kind: ItemType, unterminated: str) -> Callable[[], object] | None:
        """Scan to ``close`` on this line, skipping backslash escapes (Go's lexChar/lexQuote)."""
        while True:
            ch = self.next()
            if ch == "\\":
                ch = self.next()
                if ch not in ("", "\n"):
                    continue
                return self.errorf(unterminated)
            if ch in ("", "\n"):
                return self.errorf(unterminated)
            if ch == close:
                break
        self.emit(kind)
        return self.lex_inside_action

    def lex_raw_quote(self) -> Callable[[], object] | None:
        x = self.text.find("`", self.pos)
        if x < 0:
            return self.errorf("unterminated raw quoted string")
        self.pos = x + 1
        self.emit(ItemType.RAW_STRING)
        return self.lex_inside_action


def lex(text: str) -> list[Item]:
    """All tokens of ``text``, ending with ``EOF`` or with the first ``ERROR`` token."""
    lexer = _Lexer(text)
    state: Callable[[], object] | None = lexer.lex_text
    while state is not None:
        state = state()  # type: ignore[assignment]
    return lexer.items
