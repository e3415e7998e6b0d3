"""What Ollama reads off a template's parse tree, ported from its Go helpers.

* ``identifiers`` — ``Template.Vars`` (``template/template.go``): every field and
  variable identifier, lower-cased. ``messages`` in it selects the history mode,
  ``tools`` and ``suffix`` give the ``tools`` and ``insert`` capabilities.
* ``top_level_fields`` — the data keys a template reads from its root (``.System``,
  ``$.Tools``), with range/with bodies excluded because their dot is an element.
* ``thinking_tags`` — ``thinking.InferTags``: the first and last text of the list
  around ``.Thinking`` inside ``range .Messages`` (``<think>``, ``</think>``).
* ``tool_call_tag`` — ``tools.parseTag``: the first text inside the first
  ``if .ToolCalls`` (``<tool_call>``), ``{`` when there is none.
* ``cut_after_response`` — ``deleteNode``: drop every node after the first
  ``.Response`` for the last turn of a legacy template.
* ``with_response`` — ``template.Parse``'s touch-up appending ``{{ .Response }}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from ollama_actors.domain.gotemplate.nodes import (
    ActionNode,
    BranchNode,
    ChainNode,
    CommandNode,
    FieldNode,
    IfNode,
    ListNode,
    Node,
    PipeNode,
    RangeNode,
    TemplateNode,
    TextNode,
    VariableNode,
)

__all__ = [
    "cut_after_response",
    "identifiers",
    "thinking_tags",
    "tool_call_tag",
    "top_level_fields",
    "with_response",
]


# -- identifiers ----------------------------------------------------------------------
def _pipe_identifiers(pipe: PipeNode) -> Iterator[str]:
    for cmd in pipe.cmds:
        for arg in cmd.args:
            yield from _node_identifiers(arg)


def _node_identifiers(node: Node) -> Iterator[str]:
    """Go's ``Identifiers``: chains and literals contribute nothing."""
    if isinstance(node, ListNode):
        for child in node.nodes:
            yield from _node_identifiers(child)
    elif isinstance(node, TemplateNode):
        if node.pipe is None:
            raise ValueError("undefined template specified")
        yield from _pipe_identifiers(node.pipe)
    elif isinstance(node, ActionNode):
        yield from _pipe_identifiers(node.pipe)
    elif isinstance(node, BranchNode):
        yield from _pipe_identifiers(node.pipe)
        yield from _node_identifiers(node.list)
        if node.else_list is not None:
            yield from _node_identifiers(node.else_list)
    elif isinstance(node, PipeNode):
        yield from _pipe_identifiers(node)
    elif isinstance(node, (FieldNode, VariableNode)):
        yield from node.ident


def identifiers(trees: Mapping[str, ListNode]) -> frozenset[str]:
    """Every identifier in every tree, lower-cased (Ollama's ``Vars``).

    Raises:
        ValueError: ``undefined template specified`` for ``{{template "x"}}`` without
            an argument, which Ollama's ``Vars`` (and so its ``Parse``) rejects.
    """
    return frozenset(name.lower() for tree in trees.values() for name in _node_identifiers(tree))


# -- top-level fields ---------------------------------------------------------------------
def _arg_fields(arg: Node, at_root: bool, found: set[str]) -> None:
    if isinstance(arg, FieldNode) and at_root:
        found.add(arg.ident[0])
    elif isinstance(arg, VariableNode) and arg.ident[0] == "$" and len(arg.ident) > 1:
        found.add(arg.ident[1])
    elif isinstance(arg, PipeNode):
        _pipe_fields(arg, at_root, found)
    elif isinstance(arg, ChainNode):
        _arg_fields(arg.node, at_root, found)


def _pipe_fields(pipe: PipeNode | None, at_root: bool, found: set[str]) -> None:
    if pipe is not None:
        for cmd in pipe.cmds:
            for arg in cmd.args:
                _arg_fields(arg, at_root, found)


def _tree_fields(node: Node, at_root: bool, found: set[str]) -> None:
    if isinstance(node, ListNode):
        for child in node.nodes:
            _tree_fields(child, at_root, found)
    elif isinstance(node, (ActionNode, TemplateNode)):
        _pipe_fields(node.pipe, at_root, found)
    elif isinstance(node, BranchNode):
        _pipe_fields(node.pipe, at_root, found)
        # inside range/with the dot is the element, not the data
        _tree_fields(node.list, at_root and isinstance(node, IfNode), found)
        if node.else_list is not None:
            _tree_fields(node.else_list, at_root, found)


def top_level_fields(trees: Mapping[str, ListNode]) -> frozenset[str]:
    """Keys of the data a template reads: root-dot fields and ``$.X`` references.

    Defined templates are assumed to be invoked with the root as their dot."""
    found: set[str] = set()
    for tree in trees.values():
        _tree_fields(tree, True, found)
    return frozenset(found)


# -- thinking tags ------------------------------------------------------------------------
def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, ListNode):
        return node.nodes
    if isinstance(node, BranchNode):
        rest = (node.else_list,) if node.else_list is not None else ()
        return (node.pipe, node.list, *rest)
    if isinstance(node, (ActionNode, TemplateNode)):
        return (node.pipe,) if node.pipe is not None else ()
    if isinstance(node, PipeNode):
        return node.cmds
    if isinstance(node, CommandNode):
        return node.args
    return ()


