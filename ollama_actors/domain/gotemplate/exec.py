"""Executes a parsed Go template: a port of ``text/template/exec.go``.

Semantics kept from Go because Ollama's templates rely on them: truthiness
(empty/zero/nil false, structs true); ``{{ .Missing }}`` prints ``<no value>``
while a missing key with Ollama's ``missingkey=zero`` option yields a nil that
errors when dereferenced further (``.Missing.Field``); ranges over maps in key
order, over ints, with ``$i, $e`` and ``else``, ``break``/``continue``; ``with …
else with``; variables scoped to the enclosing ``end`` and assigned with ``=``;
``and``/``or`` short-circuit and return an operand; templates invoked with
``template``/``block`` see only their argument. Errors read like Go's.

The executor keeps per-run mutable state in a private object; nothing outlives
the call.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from ollama_actors.domain.gotemplate.errors import TemplateExecError
from ollama_actors.domain.gotemplate.funcs import FuncError, GoFunc, make_funcs, truth
from ollama_actors.domain.gotemplate.gofmt import go_quote, sprint
from ollama_actors.domain.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
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
from ollama_actors.domain.gotemplate.values import (
    INVALID,
    go_kind,
    go_type_name,
    is_true,
    sorted_items,
    struct_fields,
)

__all__ = ["MAX_TEMPLATE_DEPTH", "execute_trees"]

# Go allows 100000 nested {{template}} calls; Python's stack does not, so a
# runaway recursion stops here with Go's message and this number.
MAX_TEMPLATE_DEPTH = 64


class _Missing:
    """Go's ``missingVal``: no value was piped into this command."""


