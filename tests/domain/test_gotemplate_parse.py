"""Go template parsing: the token stream, Go's error texts with their positions, the
tree Ollama inspects, and the package's public surface."""

from __future__ import annotations

import pytest

import ollama_actors.domain.gotemplate as gotemplate
from ollama_actors.domain.gotemplate import Template, TemplateError
from ollama_actors.domain.gotemplate.lexer import ItemType, lex
from ollama_actors.domain.gotemplate.nodes import ActionNode, IfNode, RangeNode, TextNode


def test_package_all_is_sorted_and_every_name_exists() -> None:
    assert gotemplate.__all__ == sorted(gotemplate.__all__)
    assert all(hasattr(gotemplate, name) for name in gotemplate.__all__)


def test_lexer_trims_text_next_to_trim_markers() -> None:
    items = lex("a \n {{- .X -}} \n b")
    texts = [i.val for i in items if i.typ is ItemType.TEXT]
    assert texts == ["a", "b"]


def test_lexer_needs_a_space_after_the_dash_so_minus_three_is_a_number() -> None:
    items = [i for i in lex("{{-3}}") if i.typ is ItemType.NUMBER]
    assert [i.val for i in items] == ["-3"]


def test_lexer_accepts_a_newline_as_the_space_of_a_trim_marker() -> None:
    assert Template.parse("x  {{-\n.A\n-}}  y").execute({"A": 1}) == "x1y"


def test_comments_are_dropped_and_may_trim() -> None:
    assert Template.parse("a {{- /* note */ -}} b{{/* x */}}c").execute({}) == "abc"


PARSE_ERRORS = [
    # template, message (Go's, with the column added after the line), line, 0-based byte
    # column of the offending token
    ("{{ .Foo } }}", 'template: :1:8: unexpected "}" in operand', 1, 8),
    ("{{ if }}", "template: :1:6: missing value for if", 1, 6),
    ("{{ }}", "template: :1:3: missing value for command", 1, 3),
    ("{{ end }}", "template: :1:7: unexpected {{end}}", 1, 7),
    ("{{ else }}", "template: :1:8: unexpected {{else}}", 1, 8),
    ("{{ if .A }}x", "template: :1:12: unexpected EOF", 1, 12),
    ("{{ $x }}", 'template: :1:6: undefined variable "$x"', 1, 6),
    ("{{ foo }}", 'template: :1:3: function "foo" not defined', 1, 3),
    ("{{ .Prompt ", "template: :1:11: unclosed action", 1, 11),
    ("hello\n{{ .A\n", "template: :3:0: unclosed action started at :2", 3, 0),
    ('line1\nline2 {{ "abc }}', "template: :2:9: unterminated quoted string", 2, 9),
    ("{{ `raw }}", "template: :1:3: unterminated raw quoted string", 1, 3),
    ("{{ break }}", "template: :1:9: {{break}} outside {{range}}", 1, 9),
    ("{{ range .L }}{{ end }}{{ continue }}", "template: :1:35: {{continue}} outside {{range}}", 1, 35),
    ("{{ 3 | 4 }}", "template: :1:9: non executable command in pipeline stage 2", 1, 9),
    ("{{ nil.X }}", 'template: :1:8: unexpected . after term "nil"', 1, 8),
    ("{{ 0x }}", 'template: :1:3: illegal number syntax: "0x"', 1, 3),
    ("{{ 0xg }}", 'template: :1:3: bad number syntax: "0xg"', 1, 3),
    ("{{ .A ! }}", 'template: :1:6: unexpected "!" in operand', 1, 6),
    ("{{ (.A }}", "template: :1:7: unclosed left paren", 1, 7),
    ("{{ .A) }}", 'template: :1:5: unexpected ")" in command', 1, 5),
    ("{{ ) }}", 'template: :1:3: unexpected ")" in command', 1, 3),
    ("{{ $a, $b := .X }}", "template: :1:5: too many declarations in command", 1, 5),
    ("{{ range $a, 3 }}{{ end }}", "template: :1:13: range can only initialize variables", 1, 13),
    ("{{/* open", "template: :1:2: unclosed comment", 1, 2),
    ("{{ if .A }}{{ else }}{{ else }}{{ end }}", "template: :1:29: expected end; found {{else}}", 1, 29),
    ('{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}', 'template: :1:50: template: multiple definition of template "x"', 1, 50),
    ("{{ .A ", "template: :1:6: unclosed action", 1, 6),
]