def _range_uses_field(node: RangeNode, name: str) -> bool:
    stack: list[Node] = [node.pipe]
    while stack:
        current = stack.pop()
        if isinstance(current, FieldNode) and current.ident[0] == name:
            return True
        stack.extend(_children(current))
    return False


def thinking_tags(root: ListNode) -> tuple[str, str]:
    """Opening and closing thinking tags, ``("", "")`` when the template has none."""
    tags = ["", ""]
    ancestors: list[Node] = []

    def visit(node: Node) -> None:
        ancestors.append(node)
        if isinstance(node, FieldNode) and node.ident[0] == "Thinking":
            _record_tags(ancestors, tags)
        for child in _children(node):
            visit(child)
        ancestors.pop()

    visit(root)
    return tags[0], tags[1]


def _record_tags(ancestors: list[Node], tags: list[str]) -> None:
    ranges = [a for a in ancestors if isinstance(a, RangeNode)]
    if not ranges or not _range_uses_field(ranges[-1], "Messages"):
        return
    lists = [a for a in ancestors if isinstance(a, ListNode)]
    if not lists or not lists[-1].nodes:
        return
    first, last = lists[-1].nodes[0], lists[-1].nodes[-1]
    if isinstance(first, TextNode):
        tags[0] = first.text.strip()
    if isinstance(last, TextNode):
        tags[1] = last.text.strip()


# -- tool call tag --------------------------------------------------------------------------
def _mentions_tool_calls(node: IfNode) -> bool:
    return any(
        isinstance(arg, FieldNode) and "ToolCalls" in arg.ident for cmd in node.pipe.cmds for arg in cmd.args
    )


def _branches(node: BranchNode) -> tuple[ListNode, ...]:
    return (node.list,) if node.else_list is None else (node.list, node.else_list)


def _find_tool_call_node(nodes: tuple[Node, ...]) -> IfNode | None:
    for node in nodes:
        if isinstance(node, IfNode) and _mentions_tool_calls(node):
            return node
        inner: tuple[ListNode, ...] = ()
        if isinstance(node, BranchNode):
            inner = _branches(node)
        elif isinstance(node, ListNode):
            inner = (node,)
        for branch in inner:
            found = _find_tool_call_node(branch.nodes)
            if found is not None:
                return found
    return None


def _find_text_node(nodes: tuple[Node, ...]) -> TextNode | None:
    for node in nodes:
        if isinstance(node, TextNode):
            if node.text.strip(" \t\n\r\v\f"):
                return node
        elif isinstance(node, BranchNode):
            for branch in _branches(node):
                found = _find_text_node(branch.nodes)
                if found is not None:
                    return found
            return None
        elif isinstance(node, ListNode):
            found = _find_text_node(node.nodes)
            if found is not None:
                return found
        elif isinstance(node, ActionNode):
            return None
    return None


def tool_call_tag(root: ListNode) -> str:
    """The text that opens a tool call in the model's output; ``{`` when unknown."""
    node = _find_tool_call_node(root.nodes)
    text = _find_text_node(node.list.nodes) if node is not None else None
    if text is None:
        return "{"
    tag = text.text.replace("\r\n", "\n").split("{", 1)[0].strip()
    return tag or "{"


# -- tree rewrites ------------------------------------------------------------------------------
def with_response(root: ListNode) -> ListNode:
    """``root`` with ``{{ .Response }}`` appended (Ollama's parse-time touch-up)."""
    response = FieldNode(0, ("Response",))
    action = ActionNode(0, PipeNode(0, False, (), (CommandNode(0, (response,)),)))
    return ListNode(root.pos, (*root.nodes, action))


def cut_after_response(root: ListNode) -> ListNode:
    """``root`` without any node that follows the first ``.Response`` field in document
    order (nested bodies included); the field itself stays."""
    state = {"cut": False}

    def gone(node: Node) -> bool:
        if isinstance(node, FieldNode) and "Response" in node.ident:
            state["cut"] = True
            return False
        return state["cut"]

    return _rewrite(root, gone) or ListNode(root.pos, ())  # type: ignore[return-value]


def _rewrite(node: Node, gone: Callable[[Node], bool]) -> Node | None:
    if gone(node):
        return None
    if isinstance(node, ListNode):
        kept = (_rewrite(child, gone) for child in node.nodes)
        return ListNode(node.pos, tuple(k for k in kept if k is not None))
    if isinstance(node, BranchNode):
        body = _rewrite(node.list, gone) or ListNode(node.list.pos, ())
        rest = _rewrite(node.else_list, gone) if node.else_list is not None else None
        return type(node)(node.pos, node.pipe, body, rest)  # type: ignore[arg-type]
    if isinstance(node, ActionNode):
        pipe = _rewrite(node.pipe, gone)
        return ActionNode(node.pos, pipe) if isinstance(pipe, PipeNode) else None
    if isinstance(node, PipeNode):
        cmds: list[CommandNode] = []
        for cmd in node.cmds:
            args = [a for a in (_rewrite(arg, gone) for arg in cmd.args) if a is not None]
            if not args:
                return None
            cmds.append(CommandNode(cmd.pos, tuple(args)))
        return PipeNode(node.pos, node.is_assign, node.decl, tuple(cmds)) if cmds else None
    return node
