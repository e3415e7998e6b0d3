"""Parser for Go templates: a port of ``text/template/parse/parse.go`` (Go 1.23).

Produces one tree per template name (the main text plus each ``define``/``block``)
with Go's acceptance rules and messages: variables must be declared before use
and live until the enclosing ``end``; ``break``/``continue`` only inside ``range``;
``else if`` / ``else with`` chains; function names checked at parse time; errors
read ``template: <name>:<line>: <message>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from ollama_actors.domain.gotemplate.errors import TemplateError
from ollama_actors.domain.gotemplate.gofmt import go_quote
from ollama_actors.domain.gotemplate.lexer import Item, ItemType, lex
from ollama_actors.domain.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    WithNode,
)

__all__ = ["go_unquote", "parse_trees"]

T = ItemType
_OPERAND_START = frozenset(
    {T.BOOL, T.CHAR_CONSTANT, T.COMPLEX, T.DOT, T.FIELD, T.IDENTIFIER, T.NUMBER, T.NIL,
     T.RAW_STRING, T.STRING, T.VARIABLE, T.LEFT_PAREN}
)


class _End(Node):
    def __str__(self) -> str:
        return "{{end}}"


class _Else(Node):
    def __str__(self) -> str:
        return "{{else}}"


class _Abort(Exception):
    """Internal: unwinds to ``parse_trees`` carrying the finished ``TemplateError``."""


# -- literals -------------------------------------------------------------------
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unescape(body: str, quote: str) -> str:
    """Go escape processing for the inside of a "…" or '…' literal."""
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote or ch == "\n":
            raise ValueError("invalid syntax")
        if ch != "\\":
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
            continue
        i += 1
        esc = body[i : i + 1]
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
            i += 1
        elif esc == quote:
            out += quote.encode()
            i += 1
        elif esc in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i + 1 : i + 1 + size]
            if len(digits) != size or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError("invalid syntax")
            code = int(digits, 16)
            if esc == "x":
                out.append(code)
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError("invalid syntax")
            else:
                out += chr(code).encode()
            i += 1 + size
        elif esc in "01234567" and esc:
            digits = body[i : i + 3]
            if not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(int(digits, 8))
            i += 3
        else:
            raise ValueError("invalid syntax")
    return out.decode("utf-8", "replace")


def go_unquote(literal: str) -> str:
    """Go's ``strconv.Unquote`` for "…" and `…` literals (and '…' runes).

    Raises:
        ValueError: ``invalid syntax`` as Go reports it.
    """
    if len(literal) < 2 or literal[0] != literal[-1] or literal[0] not in "\"`'":
        raise ValueError("invalid syntax")
    body = literal[1:-1]
    if literal[0] == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    text = _unescape(body, literal[0])
    if literal[0] == "'" and len(text) != 1:
        raise ValueError("invalid syntax")
    return text


_INT = re.compile(
    r"[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)"
)
_DEC_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9](?:_?[0-9])*)?\.(?:[0-9](?:_?[0-9])*)?|[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9](?:_?[0-9])*)?"
)
_HEX_FLOAT = re.compile(r"[+-]?0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*[pP][+-]?[0-9_]+")
_INT64 = 1 << 63


def _parse_int(text: str) -> int | None:
    if not _INT.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").replace("_", "")
    if len(body) > 1 and body[0] == "0" and body[1] in "0123456789":
        return sign * int(body, 8)
    return sign * int(body, 0)


def _parse_float(text: str) -> float | None:
    if _HEX_FLOAT.fullmatch(text):
        sign = -1.0 if text.startswith("-") else 1.0
        return sign * float.fromhex(text.lstrip("+-").replace("_", ""))
    if _DEC_FLOAT.fullmatch(text) and any(c.isdigit() for c in text):
        return float(text.replace("_", ""))
    return None


def _number_value(text: str, typ: ItemType) -> int | float | complex | None:
    """The value Go's ``idealConstant`` gives a number literal (``None``: overflows int).

    Raises:
        ValueError: with Go's parse message for malformed literals.
    """
    if typ is T.CHAR_CONSTANT:
        try:
            return ord(go_unquote(text))
        except ValueError:
            raise ValueError(f"malformed character constant: {text}") from None
    if typ is T.COMPLEX or text.endswith("i"):
        try:
            return complex(text[:-1].replace("_", "") + "j") if typ is T.COMPLEX else complex(0, float(text[:-1]))
        except ValueError:
            raise ValueError(f"illegal number syntax: {go_quote(text)}") from None
    integer = _parse_int(text)
    if integer is not None:
        return integer if -_INT64 <= integer < _INT64 else None
    number = _parse_float(text)
    if number is None:
        raise ValueError(f"illegal number syntax: {go_quote(text)}")
    if not any(c in text for c in ".eEpP"):
        raise ValueError(f"integer overflow: {text}")
    return number


# -- the parser -------------------------------------------------------------------
def _is_empty_tree(node: Node) -> bool:
    if isinstance(node, ListNode):
        return all(_is_empty_tree(n) for n in node.nodes)
    if isinstance(node, TextNode):
        return node.text.strip(" \t\n\r\v\f") == ""
    return isinstance(node, CommentNode)


class _Parser:
    """Recursive descent over the token list; state mirrors Go's ``parse.Tree``."""

    def __init__(self, text: str, name: str, funcs: Collection[str]) -> None:
        self.items = lex(text)
        self.text = text
        self.name = name
        self.funcs = funcs
        self.i = 0
        self.furthest = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.trees: dict[str, ListNode] = {}

    # -- token access ---------------------------------------------------------------
    def next(self) -> Item:
        index = min(self.i, len(self.items) - 1)
        self.furthest = max(self.furthest, index)
        self.i = index + 1
        return self.items[index]

    def backup(self) -> None:
        self.i -= 1

    def peek(self) -> Item:
        item = self.next()
        self.backup()
        return item

    def next_non_space(self) -> Item:
        while True:
            item = self.next()
            if item.typ is not T.SPACE:
                return item

    def peek_non_space(self) -> Item:
        item = self.next_non_space()
        self.backup()
        return item

    # -- errors ---------------------------------------------------------------------
    def errorf(self, message: str) -> _Abort:
        item = self.items[self.furthest]
        line_start = self.text.rfind("\n", 0, item.pos) + 1
        col = len(self.text[line_start : item.pos].encode())
        # Go prints only the line here; the column is ours, in the ``name:line:col``
        # form Go's own execution errors use, so a client reads both alike.
        return _Abort(TemplateError(f"template: {self.name}:{item.line}:{col}: {message}", line=item.line, col=col))

    def unexpected(self, token: Item, context: str) -> _Abort:
        if token.typ is T.ERROR:
            extra = ""
            if self.action_line not in (0, token.line):
                extra = f" in action started at {self.name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{token}{extra}")
        return self.errorf(f"unexpected {token} in {context}")

    def expect(self, typ: ItemType, context: str) -> Item:
        token = self.next_non_space()
        if token.typ is not typ:
            raise self.unexpected(token, context)
        return token

    # -- trees ----------------------------------------------------------------------
    def add(self, name: str, root: ListNode) -> None:
        existing = self.trees.get(name)
        if existing is None or _is_empty_tree(existing):
            self.trees[name] = root
        elif not _is_empty_tree(root):
            raise self.errorf(f"template: multiple definition of template {go_quote(name)}")

    def parse(self) -> dict[str, ListNode]:
        pos = self.peek().pos
        nodes: list[Node] = []
        while self.peek().typ is not T.EOF:
            if self.peek().typ is T.LEFT_DELIM:
                save = self.i
                self.next()
                if self.next_non_space().typ is T.DEFINE:
                    self.parse_definition()
                    continue
                self.i = save
            node = self.text_or_action()
            if isinstance(node, (_End, _Else)):
                raise self.errorf(f"unexpected {node}")
            nodes.append(node)
        self.add(self.name, ListNode(pos, tuple(nodes)))
        return self.trees

    def in_new_tree(self, body: Callable[[], None]) -> None:
        """Run ``body`` with the fresh variable scope of a new ``parse.Tree``."""
        saved = (self.vars, self.range_depth, self.action_line)
        self.vars, self.range_depth, self.action_line = ["$"], 0, 0
        try:
            body()
        finally:
            self.vars, self.range_depth, self.action_line = saved

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, context)
        name = self.unquote(token.val)
        self.expect(T.RIGHT_DELIM, context)

        def body() -> None:
            root, end = self.item_list()
            if not isinstance(end, _End):
                raise self.errorf(f"unexpected {end} in {context}")
            self.add(name, root)

        self.in_new_tree(body)

    def unquote(self, literal: str) -> str:
        try:
            return go_unquote(literal)
        except ValueError as error:
            raise self.errorf(str(error)) from None

    def item_list(self) -> tuple[ListNode, Node]:
        pos = self.peek_non_space().pos
        nodes: list[Node] = []
        while self.peek_non_space().typ is not T.EOF:
            node = self.text_or_action()
            if isinstance(node, (_End, _Else)):
                return ListNode(pos, tuple(nodes)), node
            nodes.append(node)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.typ is T.TEXT:
            return TextNode(token.pos, token.val)
        if token.typ is T.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if token.typ is T.COMMENT:
            return CommentNode(token.pos, token.val)
        raise self.unexpected(token, "input")

    # -- actions --------------------------------------------------------------------
    def action(self) -> Node:
        token = self.next_non_space()
        controls: dict[ItemType, Callable[[Item], Node]] = {
            T.BLOCK: lambda _: self.block_control(),
            T.BREAK: lambda t: self.loop_control(t, BreakNode, "break"),
            T.CONTINUE: lambda t: self.loop_control(t, ContinueNode, "continue"),
            T.ELSE: lambda _: self.else_control(),
            T.END: lambda _: _End(self.expect(T.RIGHT_DELIM, "end").pos),
            T.IF: lambda _: IfNode(*self.parse_control("if")),
            T.RANGE: lambda _: RangeNode(*self.parse_control("range")),
            T.TEMPLATE: lambda _: self.template_control(),
            T.WITH: lambda _: WithNode(*self.parse_control("with")),
        }
        if token.typ in controls:
            return controls[token.typ](token)
        self.backup()
        return ActionNode(self.peek().pos, self.pipeline("command", T.RIGHT_DELIM))

    def loop_control(self, token: Item, kind: type[Node], word: str) -> Node:
        after = self.next_non_space()
        if after.typ is not T.RIGHT_DELIM:
            raise self.unexpected(after, "{{" + word + "}}")
        if self.range_depth == 0:
            raise self.errorf("{{" + word + "}} outside {{range}}")
        return kind(token.pos)

    def else_control(self) -> Node:
        peek = self.peek_non_space()
        if peek.typ in (T.IF, T.WITH):
            return _Else(peek.pos)
        return _Else(self.expect(T.RIGHT_DELIM, "else").pos)

    def parse_control(self, context: str) -> tuple[int, PipeNode, ListNode, ListNode | None]:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, T.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            body, end = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list: ListNode | None = None
            if isinstance(end, _Else):
                else_list = self.else_branch(context, end)
            return pipe.pos, pipe, body, else_list
        finally:
            del self.vars[mark:]

    def else_branch(self, context: str, else_node: Node) -> ListNode:
        # {{else if …}} / {{else with …}}: the chained control ends at the shared {{end}}
        keyword = {"if": T.IF, "with": T.WITH}.get(context)
        if keyword is not None and self.peek().typ is keyword:
            self.next()
            chained = IfNode if keyword is T.IF else WithNode
            return ListNode(else_node.pos, (chained(*self.parse_control(context)),))
        else_list, end = self.item_list()
        if not isinstance(end, _End):
            raise self.errorf(f"expected end; found {end}")
        return else_list

    def template_name(self, token: Item, context: str) -> str:
        if token.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, context)
        return self.unquote(token.val)

    def template_control(self) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe: PipeNode | None = None
        if self.next_non_space().typ is not T.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, T.RIGHT_DELIM)
        return TemplateNode(token.pos, name, pipe)

    def block_control(self) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, T.RIGHT_DELIM)

        def body() -> None:
            root, end = self.item_list()
            if not isinstance(end, _End):
                raise self.errorf(f"unexpected {end} in {context}")
            self.add(name, root)

        self.in_new_tree(body)
        return TemplateNode(token.pos, name, pipe)

    # -- pipelines --------------------------------------------------------------------
    def declarations(self, context: str) -> tuple[bool, list[VariableNode]]:
        is_assign = False
        decl: list[VariableNode] = []
        while True:
            v = self.peek_non_space()
            if v.typ is not T.VARIABLE:
                return is_assign, decl
            save = self.i
            self.next()
            after = self.peek_non_space()
            if after.typ in (T.ASSIGN, T.DECLARE):
                is_assign = after.typ is T.ASSIGN
                self.next_non_space()
                decl.append(VariableNode(v.pos, (v.val,)))
                self.vars.append(v.val)
                return is_assign, decl
            if after.typ is T.CHAR and after.val == ",":
                self.next_non_space()
                decl.append(VariableNode(v.pos, (v.val,)))
                self.vars.append(v.val)
                if context == "range" and len(decl) < 2:
                    if self.peek_non_space().typ in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            self.i = save
            return is_assign, decl

    def pipeline(self, context: str, end: ItemType) -> PipeNode:
        pos = self.peek_non_space().pos
        is_assign, decl = self.declarations(context)
        cmds: list[CommandNode] = []
        while True:
            token = self.next_non_space()
            if token.typ is end:
                self.check_pipeline(cmds, context)
                return PipeNode(pos, is_assign, tuple(decl), tuple(cmds))
            if token.typ in _OPERAND_START:
                self.backup()
                cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def check_pipeline(self, cmds: list[CommandNode], context: str) -> None:
        if not cmds:
            raise self.errorf(f"missing value for {context}")
        for stage, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                raise self.errorf(f"non executable command in pipeline stage {stage}")

    def command(self) -> CommandNode:
        pos = self.peek_non_space().pos
        args: list[Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.typ is T.SPACE:
                continue
            if token.typ in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif token.typ is not T.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not args:
            raise self.errorf("empty command")
        return CommandNode(pos, tuple(args))

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().typ is not T.FIELD:
            return node
        pos = self.peek().pos
        fields: list[str] = []
        while self.peek().typ is T.FIELD:
            fields.append(self.next().val[1:])
        if isinstance(node, FieldNode):
            return FieldNode(pos, node.ident + tuple(fields))
        if isinstance(node, VariableNode):
            return VariableNode(pos, node.ident + tuple(fields))
        if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
            raise self.errorf(f"unexpected . after term {go_quote(str(node))}")
        return ChainNode(pos, node, tuple(fields))

    def term(self) -> Node | None:  # noqa: C901 - Go's switch
        token = self.next_non_space()
        typ = token.typ
        if typ is T.IDENTIFIER:
            if token.val not in self.funcs:
                raise self.errorf(f"function {go_quote(token.val)} not defined")
            return IdentifierNode(token.pos, token.val)
        if typ is T.DOT:
            return DotNode(token.pos)
        if typ is T.NIL:
            return NilNode(token.pos)
        if typ is T.VARIABLE:
            if token.val not in self.vars:
                raise self.errorf(f"undefined variable {go_quote(token.val)}")
            return VariableNode(token.pos, (token.val,))
        if typ is T.FIELD:
            return FieldNode(token.pos, (token.val[1:],))
        if typ is T.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if typ in (T.CHAR_CONSTANT, T.COMPLEX, T.NUMBER):
            try:
                return NumberNode(token.pos, token.val, _number_value(token.val, typ))
            except ValueError as error:
                raise self.errorf(str(error)) from None
        if typ is T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
        if typ in (T.STRING, T.RAW_STRING):
            return StringNode(token.pos, token.val, self.unquote(token.val))
        self.backup()
        return None


def parse_trees(text: str, *, name: str, funcs: Collection[str]) -> dict[str, ListNode]:
    """Parse ``text``; returns the tree of every template it defines, keyed by name
    (``name`` for the main text).

    Raises:
        TemplateError: Go's parse error with the column added, e.g.
            ``template: :1:8: unexpected "}" in operand``.
    """
    try:
        return _Parser(text, name, funcs).parse()
    except _Abort as abort:
        raise abort.args[0] from None