@pytest.mark.parametrize(("text", "message", "line", "col"), PARSE_ERRORS)
def test_parse_errors_carry_gos_message_and_line_and_column(text: str, message: str, line: int, col: int) -> None:
    with pytest.raises(TemplateError) as caught:
        Template.parse(text)
    assert str(caught.value) == message
    assert (caught.value.line, caught.value.col) == (line, col)


MULTI_LINE_HEAD = "{{- range .Messages }}\n<|{{ .Role }}|>\n"


@pytest.mark.parametrize(
    ("line3", "message", "col"),
    [
        ("{{ .Content ", "template: :3:12: unclosed action", 12),
        ("{{ upper .Content }}{{ end }}", 'template: :3:3: function "upper" not defined', 3),
        ("{{ .Content | 3 }}{{ end }}", "template: :3:16: non executable command in pipeline stage 2", 16),
    ],
    ids=["unterminated-action", "unknown-function", "bad-pipeline"],
)
def test_an_error_on_line_three_names_line_and_column_in_its_message(line3: str, message: str, col: int) -> None:
    """The create path shows ``template error: <this message>`` to the client."""
    with pytest.raises(TemplateError) as caught:
        Template.parse(MULTI_LINE_HEAD + line3)
    assert str(caught.value) == message
    assert (caught.value.line, caught.value.col) == (3, col)


def test_the_column_counts_bytes_as_gos_execution_errors_do() -> None:
    """``｜`` is three bytes in UTF-8, so the ``}`` after ``<｜User｜>{{ .Foo `` is at byte 20."""
    with pytest.raises(TemplateError, match=r'^template: :1:20: unexpected "}" in operand$'):
        Template.parse("<｜User｜>{{ .Foo } }}")


def test_template_name_appears_in_parse_errors() -> None:
    with pytest.raises(TemplateError, match=r"^template: chat:1:6: missing value for if$"):
        Template.parse("{{ if }}", name="chat")


def test_template_without_argument_is_rejected_like_ollamas_parse() -> None:
    """Ollama's ``Vars`` refuses ``{{template "x"}}`` with no pipeline, so create does too."""
    with pytest.raises(TemplateError, match="^undefined template specified$"):
        Template.parse('{{define "x"}}{{template "x"}}{{end}}{{template "x"}}')


def test_parse_keeps_source_text_and_builds_main_and_defined_trees() -> None:
    source = '{{ define "t" }}T{{ end }}{{ if .A }}yes{{ end }}'
    template = Template.parse(source)
    assert str(template) == source
    assert set(template.trees) == {"", "t"}
    assert isinstance(template.root.nodes[0], IfNode)


def test_else_if_chains_nest_an_if_in_the_else_list() -> None:
    root = Template.parse("{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}").root
    outer = root.nodes[0]
    assert isinstance(outer, IfNode) and outer.else_list is not None
    inner = outer.else_list.nodes[0]
    assert isinstance(inner, IfNode)
    assert isinstance(inner.else_list.nodes[0], TextNode)  # type: ignore[union-attr]


NODE_STRINGS = [
    "{{.A.B}}",
    "{{$x := .A | printf \"%s\" 1}}",
    "{{(index .L 0).Name}}",
    "{{$.Tools}}",
    "{{range $i, $e := .L}}{{$e}}{{else}}none{{end}}",
    '{{template "x" .}}',
]


@pytest.mark.parametrize("source", NODE_STRINGS)
def test_nodes_print_back_as_gos_string_form(source: str) -> None:
    assert str(Template.parse(source).root.nodes[0]) == source


def test_field_chain_is_one_field_node() -> None:
    action = Template.parse("{{ .Function.Arguments }}").root.nodes[0]
    assert isinstance(action, ActionNode)
    assert action.pipe.cmds[0].args[0].ident == ("Function", "Arguments")  # type: ignore[attr-defined]


def test_range_with_two_variables_declares_both() -> None:
    node = Template.parse("{{ range $i, $m := .Messages }}{{ $i }}{{ end }}").root.nodes[0]
    assert isinstance(node, RangeNode)
    assert [v.ident[0] for v in node.pipe.decl] == ["$i", "$m"]


def test_variables_are_scoped_to_the_enclosing_end() -> None:
    with pytest.raises(TemplateError, match='undefined variable "\\$x"'):
        Template.parse("{{ if .A }}{{ $x := 1 }}{{ end }}{{ $x }}")