_MISSING: Any = _Missing()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _State:
    """One execution: output buffer, variable stack, current node for messages."""

    def __init__(
        self,
        trees: Mapping[str, ListNode],
        text: str,
        parse_name: str,
        funcs: Mapping[str, GoFunc],
        missing_zero: bool,
    ) -> None:
        self.trees = trees
        self.text = text
        self.parse_name = parse_name
        self.name = parse_name
        self.funcs = funcs
        self.missing_zero = missing_zero
        self.out: list[str] = []
        self.vars: list[list[Any]] = []
        self.node: Node | None = None
        self.depth = 0

    # -- errors -------------------------------------------------------------------
    def at(self, node: Node) -> None:
        self.node = node

    def errorf(self, message: str) -> TemplateExecError:
        if self.node is None:
            return TemplateExecError(f"template: {self.name}: {message}")
        pos = self.node.pos
        before = self.text[:pos]
        line = 1 + before.count("\n")
        col = len(before[before.rfind("\n") + 1 :].encode())
        return TemplateExecError(
            f"template: {self.parse_name}:{line}:{col}: executing {go_quote(self.name)} at <{self.node}>: {message}",
            line=line,
            col=col,
        )

    # -- variables -----------------------------------------------------------------
    def push(self, name: str, value: object) -> None:
        self.vars.append([name, value])

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, value: object) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        raise self.errorf(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: object) -> None:
        self.vars[-n][1] = value

    def var_value(self, name: str) -> object:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        raise self.errorf(f"undefined variable: {name}")

    # -- walking ---------------------------------------------------------------------
    def walk(self, dot: object, node: Node) -> None:
        self.at(node)
        if isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, (IfNode, WithNode)):
            self.walk_if_or_with(isinstance(node, WithNode), dot, node)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        elif not isinstance(node, CommentNode):
            raise self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, is_with: bool, dot: object, node: BranchNode) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            ok_truth, ok = is_true(value)
            if not ok:
                raise self.errorf(f"if/with can't use {sprint([value])}")
            if ok_truth:
                self.walk(value if is_with else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(mark)

    def walk_range(self, dot: object, node: RangeNode) -> None:
        self.at(node)
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            ran = self.range_items(node, value)
            if not ran and node.else_list is not None:
                self.walk(dot, node.else_list)
        except _Break:
            pass
        finally:
            self.pop(mark)

    def range_items(self, node: RangeNode, value: object) -> bool:
        """Run the body once per element; False when there was nothing to range over."""
        kind = go_kind(value)
        if kind in ("slice", "bytes"):
            items: Sequence[tuple[object, object]] = list(enumerate(value))  # type: ignore[arg-type]
        elif kind == "map":
            items = sorted_items(value)  # type: ignore[arg-type]
        elif kind == "int":
            if len(node.pipe.decl) > 1:
                raise self.errorf(f"can't use {value} to iterate over more than one variable")
            items = [(INVALID, i) for i in range(value)]  # type: ignore[call-overload]
        elif kind in ("invalid", "nil"):
            return False
        else:
            raise self.errorf(f"range can't iterate over {sprint([value])}")
        mark = len(self.vars)
        for index, element in items:
            self.one_iteration(node, mark, index, element)
        return bool(items)

    def one_iteration(self, node: RangeNode, mark: int, index: object, element: object) -> None:
        decl, is_assign = node.pipe.decl, node.pipe.is_assign
        if decl:
            if is_assign:
                self.set_var(decl[0].ident[0], index if len(decl) > 1 else element)
            else:
                self.set_top_var(1, element)
        if len(decl) > 1:
            if is_assign:
                self.set_var(decl[1].ident[0], element)
            else:
                self.set_top_var(2, index)
        try:
            self.walk(element, node.list)
        except _Continue:
            pass
        finally:
            self.pop(mark)

    def walk_template(self, dot: object, node: TemplateNode) -> None:
        self.at(node)
        root = self.trees.get(node.name)
        if root is None:
            raise self.errorf(f"template {go_quote(node.name)} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            raise self.errorf(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        new_dot = self.eval_pipeline(dot, node.pipe)
        saved = (self.vars, self.name, self.depth)
        self.vars, self.name, self.depth = [["$", new_dot]], node.name, self.depth + 1
        try:
            self.walk(new_dot, root)
        finally:
            self.vars, self.name, self.depth = saved

    def print_value(self, node: Node, value: object) -> None:
        self.at(node)
        if value is INVALID or value is None:
            self.out.append("<no value>")
            return
        if go_kind(value) == "func":
            raise self.errorf(f"can't print {node} of type {go_type_name(value)}")
        self.out.append(sprint([value]))

    # -- evaluation ------------------------------------------------------------------
    def eval_pipeline(self, dot: object, pipe: PipeNode | None) -> object:
        if pipe is None:
            return INVALID
        self.at(pipe)
        value: object = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:  # a nil interface{} unwraps to no value at all
                value = INVALID
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.ident[0], value)
            else:
                self.push(variable.ident[0], value)
        return value

    def not_a_function(self, args: Sequence[Node], final: object) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: object, cmd: CommandNode, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.errorf("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        raise self.errorf(f"can't evaluate command {go_quote(str(first))}")

    def ideal_constant(self, node: NumberNode) -> object:
        self.at(node)
        if node.value is None:
            raise self.errorf(f"{node.text} overflows int")
        return node.value

    def eval_chain(self, dot: object, chain: ChainNode, args: Sequence[Node] | None, final: object) -> object:
        if isinstance(chain.node, NilNode):
            raise self.errorf(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, "value", chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(self, dot: object, var: VariableNode, args: Sequence[Node] | None, final: object) -> object:
        self.at(var)
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args or (var,), final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: object,
        receiver: object,
        node: Node,
        ident: Sequence[str],
        args: Sequence[Node] | None,
        final: object,
    ) -> object:
        self.at(node)
        for name in ident[:-1]:
            receiver = self.eval_field(name, None, _MISSING, receiver)
        return self.eval_field(ident[-1], args, final, receiver)

    def eval_field(self, name: str, args: Sequence[Node] | None, final: object, receiver: object) -> object:
        if receiver is INVALID:
            return INVALID
        if receiver is None:
            raise self.errorf(f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        kind = go_kind(receiver)
        if kind == "struct" and name in {f.name for f in struct_fields(receiver)}:
            if has_args:
                raise self.errorf(f"{name} has arguments but cannot be invoked as function")
            return getattr(receiver, name)
        if kind == "map":
            if has_args:
                raise self.errorf(f"{name} is not a method but has arguments")
            if name in receiver:  # type: ignore[operator]
                return receiver[name]  # type: ignore[index]
            return None if self.missing_zero else INVALID
        raise self.errorf(f"can't evaluate field {name} in type {go_type_name(receiver)}")

    def eval_function(self, dot: object, node: IdentifierNode, args: Sequence[Node] | None, final: object) -> object:
        self.at(node)
        fn = self.funcs.get(node.name)
        if fn is None:
            raise self.errorf(f"{go_quote(node.name)} is not a defined function")
        return self.eval_call(dot, fn, node, list(args[1:]) if args is not None else [], final)

    def eval_call(self, dot: object, fn: GoFunc, node: Node, args: list[Node], final: object) -> object:
        count = len(args) + (final is not _MISSING)
        fixed = len(fn.params)
        if fn.variadic is not None and count < fixed:
            raise self.errorf(f"wrong number of args for {fn.name}: want at least {fixed} got {count}")
        if fn.variadic is None and count != fixed:
            raise self.errorf(f"wrong number of args for {fn.name}: want {fixed} got {count}")
        if fn.name in ("and", "or"):
            return self.eval_and_or(dot, fn.name == "or", args, final)
        argv = [self.eval_arg(dot, fn.params[i] if i < fixed else str(fn.variadic), a) for i, a in enumerate(args)]
        if final is not _MISSING:
            kind = fn.variadic if fn.variadic is not None else fn.params[-1]
            argv.append(self.validate(final, kind))
        try:
            return fn.fn(*argv)
        except FuncError as error:
            self.at(node)
            raise self.errorf(f"error calling {fn.name}: {error}") from None

    def eval_and_or(self, dot: object, is_or: bool, args: list[Node], final: object) -> object:
        value: object = INVALID
        for arg in args:
            value = self.eval_arg(dot, "value", arg)
            if truth(value) == is_or:
                return value
        if final is not _MISSING:
            value = final
        return value

    def eval_arg(self, dot: object, kind: str, node: Node) -> object:  # noqa: C901 - Go's switch
        self.at(node)
        if isinstance(node, DotNode):
            return self.validate(dot, kind)
        if isinstance(node, NilNode):
            if kind == "value":
                return INVALID
            if kind == "any":
                return None
            raise self.errorf(f"cannot assign nil to {kind}")
        if isinstance(node, FieldNode):
            return self.validate(self.eval_field_chain(dot, dot, node, node.ident, [node], _MISSING), kind)
        if isinstance(node, VariableNode):
            return self.validate(self.eval_variable(dot, node, None, _MISSING), kind)
        if isinstance(node, PipeNode):
            return self.validate(self.eval_pipeline(dot, node), kind)
        if isinstance(node, IdentifierNode):
            return self.validate(self.eval_function(dot, node, None, _MISSING), kind)
        if isinstance(node, ChainNode):
            return self.validate(self.eval_chain(dot, node, None, _MISSING), kind)
        if kind == "string":
            if isinstance(node, StringNode):
                return node.text
            raise self.errorf(f"expected string; found {node}")
        if isinstance(node, BoolNode):
            return node.value
        if isinstance(node, NumberNode):
            return self.ideal_constant(node)
        if isinstance(node, StringNode):
            return node.text
        raise self.errorf(f"can't handle {node} for arg of type {kind}")

    def validate(self, value: object, kind: str) -> object:
        """Go's ``validateType`` for the parameter kinds functions declare."""
        if kind == "value":
            return value
        if kind == "any":
            return None if value is INVALID else value
        if value is INVALID:
            raise self.errorf(f"invalid value; expected {kind}")
        if kind == "string" and not isinstance(value, str):
            raise self.errorf(f"wrong type for value; expected string; got {go_type_name(value)}")
        return value


def execute_trees(
    trees: Mapping[str, ListNode],
    *,
    text: str,
    name: str,
    data: object,
    today: datetime.date,
    missing_zero: bool = True,
) -> str:
    """Run template ``name`` of ``trees`` (parsed from ``text``) with ``data`` as dot.

    Raises:
        TemplateExecError: with Go's message when execution fails.
    """
    state = _State(trees, text, name, make_funcs(today), missing_zero)
    root = trees.get(name)
    if root is None:
        raise TemplateExecError(f"template: {name}: {go_quote(name)} is an incomplete or empty template")
    state.push("$", data)
    try:
        state.walk(data, root)
    except RecursionError:
        raise state.errorf(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})") from None
    return "".join(state.out)
