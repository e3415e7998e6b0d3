"""The parse tree of a Go template: frozen nodes mirroring ``text/template/parse``.

Node kinds, fields and ``str()`` renderings follow Go's ``parse`` package, because
Ollama inspects the tree (``.Messages`` detection, thinking tags, the legacy
``.Response`` cut) and Go's error messages quote nodes by their ``String()``.
``pos`` is the character offset of the node in the template text.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ActionNode",
    "BoolNode",
    "BranchNode",
    "BreakNode",
    "ChainNode",
    "CommandNode",
    "CommentNode",
    "ContinueNode",
    "DotNode",
    "FieldNode",
    "IdentifierNode",
    "IfNode",
    "ListNode",
    "NilNode",
    "Node",
    "NumberNode",
    "PipeNode",
    "RangeNode",
    "StringNode",
    "TemplateNode",
    "TextNode",
    "VariableNode",
    "WithNode",
]


@dataclass(frozen=True)
class Node:
    """Base of all nodes; ``pos`` is a character offset into the template text."""

    pos: int


@dataclass(frozen=True)
class TextNode(Node):
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class CommentNode(Node):
    text: str

    def __str__(self) -> str:
        return "{{" + self.text + "}}"


@dataclass(frozen=True)
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass(frozen=True)
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(frozen=True)
class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True)
class NumberNode(Node):
    """A numeric or character constant; ``value`` is what Go's executor makes of it
    without a type context (int, float or complex), ``None`` when it overflows int."""

    text: str
    value: int | float | complex | None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class StringNode(Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(frozen=True)
class IdentifierNode(Node):
    """A function name."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class FieldNode(Node):
    """``.A.B``: ``ident`` is ``("A", "B")``."""

    ident: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + name for name in self.ident)


@dataclass(frozen=True)
class VariableNode(Node):
    """``$x.A``: ``ident`` is ``("$x", "A")``."""

    ident: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(frozen=True)
class ChainNode(Node):
    """``(pipeline).A.B``: a term other than a field or variable followed by fields."""

    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return head + "".join("." + name for name in self.fields)


@dataclass(frozen=True)
class CommandNode(Node):
    args: tuple[Node, ...]

    def __str__(self) -> str:
        return " ".join(f"({arg})" if isinstance(arg, PipeNode) else str(arg) for arg in self.args)


@dataclass(frozen=True)
class PipeNode(Node):
    """``$a, $b := cmd | cmd``; ``is_assign`` marks ``=`` rather than ``:=``."""

    is_assign: bool
    decl: tuple[VariableNode, ...]
    cmds: tuple[CommandNode, ...]

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass(frozen=True)
class ActionNode(Node):
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(frozen=True)
class ListNode(Node):
    nodes: tuple[Node, ...]

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(frozen=True)
class BranchNode(Node):
    """Common shape of if/range/with."""

    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None

    keyword = ""

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            text += "{{else}}" + str(self.else_list)
        return text + "{{end}}"


@dataclass(frozen=True)
class IfNode(BranchNode):
    keyword = "if"


@dataclass(frozen=True)
class RangeNode(BranchNode):
    keyword = "range"


@dataclass(frozen=True)
class WithNode(BranchNode):
    keyword = "with"


@dataclass(frozen=True)
class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass(frozen=True)
class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"


@dataclass(frozen=True)
class TemplateNode(Node):
    """``{{template "name" pipeline}}``; ``pipe`` is ``None`` without a pipeline."""

    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        quoted = '"' + self.name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if self.pipe is None:
            return "{{template " + quoted + "}}"
        return "{{template " + quoted + " " + str(self.pipe) + "}}"
