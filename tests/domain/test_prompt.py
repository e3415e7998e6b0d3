"""Prompt building as Ollama does it: collation, history vs. legacy turn-by-turn
rendering, think variables, image markers and truncation to ``num_ctx``.

The truncation cases are Ollama's own (``server/prompt_test.go``): its test template
and a tokenizer that counts whitespace-separated words.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.domain.chat import ChatMessage
from ollama_actors.domain.gotemplate import Template
from ollama_actors.domain.prompt import build_chat_prompt, build_generate_prompt, collate, think_values

LEGACY = Template.parse(
    "\n{{- if .System }}{{ .System }} {{ end }}\n{{- if .Prompt }}{{ .Prompt }} {{ end }}\n{{- if .Response }}{{ .Response }} {{ end }}"
)
HARRY = ChatMessage("user", "You're a test, Harry!")
WHAT = ChatMessage("assistant", "I-I'm a what?")
WAGER = ChatMessage("user", "A test. And a thumping good one at that, I'd wager.")
SYSTEM = ChatMessage("system", "You are the Test Who Lived.")


def words(text: str) -> int:
    return len(text.split())


def chat(messages: list[ChatMessage], limit: int, truncate: bool = True) -> str:
    return build_chat_prompt(LEGACY, messages, num_ctx=limit, count_tokens=words, truncate=truncate)


def test_whole_history_fits() -> None:
    assert chat([HARRY, WHAT, WAGER], 64) == "You're a test, Harry! I-I'm a what? A test. And a thumping good one at that, I'd wager. "


def test_truncation_keeps_the_last_message_even_when_it_alone_is_too_long() -> None:
    assert chat([HARRY, WHAT, WAGER], 1) == "A test. And a thumping good one at that, I'd wager. "


def test_without_truncate_the_limit_is_ignored() -> None:
    assert chat([HARRY, WHAT, WAGER], 10, truncate=False) == (
        "You're a test, Harry! I-I'm a what? A test. And a thumping good one at that, I'd wager. "
    )


def test_truncation_keeps_system_messages_from_the_dropped_part() -> None:
    template = Template.parse("{{ range .Messages }}[{{ .Role }}:{{ .Content }}]{{ end }}")
    history = [SYSTEM, HARRY, WHAT, WAGER]
    rendered = build_chat_prompt(template, history, num_ctx=14, count_tokens=words)
    assert rendered == "[system:You are the Test Who Lived.][user:A test. And a thumping good one at that, I'd wager.]"


def test_images_cost_tokens_and_are_marked_in_the_kept_messages() -> None:
    history = [HARRY, WHAT, ChatMessage("user", WAGER.content, images=(b"something",))]
    assert chat(history, 64) == "[img-0]A test. And a thumping good one at that, I'd wager. "


def test_image_numbering_starts_at_the_first_kept_message() -> None:
    history = [ChatMessage("user", HARRY.content, images=(b"one",)), WHAT, ChatMessage("user", WAGER.content, images=(b"two",))]
    assert chat(history, 64) == "[img-0]A test. And a thumping good one at that, I'd wager. "


def test_image_placeholder_is_replaced_in_place() -> None:
    history = [ChatMessage("user", HARRY.content + " [img]", images=(b"one",)), WHAT, ChatMessage("user", WAGER.content, images=(b"two",))]
    assert chat(history, 2048) == (
        "You're a test, Harry! [img-0] I-I'm a what? [img-1]A test. And a thumping good one at that, I'd wager. "
    )


def test_consecutive_messages_of_one_role_are_merged_with_a_blank_line() -> None:
    history = [HARRY, ChatMessage("user", images=(b"a",)), ChatMessage("user", images=(b"b",)), WHAT, WAGER]
    assert chat(history, 2048) == (
        "You're a test, Harry!\n\n[img-0]\n\n[img-1] I-I'm a what? A test. And a thumping good one at that, I'd wager. "
    )
    assert chat(history, 1024) == "[img-0] I-I'm a what? A test. And a thumping good one at that, I'd wager. "


def test_legacy_rendering_restarts_the_template_at_each_new_turn() -> None:
    assert chat([HARRY, WHAT, SYSTEM, WAGER], 2048) == (
        "You're a test, Harry! I-I'm a what? You are the Test Who Lived. A test. And a thumping good one at that, I'd wager. "
    )


def test_collate_merges_same_roles_except_tools_and_joins_system_contents() -> None:
    system, merged = collate(
        [SYSTEM, ChatMessage("system", "Be nice."), HARRY, ChatMessage("tool", "1"), ChatMessage("tool", "2")]
    )
    assert system == "You are the Test Who Lived.\n\nBe nice."
    assert [(m.role, m.content) for m in merged] == [
        ("system", "You are the Test Who Lived.\n\nBe nice."),
        ("user", HARRY.content),
        ("tool", "1"),
        ("tool", "2"),
    ]


def test_history_templates_see_system_messages_think_values_and_an_empty_response() -> None:
    template = Template.parse(
        "{{ .System }}|{{ len .Messages }}|{{ .Think }}|{{ .ThinkLevel }}|{{ .IsThinkSet }}|{{ .Response }}|{{ .Prompt }}"
    )
    assert build_chat_prompt(template, [SYSTEM, HARRY], think=True) == "You are the Test Who Lived.|2|true|medium|true||<no value>"
    assert build_chat_prompt(template, [HARRY], think_level="high") == "|1|true|high|true||<no value>"
    assert build_chat_prompt(template, [HARRY]) == "|1|false||false||<no value>"


@pytest.mark.parametrize(
    ("think", "level", "values"),
    [
        (None, None, {"Think": False, "ThinkLevel": "", "IsThinkSet": False}),
        (False, None, {"Think": False, "ThinkLevel": "", "IsThinkSet": True}),
        (True, None, {"Think": True, "ThinkLevel": "medium", "IsThinkSet": True}),
        (None, "low", {"Think": True, "ThinkLevel": "low", "IsThinkSet": True}),
    ],
)
def test_think_values(think: bool | None, level: str | None, values: dict[str, object]) -> None:
    assert think_values(think, level) == values


def test_generate_builds_system_plus_prompt_and_executes_it_directly() -> None:
    """A request ``template`` runs on ``[system, user]`` as is: no tools (``null``), no markers."""
    template = Template.parse("{{ range .Messages }}<{{ .Role }}>{{ .Content }}{{ end }}|{{ .Tools }}")
    rendered = build_generate_prompt(template, prompt="hi", system="sys", images=(b"png",))
    assert rendered == "<system>sys<user>hi|null"


def test_generate_through_the_chat_path_truncates_and_marks_images() -> None:
    template = Template.parse("{{ range .Messages }}<{{ .Role }}>{{ .Content }}{{ end }}|{{ .Tools }}")
    model_messages = [ChatMessage("user", "one two three"), ChatMessage("assistant", "four five")]
    rendered = build_generate_prompt(
        template,
        prompt="six",
        system="sys",
        messages=model_messages,
        images=(b"png",),
        direct=False,
        num_ctx=2,
        count_tokens=words,
        image_tokens=0,
    )
    assert rendered == "<system>sys<assistant>four five<user>[img-0]six|[]"


def test_generate_with_suffix_but_no_prompt_renders_an_empty_history() -> None:
    template = Template.parse("{{ if .Suffix }}FIM{{ else }}plain:{{ .Prompt }}{{ end }}")
    assert build_generate_prompt(template, prompt="", suffix="tail") == "plain:"


def test_template_errors_surface_as_go_errors() -> None:
    from ollama_actors.domain.gotemplate import TemplateExecError

    with pytest.raises(TemplateExecError, match="can't evaluate field Nope"):
        build_chat_prompt(Template.parse("{{ range .Messages }}{{ .Nope }}{{ end }}"), [HARRY])


@given(st.lists(st.sampled_from([HARRY, WHAT, WAGER, SYSTEM]), min_size=1, max_size=8), st.integers(0, 60))
def test_truncation_fits_or_keeps_only_system_messages_and_the_last_one(history: list[ChatMessage], limit: int) -> None:
    template = Template.parse("{{ range .Messages }}[{{ .Role }}:{{ .Content }}]{{ end }}")
    rendered = build_chat_prompt(template, history, num_ctx=limit, count_tokens=words)
    assert rendered.endswith(history[-1].content + "]")
    if SYSTEM in history:
        assert SYSTEM.content in rendered
    if words(rendered) > limit:
        systems = [m for m in history[:-1] if m.role == "system"]
        assert rendered == build_chat_prompt(template, [*systems, history[-1]])
