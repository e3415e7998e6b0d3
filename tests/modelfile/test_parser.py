"""Modelfile parsing, writing and parameter typing, with Ollama's rules and words."""

from __future__ import annotations

import codecs
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import ollama_actors.modelfile.domain as domain
from ollama_actors.domain.errors import BadRequestError
from ollama_actors.modelfile.domain import (
    COMMANDS,
    MESSAGE_ROLES,
    DeprecatedParameterError,
    Instruction,
    Modelfile,
    ModelfileError,
    format_modelfile,
    parameter_value,
    parameter_warnings,
    parameters_dict,
    parse_modelfile,
)

INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'


def test_package_all_is_sorted_and_every_name_exists() -> None:
    assert domain.__all__ == sorted(domain.__all__)
    assert all(hasattr(domain, name) for name in domain.__all__)


def test_parser_module_offers_the_whole_parse_then_type_api() -> None:
    from ollama_actors.modelfile.domain.parser import parameters_dict as via_parser

    assert via_parser is parameters_dict


def test_every_instruction_is_recognised_case_insensitively() -> None:
    text = """FROM llama3.2
adapter ./lora.gguf
License MIT
Template {{ .Prompt }}
system You are helpful.
PARAMETER temperature 0.7
Parameter Stop <|eot_id|>
MESSAGE user Is Toronto in Canada?
message assistant yes
DRAFT ./draft.gguf
RENDERER qwen3-coder
PARSER qwen3-coder
REQUIRES 0.14.0
"""
    assert parse_modelfile(text).instructions == (
        Instruction("from", "llama3.2"),
        Instruction("adapter", "./lora.gguf"),
        Instruction("license", "MIT"),
        Instruction("template", "{{ .Prompt }}"),
        Instruction("system", "You are helpful."),
        Instruction("parameter", "0.7", "temperature"),
        Instruction("parameter", "<|eot_id|>", "Stop"),
        Instruction("message", "Is Toronto in Canada?", "user"),
        Instruction("message", "yes", "assistant"),
        Instruction("draft", "./draft.gguf"),
        Instruction("renderer", "qwen3-coder"),
        Instruction("parser", "qwen3-coder"),
        Instruction("requires", "0.14.0"),
    )


def test_instructions_record_the_line_they_start_on() -> None:
    parsed = parse_modelfile('# header\n\nFROM x\nSYSTEM """a\nb"""\n  PARAMETER seed 1\n')
    assert [i.line for i in parsed.instructions] == [3, 4, 6]


def test_comments_blank_lines_and_indentation_are_skipped_but_hash_in_values_is_literal() -> None:
    parsed = parse_modelfile("  # a comment\n\n\t FROM x # not a comment\n#SYSTEM no\n")
    assert parsed.instructions == (Instruction("from", "x # not a comment"),)


QUOTING = [
    ('SYSTEM "quoted value"', "quoted value"),
    ('SYSTEM   "  spaced  "  ', "  spaced  "),
    ('SYSTEM """He said "hi"."""', 'He said "hi".'),
    ('SYSTEM """\nfirst\n  second\n"""', "\nfirst\n  second\n"),
    ('SYSTEM "two\nlines"', "two\nlines"),
    ("SYSTEM 'single quotes stay'", "'single quotes stay'"),
    ('SYSTEM no \\n escapes \\"here\\"', 'no \\n escapes \\"here\\"'),
    ('SYSTEM ""', ""),
    ("SYSTEM    padded value   ", "padded value"),
    ("SYSTEM tab\tinside", "tab\tinside"),
    ("SYSTEM bell\x07 dropped", "bell dropped"),
]


@pytest.mark.parametrize(("line", "value"), QUOTING)
def test_values_are_trimmed_and_unquoted_without_escape_processing(line: str, value: str) -> None:
    parsed = parse_modelfile(f"FROM x\n{line}\n")
    assert parsed.instructions[1] == Instruction("system", value)


