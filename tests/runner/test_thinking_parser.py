"""The thinking parser: Ollama's ``thinking.Parser`` cases, streamed and whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.runner.domain.thinking_parser import ThinkingParser

OPEN, CLOSE = "<think>", "</think>"


def feed(pieces: list[str], parser: ThinkingParser | None = None) -> tuple[list[tuple[str, str]], ThinkingParser]:
    parser = parser or ThinkingParser(OPEN, CLOSE)
    out = []
    for piece in pieces:
        parser, thinking, content = parser.add(piece)
        out.append((thinking, content))
    return out, parser


@pytest.mark.parametrize(
    ("text", "thinking", "content"),
    [
        ("<think> internal </think> world", "internal ", "world"),
        ("<think>a</think><think>b</think>c", "a", "<think>b</think>c"),
        ("no think", "", "no think"),
        ("  \n<think>\n\nplan\n</think>\n\n answer", "plan\n", "answer"),
        ("  abc <think>def</think> ghi", "", "  abc <think>def</think> ghi"),
    ],
)
def test_whole_output_is_split_at_the_tags(text: str, thinking: str, content: str) -> None:
    [(got_thinking, got_content)], _ = feed([text])
    assert (got_thinking, got_content) == (thinking, content)


@pytest.mark.parametrize(
    ("pieces", "expected", "done"),
    [
        # content without a tag, then more content: nothing is emitted twice
        (["  abc", "def"], [("", "  abc"), ("", "def")], True),
        # a partial opening tag waits
        (["  <th", "in", "k>a"], [("", ""), ("", ""), ("a", "")], False),
        # a partial closing tag waits, then resolves
        (["<think>abc</th", "ink>def"], [("abc", ""), ("", "def")], True),
        # a closing-tag fake-out goes back to thinking
        (
            ["<think>abc</th", "ing>def", "ghi</thi", "nk>jkl"],
            [("abc", ""), ("</thing>def", ""), ("ghi", ""), ("", "jkl")],
            True,
        ),
        # whitespace after the opening and after the closing tag is eaten across chunks
        (["<think>", "  ", "\nx", "</think>", " \n", " y"], [("", ""), ("", ""), ("x", ""), ("", ""), ("", ""), ("", "y")], True),
    ],
)
def test_streamed_pieces_are_held_back_until_the_tags_are_clear(
    pieces: list[str], expected: list[tuple[str, str]], done: bool
) -> None:
    out, parser = feed(pieces)
    assert out == expected
    assert parser.thinking_done is done


def test_a_prompt_that_ends_with_the_opening_tag_starts_inside_thinking() -> None:
    parser, _, _ = ThinkingParser(OPEN, CLOSE).add(OPEN)
    out, _ = feed(["the model thinks", "</think>then answers"], parser)
    assert out == [("the model thinks", ""), ("", "then answers")]


def test_other_tags_from_the_template_are_used() -> None:
    out, _ = feed(["<|begin_of_thought|>hm<|end_of_thought|>ok"], ThinkingParser("<|begin_of_thought|>", "<|end_of_thought|>"))
    assert out == [("hm", "ok")]


_PIECES = st.lists(st.sampled_from(["<think>", "</think>", "<th", "ink>", "</", " ", "\n", "a", "b", "<", ">"]), max_size=12)


@given(_PIECES, st.data())
def test_how_the_output_is_chunked_does_not_change_the_result(pieces: list[str], data: st.DataObject) -> None:
    text = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    chunks = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)])]
    whole, whole_parser = feed([text])
    split, split_parser = feed(chunks)
    assert "".join(t for t, _ in split) == whole[0][0]
    assert "".join(c for _, c in split) == whole[0][1]
    assert split_parser.thinking_done == whole_parser.thinking_done
