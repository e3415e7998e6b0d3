"""Executing Go templates: each row is a template, its data and the text Go renders
(or Go's execution error)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest

from ollama_actors.domain.gotemplate import Template, TemplateExecError

RENDERINGS: list[tuple[str, dict[str, Any], str]] = [
    # literals and printing
    ('{{ 1 }}|{{ 1.5 }}|{{ "s" }}|{{ `r` }}|{{ true }}|{{ 0x10 }}|{{ \'a\' }}', {}, "1|1.5|s|r|true|16|97"),
    ("{{ 1e6 }}|{{ 123456.0 }}|{{ 0.00001 }}|{{ .F }}", {"F": 10000000.0}, "1e+06|123456|1e-05|1e+07"),
    ("{{ .L }}|{{ .M }}|{{ .B }}", {"L": [1, "a", None], "M": {"b": [1], "a": 2}, "B": False}, "[1 a <nil>]|map[a:2 b:[1]]|false"),
    # missing keys and nil
    ("{{ .Missing }}|{{ if .Missing }}y{{ else }}n{{ end }}", {}, "<no value>|n"),
    ("{{ .N }}|{{ print .N }}|{{ printf \"%v\" .N }}", {"N": None}, "<no value>|<nil>|<nil>"),
    ("{{ $x := .Missing }}{{ $x.Field }}", {}, "<no value>"),
    # truthiness
    (
        "{{ if .S }}S{{ end }}{{ if .Z }}Z{{ end }}{{ if .E }}E{{ end }}{{ if .M }}M{{ end }}{{ if .F }}F{{ end }}{{ if .T }}T{{ end }}",
        {"S": "", "Z": 0, "E": [], "M": {}, "F": 0.0, "T": [0]},
        "T",
    ),
    # whitespace trimming
    ("a  {{- 1 -}}  b\n{{- 2 }}\n", {}, "a1b2\n"),
    # if / else if / else, with / else with
    ("{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}", {"B": 1}, "b"),
    ("{{ with .X }}x={{ . }}{{ else with .Y }}y={{ . }}{{ else }}none{{ end }}", {"Y": "why"}, "y=why"),
    ("{{ with .X }}{{ . }}{{ else }}none{{ end }}", {"X": ""}, "none"),
    # range over slices, maps (key order), ints; else; break / continue
    ("{{ range $i, $e := .L }}{{ $i }}={{ $e }},{{ end }}", {"L": ["a", "b"]}, "0=a,1=b,"),
    ("{{ range $k, $v := .M }}{{ $k }}:{{ $v }};{{ end }}", {"M": {"z": 1, "a": 2, "m": 3}}, "a:2;m:3;z:1;"),
    ("{{ range .M }}{{ . }}{{ end }}", {"M": {"b": 2, "a": 1}}, "12"),
    ("{{ range 3 }}{{ . }}{{ end }}", {}, "012"),
    ("{{ range .E }}x{{ else }}empty{{ end }}", {"E": []}, "empty"),
    ("{{ range .Missing }}x{{ else }}nothing{{ end }}", {}, "nothing"),
    (
        "{{ range .L }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}",
        {"L": [1, 2, 3, 4, 5]},
        "13",
    ),
    ("{{ range $i, $e := .L }}{{ if $i }}, {{ end }}{{ $e }}{{ end }}", {"L": ["a", "b", "c"]}, "a, b, c"),
    ("{{ range .L }}{{ $.Sep }}{{ . }}{{ end }}", {"L": [1, 2], "Sep": "-"}, "-1-2"),
    # variables: declaration, assignment across scopes
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", {}, "2"),
    (
        '{{ $s := "" }}{{ range .L }}{{ $s = printf "%s%s" $s . }}{{ end }}{{ $s }}',
        {"L": ["a", "b", "c"]},
        "abc",
    ),
    # and / or return an operand and short-circuit
    ('{{ or .Missing "default" }}|{{ and 1 0 }}|{{ and 1 2 }}|{{ or 0 "" }}|{{ or 0 3 }}', {}, "default|0|2||3"),
    ("{{ and .Missing .Missing.Boom }}|{{ or 1 .Missing.Boom }}", {}, "<no value>|1"),
    # comparisons
    ('{{ eq 1 1 }}|{{ eq 3 1 2 3 }}|{{ eq .S "a" "b" }}|{{ ne 1 2 }}', {"S": "b"}, "true|true|true|true"),
    ('{{ lt 1 2 }}|{{ le 2 2 }}|{{ gt "b" "a" }}|{{ ge 1.5 2.5 }}', {}, "true|true|true|false"),
    ("{{ eq .Missing .Missing }}|{{ eq .Missing 1 }}", {}, "true|false"),
    ("{{ not 0 }}|{{ not .L }}|{{ not .Missing }}", {"L": [1]}, "true|false|true"),
    # len, index, slice
    ('{{ len "héllo" }}|{{ len .L }}|{{ len .M }}', {"L": [1, 2], "M": {"a": 1}}, "6|2|1"),
    ('{{ index .M "k" }}|{{ index .L 1 }}|{{ index .N 0 1 }}|{{ index .M "nope" }}', {"M": {"k": "v"}, "L": [1, 2], "N": [[5, 6]]}, "v|2|6|<no value>"),
    ('{{ slice "hello" 1 3 }}|{{ slice .L 1 }}|{{ slice .L 0 1 }}|{{ len (slice .L 2) }}', {"L": [1, 2, 3]}, "el|[2 3]|[1]|1"),
    # print family
    ('{{ print 1 2 "a" 3 "b" "c" }}|{{ println 1 "a" }}', {}, "1 2a3bc|1 a\n"),
    ('{{ printf "%s=%d" "n" 3 }}|{{ printf "%q" "hi" }}|{{ printf "%v|%5.2f|%-4s|%03d|%x|%t" .L 3.14159 "ab" 7 255 true }}', {"L": [1, 2]}, 'n=3|"hi"|[1 2]| 3.14|ab  |007|ff|true'),
    ('{{ printf "%d" "x" }}|{{ printf "%s %s" "a" }}|{{ printf "%s" "a" "b" }}', {}, "%!d(string=x)|a %!s(MISSING)|a%!(EXTRA string=b)"),
    # pipelines and parenthesised commands
    ('{{ "x" | printf "%s-%s" "a" }}|{{ 3 | printf "%d" }}|{{ .L | len }}', {"L": [1]}, "a-x|3|1"),
    ("{{ (index .L 0).Name }}|{{ (len .L) }}", {"L": [{"Name": "n"}]}, "n|1"),
    # escaping functions
    ("{{ html \"<a href='x'>&\" }}", {}, "&lt;a href=&#39;x&#39;&gt;&amp;"),
    ("{{ js \"a'b\\\"c<d>=\" }}", {}, "a\\'b\\\"c\\u003Cd\\u003E\\u003D"),
    ('{{ urlquery "a b&c/é" }}|{{ html .Missing }}', {}, "a+b%26c%2F%C3%A9|&lt;no value&gt;"),
    # Ollama's functions
    ('{{ json .V }}', {"V": {"b": [1, 2.5, None, True], "a": "<&>"}}, '{"a":"\\u003c\\u0026\\u003e","b":[1,2.5,null,true]}'),
    ("{{ currentDate }}|{{ yesterdayDate }}|{{ toTypeScriptType .X }}", {"X": 1}, "2024-03-01|2024-02-29|any"),
    # define / template / block
    ('{{ define "T" }}hi {{ . }}{{ end }}{{ template "T" "bob" }}', {}, "hi bob"),
    ('{{ block "B" . }}default {{ .A }}{{ end }}', {"A": "a"}, "default a"),
    ('{{ define "T" }}{{ $ }}{{ end }}{{ $x := 1 }}{{ template "T" .A }}', {"A": "only the argument"}, "only the argument"),
]


@pytest.mark.parametrize(("source", "data", "expected"), RENDERINGS)
def test_rendering_matches_go(source: str, data: dict[str, Any], expected: str) -> None:
    template = Template.parse(source)
    assert template.execute(data, today=datetime.date(2024, 3, 1)) == expected


@dataclass(frozen=True)
class Person:
    Name: str
    Tags: tuple[str, ...] = ()


def test_dataclasses_are_structs_with_fields_and_print_like_go() -> None:
    template = Template.parse("{{ .P.Name }}|{{ .P }}|{{ if .P }}true{{ end }}|{{ range .P.Tags }}{{ . }}{{ end }}")
    assert template.execute({"P": Person("ann", ("x", "y"))}) == "ann|{ann [x y]}|true|xy"


EXEC_ERRORS = [
    ("{{ .Missing.Field }}", {}, 'template: :1:11: executing "" at <.Missing.Field>: nil pointer evaluating interface {}.Field'),
    ("{{ .S.Foo }}", {"S": "str"}, 'template: :1:5: executing "" at <.S.Foo>: can\'t evaluate field Foo in type string'),
    ('{{ eq 1 "a" }}', {}, 'template: :1:3: executing "" at <eq>: error calling eq: incompatible types for comparison'),
    ("{{ lt 1 2.0 }}", {}, 'template: :1:3: executing "" at <lt>: error calling lt: incompatible types for comparison'),
    ("{{ lt true false }}", {}, 'template: :1:3: executing "" at <lt>: error calling lt: invalid type for comparison'),
    ("{{ index .L 5 }}", {"L": [1]}, 'template: :1:3: executing "" at <index>: error calling index: index out of range: 5'),
    ("{{ len 3 }}", {}, 'template: :1:3: executing "" at <len>: error calling len: len of type int'),
    ("{{ and }}", {}, 'template: :1:3: executing "" at <and>: wrong number of args for and: want at least 1 got 0'),
    ("{{ not 1 2 }}", {}, 'template: :1:3: executing "" at <not>: wrong number of args for not: want 1 got 2'),
    ('{{ template "nope" . }}', {}, 'template: :1:12: executing "" at <{{template "nope" .}}>: template "nope" not defined'),
    ("{{ .X 1 }}", {"X": "a"}, 'template: :1:3: executing "" at <.X>: X is not a method but has arguments'),
    ('{{ "a" 1 }}', {}, 'template: :1:3: executing "" at <"a">: can\'t give argument to non-function "a"'),
    ("{{ nil }}", {}, 'template: :1:3: executing "" at <nil>: nil is not a command'),
    ("{{ printf 3 }}", {}, 'template: :1:10: executing "" at <3>: expected string; found 3'),
    ("{{ printf .N }}", {"N": 3}, 'template: :1:10: executing "" at <.N>: wrong type for value; expected string; got int'),
    ("{{ range .S }}{{ end }}", {"S": 1.5}, 'template: :1:9: executing "" at <.S>: range can\'t iterate over 1.5'),
    ("\n  {{ slice .L 2 1 }}", {"L": [1, 2, 3]}, 'template: :2:5: executing "" at <slice>: error calling slice: invalid slice index: 2 > 1'),
]


@pytest.mark.parametrize(("source", "data", "message"), EXEC_ERRORS)
def test_execution_errors_carry_gos_message(source: str, data: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateExecError) as caught:
        Template.parse(source).execute(data)
    assert str(caught.value) == message


def test_exec_error_reports_line_and_byte_column() -> None:
    with pytest.raises(TemplateExecError) as caught:
        Template.parse("line one\né {{ .A.B }}").execute({})
    assert (caught.value.line, caught.value.col) == (2, 8)  # "é" is two bytes


def test_runaway_template_recursion_stops_with_an_error() -> None:
    template = Template.parse('{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}')
    with pytest.raises(TemplateExecError, match="exceeded maximum template depth"):
        template.execute({})


def test_execution_does_not_change_the_template() -> None:
    template = Template.parse("{{ $x := 1 }}{{ $x }}")
    assert template.execute({}) == template.execute({}) == "1"