def test_a_value_may_end_the_file_without_a_newline() -> None:
    assert parse_modelfile("FROM x\nSYSTEM last").instructions[-1] == Instruction("system", "last")


def test_carriage_returns_end_lines() -> None:
    parsed = parse_modelfile("FROM x\r\nSYSTEM a\r\nPARAMETER seed 4\r\n")
    assert parsed.instructions == (Instruction("from", "x"), Instruction("system", "a"), Instruction("parameter", "4", "seed"))


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + "FROM x\nSYSTEM héllo\n".encode(),
        codecs.BOM_UTF16_LE + "FROM x\nSYSTEM héllo\n".encode("utf-16-le"),
        codecs.BOM_UTF16_BE + "FROM x\nSYSTEM héllo\n".encode("utf-16-be"),
    ],
)
def test_byte_order_marks_choose_the_encoding(data: bytes) -> None:
    assert parse_modelfile(data).instructions[1] == Instruction("system", "héllo")


def test_a_bom_at_the_start_of_text_is_ignored() -> None:
    assert parse_modelfile("\ufeffFROM x\n").instructions == (Instruction("from", "x"),)


ERRORS = [
    # text, message (Ollama's words behind the position), line, column (1-based)
    ("FROM x\nFOO bar\n", f"(line 2, column 1): {INVALID_COMMAND}", 2, 1),
    ("FROM1 x\n", f"(line 1, column 1): {INVALID_COMMAND}", 1, 1),
    ("FROM x\n  system hi\n\tfoo bar\n", f"(line 3, column 2): {INVALID_COMMAND}", 3, 2),
    ("FROM x\n\nSYSTEM\n", f"(line 3, column 1): {INVALID_COMMAND}", 3, 1),
    ("FROM x\nMESSAGE bot hi\n", f"(line 2, column 9): {INVALID_ROLE}", 2, 9),
    ("FROM x\nMESSAGE User hi\n", f"(line 2, column 9): {INVALID_ROLE}", 2, 9),
    ("FROM x\nMESSAGE  user hi\n", f"(line 2, column 9): {INVALID_ROLE}", 2, 9),
    ("FROM x\nPARAMETER temperature\n", "(line 2, column 22): unexpected EOF: temperature", 2, 22),
    ("FROM x\nPARAMETER temperature", "(line 2, column 22): unexpected EOF", 2, 22),
    ("FROM x\nPARAMETER top-k 1\n", "(line 2, column 14): unexpected EOF: top", 2, 14),
    ("FROM x\nMESSAGE system\n", "(line 2, column 15): unexpected EOF: system", 2, 15),
    ('FROM x\nSYSTEM """never closed\n', "(line 2, column 8): unexpected EOF", 2, 8),
    ('FROM x\nSYSTEM "half" closed\n', "(line 2, column 8): unexpected EOF", 2, 8),
    ("FROM", "(line 1, column 5): unexpected EOF", 1, 5),
    ("SYSTEM only\n", "no FROM line", None, None),
    ("", "no FROM line", None, None),
]


@pytest.mark.parametrize(("text", "message", "line", "column"), ERRORS)
def test_errors_use_ollamas_words_with_line_and_column(text: str, message: str, line: int | None, column: int | None) -> None:
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile(text)
    assert str(caught.value) == message
    assert (caught.value.line, caught.value.column) == (line, column)
    assert isinstance(caught.value, BadRequestError)


REAL_MODELFILE = '''# a chat model
FROM ./model.gguf
PARAMETER temperature 0.7
TEMPLATE """{{ if .System }}<|system|>
{{ .System }}{{ end }}<|user|>
{{ .Prompt }}<|assistant|>
"""
SYSTEM You are terse.
'''


@pytest.mark.parametrize(
    ("appended", "message"),
    [
        ("STOP <|end|>\n", f"(line 9, column 1): {INVALID_COMMAND}"),
        ("PARAMETER num_ctx\n", "(line 9, column 18): unexpected EOF: num_ctx"),
        ('LICENSE """MIT\n\nCopyright\n', "(line 9, column 9): unexpected EOF"),
    ],
    ids=["unknown-instruction", "missing-value", "unterminated-triple-quote"],
)
def test_an_error_after_a_multi_line_template_names_its_own_line(appended: str, message: str) -> None:
    """Line 9 is the first line after the eight of ``REAL_MODELFILE``, whose
    TEMPLATE value spans four of them."""
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile(REAL_MODELFILE + appended)
    assert str(caught.value) == message
    assert caught.value.line == 9


def test_crlf_is_one_line_break_though_ollama_counts_two() -> None:
    """Ollama would say ``(line 3)`` here; an editor shows ``FOO`` on line 2."""
    with pytest.raises(ModelfileError, match=r"^\(line 2, column 1\): command must be one of"):
        parse_modelfile("FROM x\r\nFOO y\r\n")
    parsed = parse_modelfile('FROM x\r\nSYSTEM """a\r\nb"""\r\nLICENSE MIT\r\n')
    assert [i.line for i in parsed.instructions] == [1, 2, 4]


def test_a_lone_carriage_return_still_ends_a_line() -> None:
    with pytest.raises(ModelfileError, match=r"^\(line 2, column 1\)"):
        parse_modelfile("FROM x\rFOO y\r")


def test_fragments_parse_without_from_when_asked() -> None:
    assert parse_modelfile("SYSTEM hi\n", require_from=False).instructions == (Instruction("system", "hi"),)


# -- writing ------------------------------------------------------------------------------
def test_format_uses_ollamas_quoting_rule() -> None:
    modelfile = Modelfile(
        (
            Instruction("from", "/models/blobs/sha256-abc"),
            Instruction("template", "{{ .System }}\n{{ .Prompt }}"),
            Instruction("system", 'Say "hi"\nplease'),
            Instruction("parameter", "<|eot_id|>", "stop"),
            Instruction("parameter", " padded", "stop"),
            Instruction("message", "yes", "assistant"),
            Instruction("license", "MIT"),
        )
    )
    assert format_modelfile(modelfile) == (
        "FROM /models/blobs/sha256-abc\n"
        'TEMPLATE "{{ .System }}\n{{ .Prompt }}"\n'
        'SYSTEM """Say "hi"\nplease"""\n'
        "PARAMETER stop <|eot_id|>\n"
        'PARAMETER stop " padded"\n'
        "MESSAGE assistant yes\n"
        "LICENSE MIT\n"
    )


def test_format_quotes_values_ollamas_rule_would_lose() -> None:
    """Bare ``"x`` or a trailing tab would not read back, so they are quoted."""
    modelfile = Modelfile((Instruction("from", "x"), Instruction("system", '"x'), Instruction("system", "tab\t")))
    assert format_modelfile(modelfile) == 'FROM x\nSYSTEM ""x"\nSYSTEM "tab\t"\n'


def test_format_refuses_values_no_modelfile_can_hold() -> None:
    with pytest.raises(ModelfileError):
        format_modelfile(Modelfile((Instruction("system", "bell\x07"),)))
    with pytest.raises(ModelfileError):
        format_modelfile(Modelfile((Instruction("message", "hi", "bot"),)))


_VALUE_CHARS = st.one_of(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")),
    st.sampled_from(' \t\n\r"#'),
)
_VALUES = st.text(_VALUE_CHARS, max_size=30)


@st.composite
def instructions(draw: st.DrawFn) -> Instruction:
    name = draw(st.sampled_from(COMMANDS))
    key = None
    if name == "parameter":
        key = draw(st.from_regex(r"[A-Za-z0-9_]*", fullmatch=True))
    elif name == "message":
        key = draw(st.sampled_from(MESSAGE_ROLES))
    return Instruction(name, draw(_VALUES), key)


@given(st.lists(instructions(), max_size=8), st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1))
def test_parse_of_format_gives_back_the_same_modelfile(rest: list[Instruction], source: str) -> None:
    modelfile = Modelfile((Instruction("from", source), *rest))
    try:
        text = format_modelfile(modelfile)
    except ModelfileError:
        assume(False)
    assert parse_modelfile(text) == modelfile


@given(st.lists(instructions(), max_size=8))
def test_values_without_double_quotes_can_always_be_written(rest: list[Instruction]) -> None:
    rest = [Instruction(i.name, i.value.replace('"', "'"), i.key) for i in rest]
    modelfile = Modelfile((Instruction("from", "x"), *rest))
    assert parse_modelfile(format_modelfile(modelfile)) == modelfile


# -- parameters -------------------------------------------------------------------------------
TYPED = [
    ("temperature", "0.7", 0.7),
    ("temperature", "1", 1.0),
    ("top_p", "9e-1", 0.9),
    ("num_ctx", "4096", 4096),
    ("seed", "-1", -1),
    ("use_mmap", "false", False),
    ("use_mmap", "T", True),
    ("main_gpu", "0", 0),
    ("stop", "<|eot_id|>", "<|eot_id|>"),
]


@pytest.mark.parametrize(("key", "raw", "value"), TYPED)
def test_parameters_are_typed_like_ollamas_options(key: str, raw: str, value: object) -> None:
    typed = parameter_value(key, raw)
    assert typed == value and type(typed) is type(value)


BAD_PARAMETERS = [
    ("Temperature", "1", "unknown parameter 'Temperature'"),
    ("tfs_z", "1", "unknown parameter 'tfs_z'"),
    ("num_ctx", "4k", "invalid int value [4k]"),
    ("num_ctx", "1.5", "invalid int value [1.5]"),
    ("num_ctx", "1_000", "invalid int value [1_000]"),
    ("temperature", "warm", "invalid float value [warm]"),
    ("temperature", "1e39", "invalid float value [1e39]"),
    ("use_mmap", "yes", "invalid bool value [yes]"),
]


@pytest.mark.parametrize(("key", "raw", "message"), BAD_PARAMETERS)
def test_bad_parameters_fail_with_ollamas_words(key: str, raw: str, message: str) -> None:
    with pytest.raises(ModelfileError, match=f"^{re.escape(message)}$"):
        parameter_value(key, raw)


def test_deprecated_parameters_are_dropped_with_a_warning() -> None:
    parsed = parse_modelfile("FROM x\nPARAMETER mirostat 1\nPARAMETER temperature 0.5\nPARAMETER use_mlock true\n")
    assert parameters_dict(parsed.instructions) == {"temperature": 0.5}
    assert parameter_warnings(parsed.instructions) == (
        "warning: parameter mirostat is deprecated",
        "warning: parameter use_mlock is deprecated",
    )
    with pytest.raises(DeprecatedParameterError):
        parameter_value("mirostat", "1")


def test_repeated_stop_accumulates_and_other_parameters_take_the_last_value() -> None:
    parsed = parse_modelfile(
        'FROM llama3.2\nPARAMETER temperature 1\nPARAMETER num_ctx 4096\nPARAMETER stop "<|eot_id|>"\n'
        "PARAMETER stop User:\nPARAMETER temperature 0.2\n"
    )
    assert parameters_dict(parsed.instructions) == {"temperature": 0.2, "num_ctx": 4096, "stop": ["<|eot_id|>", "User:"]}


def test_parameters_dict_reports_the_first_bad_parameter() -> None:
    parsed = parse_modelfile("FROM x\nPARAMETER num_ctx big\n")
    with pytest.raises(ModelfileError, match=r"^invalid int value \[big\]$"):
        parameters_dict(parsed.instructions)
