"""Ollama's CLI output formats, byte for byte (reference §2.4 and Ollama's own cmd tests)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ollama_actors.cli import render

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).isoformat()


def ahead(**kw: float) -> str:
    return (NOW + timedelta(**kw)).isoformat()


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (999, "999 B"),
        (1000, "1 KB"),
        (1024, "1.0 KB"),
        (1500, "1.5 KB"),
        (999_999, "999 KB"),
        (1_000_000, "1 MB"),
        (1_500_000, "1.5 MB"),
        (999_999_999, "999 MB"),
        (1_000_000_000, "1 GB"),
        (1_500_000_000, "1.5 GB"),
        (2_019_393_189, "2.0 GB"),
        (4_661_211_424, "4.7 GB"),
        (4_700_000_000, "4.7 GB"),
        (42_000_000_000, "42 GB"),
        (999_999_999_999, "999 GB"),
        (1_000_000_000_000, "1 TB"),
        (1_999_999_999_999, "2.0 TB"),
        (1234, "1.2 KB"),
        (1_234_567, "1.2 MB"),
        (1_234_567_890, "1.2 GB"),
    ],
)
def test_human_bytes_uses_decimal_units_and_ollamas_truncation(size: int, text: str) -> None:
    assert render.human_bytes(size) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (7_000_000_000, "7B"),
        (3_212_749_888, "3.2B"),
        (133_700_000, "133.70M"),
        (22_710_000, "22.71M"),
        (137_000_000, "137M"),
        (500_000, "500K"),
        (999, "999"),
    ],
)
def test_human_number_formats_parameter_counts(count: int, text: str) -> None:
    assert render.human_number(count) == text


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (NOW - timedelta(milliseconds=300), "Less than a second ago"),
        (NOW - timedelta(seconds=1), "1 second ago"),
        (NOW - timedelta(seconds=42), "42 seconds ago"),
        (NOW - timedelta(seconds=90), "About a minute ago"),
        (NOW + timedelta(minutes=4, seconds=30), "4 minutes from now"),
        (NOW - timedelta(minutes=59), "59 minutes ago"),
        (NOW - timedelta(minutes=70), "About an hour ago"),
        (NOW - timedelta(hours=24), "24 hours ago"),
        (NOW - timedelta(hours=48), "2 days ago"),
        (NOW + timedelta(hours=48), "2 days from now"),
        (NOW + timedelta(milliseconds=800), "Less than a second from now"),
        (NOW - timedelta(days=15), "2 weeks ago"),
        (NOW - timedelta(days=100), "3 months ago"),
        (NOW - timedelta(days=800), "2 years ago"),
        (NOW + timedelta(days=365 * 200), "Forever"),
        (None, "Never"),
    ],
)
def test_human_time_is_relative_like_ollama(moment: datetime | None, text: str) -> None:
    assert render.human_time(moment, NOW) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-05-04T17:37:44.706015396-07:00", datetime(2025, 5, 5, 0, 37, 44, 706015, tzinfo=timezone.utc)),
        ("2024-06-04T14:38:31Z", datetime(2024, 6, 4, 14, 38, 31, tzinfo=timezone.utc)),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        (None, None),
    ],
)
def test_timestamps_parse_with_nanoseconds_and_go_zero_time(text: Any, expected: datetime | None) -> None:
    assert render.parse_timestamp(text) == expected


@pytest.mark.parametrize(
    ("size", "vram", "text"),
    [
        (100, 100, "100% GPU"),
        (100, 0, "100% CPU"),
        (100, 52, "48%/52% CPU/GPU"),
        (1000, 995, "1%/99% CPU/GPU"),
        (100, 150, "Unknown"),
    ],
)
def test_processor_column_splits_memory_between_cpu_and_gpu(size: int, vram: int, text: str) -> None:
    assert render.processor(size, vram) == text


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (999, "999ns"),
        (1_500, "1.5µs"),
        (5_200_000, "5.2ms"),
        (12_000_000, "12ms"),
        (1_234_567_891, "1.234567891s"),
        (2_000_000_000, "2s"),
        (62_500_000_000, "1m2.5s"),
        (3_605_000_000_000, "1h0m5s"),
        (-1_500_000_000, "-1.5s"),
    ],
)
def test_go_duration_matches_time_duration_string(ns: int, text: str) -> None:
    assert render.go_duration(ns) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8e9, "8e+09"),
        (1000.0, "1000"),
        (11434, "11434"),
        (131072, "131072"),
        (1_000_000, "1e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (3.14, "3.14"),
        (1_234_567, "1.234567e+06"),
        (0, "0"),
    ],
)
def test_go_float_g_matches_go_percent_g(value: float, text: str) -> None:
    assert render.go_float_g(value) == text


def test_list_table_matches_ollamas_list_handler_test() -> None:
    models = [
        {"name": "model1", "digest": "sha256:abc123", "size": 1024, "modified_at": ago(hours=24)},
        {"name": "model2", "digest": "sha256:def456", "size": 2048, "modified_at": ago(hours=48)},
    ]
    assert render.render_list(models, NOW) == (
        "NAME      ID              SIZE      MODIFIED     \n"
        "model1    sha256:abc12    1.0 KB    24 hours ago    \n"
        "model2    sha256:def45    2.0 KB    2 days ago      \n"
    )


def test_list_filters_by_case_insensitive_prefix() -> None:
    models = [
        {"name": "Model1", "digest": "a" * 64, "size": 1024, "modified_at": ago(hours=24)},
        {"name": "other", "digest": "b" * 64, "size": 1024, "modified_at": ago(hours=24)},
    ]
    assert "other" not in render.render_list(models, NOW, "mod")
    assert "Model1" in render.render_list(models, NOW, "mod")


def test_list_reference_example() -> None:
    models = [
        {
            "name": "llama3.2:latest",
            "digest": "a80c4f17acd5" + "0" * 52,
            "size": 2_019_393_189,
            "modified_at": ago(days=15),
        }
    ]
    lines = render.render_list(models, NOW).splitlines()
    assert [line.rstrip() for line in lines] == [
        "NAME               ID              SIZE      MODIFIED",
        "llama3.2:latest    a80c4f17acd5    2.0 GB    2 weeks ago",
    ]


def test_list_of_no_models_is_just_the_header() -> None:
    assert render.render_list([], NOW) == "NAME    ID    SIZE    MODIFIED \n"


def test_list_shows_dash_for_remote_models_and_never_for_zero_time() -> None:
    models = [
        {"name": "m:cloud", "digest": "c" * 64, "size": 0, "remote_model": "m", "modified_at": "0001-01-01T00:00:00Z"}
    ]
    assert render.render_list(models, NOW).splitlines()[1].split() == ["m:cloud", "c" * 12, "-", "Never"]


def test_ps_reference_example() -> None:
    models = [
        {
            "name": "llama3:70b",
            "digest": "bcfb190ca3a7" + "1" * 52,
            "size": 42_000_000_000,
            "size_vram": 21_840_000_000,
            "context_length": 4096,
            "expires_at": ahead(minutes=4, seconds=30),
        }
    ]
    lines = render.render_ps(models, NOW).splitlines()
    assert [line.rstrip() for line in lines] == [
        "NAME          ID              SIZE     PROCESSOR          CONTEXT    UNTIL",
        "llama3:70b    bcfb190ca3a7    42 GB    48%/52% CPU/GPU    4096       4 minutes from now",
    ]


@pytest.mark.parametrize(
    ("expires_at", "until"),
    [
        (ahead(days=365 * 290), "Forever"),
        (ago(seconds=3), "Stopping..."),
        (None, "Stopping..."),
        ("2318-01-01T00:00:00Z", "Forever"),
    ],
)
def test_ps_until_column(expires_at: str | None, until: str) -> None:
    models = [{"name": "m:latest", "digest": "d" * 64, "size": 10, "size_vram": 10, "expires_at": expires_at}]
    assert render.render_ps(models, NOW).splitlines()[1].rstrip().endswith(until)


def test_ps_filter_is_case_sensitive() -> None:
    models = [{"name": "Mistral:latest", "digest": "d" * 64, "size": 10, "expires_at": ahead(minutes=5)}]
    assert len(render.render_ps(models, NOW, "mistral").splitlines()) == 1


DETAILS = {"family": "test", "parameter_size": "7B", "quantization_level": "FP16"}

SHOW_CASES = [
    (
        {"details": DETAILS},
        False,
        "  Model\n    architecture    test    \n    parameters      7B      \n    quantization    FP16    \n\n",
    ),
    (
        {
            "details": DETAILS,
            "model_info": {
                "general.architecture": "test",
                "general.parameter_count": 7e9,
                "test.context_length": 0,
                "test.embedding_length": 0,
            },
        },
        False,
        "  Model\n"
        "    architecture        test    \n"
        "    parameters          7B      \n"
        "    context length      0       \n"
        "    embedding length    0       \n"
        "    quantization        FP16    \n\n",
    ),
    (
        {
            "details": {**DETAILS, "parameter_size": "8B"},
            "parameters": "\n\t\t\tstop up",
            "model_info": {
                "general.architecture": "test",
                "general.parameter_count": 8e9,
                "some.true_bool": True,
                "some.false_bool": False,
                "test.context_length": 1000,
                "test.embedding_length": 11434,
            },
            "tensors": [
                {"name": "blk.0.attn_k.weight", "type": "BF16", "shape": [42, 3117]},
                {"name": "blk.0.attn_q.weight", "type": "FP16", "shape": [3117, 42]},
            ],
        },
        True,
        "  Model\n"
        "    architecture        test     \n"
        "    parameters          8B       \n"
        "    context length      1000     \n"
        "    embedding length    11434    \n"
        "    quantization        FP16     \n\n"
        "  Parameters\n    stop    up    \n\n"
        "  Metadata\n"
        "    general.architecture       test     \n"
        "    general.parameter_count    8e+09    \n"
        "    some.false_bool            false    \n"
        "    some.true_bool             true     \n"
        "    test.context_length        1000     \n"
        "    test.embedding_length      11434    \n\n"
        "  Tensors\n"
        "    blk.0.attn_k.weight    BF16    [42 3117]    \n"
        "    blk.0.attn_q.weight    FP16    [3117 42]    \n\n",
    ),
    (
        {
            "details": DETAILS,
            "parameters": "\n\t\t\tstop never\n\t\t\tstop gonna\n\t\t\tstop give\n"
            "\t\t\tstop you\n\t\t\tstop up\n\t\t\ttemperature 99",
        },
        False,
        "  Model\n    architecture    test    \n    parameters      7B      \n    quantization    FP16    \n\n"
        "  Parameters\n"
        "    stop           never    \n"
        "    stop           gonna    \n"
        "    stop           give     \n"
        "    stop           you      \n"
        "    stop           up       \n"
        "    temperature    99       \n\n",
    ),
    (
        {
            "details": DETAILS,
            "projector_info": {
                "general.architecture": "clip",
                "general.parameter_count": 133_700_000,
                "clip.vision.embedding_length": 0,
                "clip.vision.projection_dim": 0,
            },
        },
        False,
        "  Model\n    architecture    test    \n    parameters      7B      \n    quantization    FP16    \n\n"
        "  Projector\n"
        "    architecture        clip       \n"
        "    parameters          133.70M    \n"
        "    embedding length    0          \n"
        "    dimensions          0          \n\n",
    ),
    (
        {"details": DETAILS, "system": "You are a pirate!\nAhoy, matey!\nWeigh anchor!\n\t\t\t"},
        False,
        "  Model\n    architecture    test    \n    parameters      7B      \n    quantization    FP16    \n\n"
        "  System\n    You are a pirate!    \n    Ahoy, matey!         \n    ...                  \n\n",
    ),
    (
        {"details": DETAILS, "license": "MIT License\nCopyright (c) Ollama\n"},
        False,
        "  Model\n    architecture    test    \n    parameters      7B      \n    quantization    FP16    \n\n"
        "  License\n    MIT License             \n    Copyright (c) Ollama    \n\n",
    ),
    (
        {"details": DETAILS, "capabilities": ["vision", "tools"]},
        False,
        "  Model\n    architecture    test    \n    parameters      7B      \n    quantization    FP16    \n\n"
        "  Capabilities\n    vision    \n    tools     \n\n",
    ),
    (
        {
            "details": {"family": "ZImagePipeline", "parameter_size": "10.3B", "quantization_level": "Q8"},
            "capabilities": ["image"],
            "requires": "0.19.0",
        },
        False,
        "  Model\n"
        "    architecture    ZImagePipeline    \n"
        "    parameters      10.3B             \n"
        "    quantization    Q8                \n"
        "    requires        0.19.0            \n\n"
        "  Capabilities\n    image    \n\n",
    ),
]


@pytest.mark.parametrize(("resp", "verbose", "text"), SHOW_CASES)
def test_show_info_matches_ollamas_show_info_tests(resp: dict[str, Any], verbose: bool, text: str) -> None:
    assert render.render_show(resp, verbose) == text


def test_show_with_empty_model_info_has_no_architecture_row() -> None:
    out = render.render_show({"details": DETAILS, "model_info": {}})
    assert out == "  Model\n    parameters      7B      \n    quantization    FP16    \n\n"


def test_show_metadata_abbreviates_long_arrays() -> None:
    resp = {"details": DETAILS, "model_info": {"tokenizer.ggml.tokens": ["<s>", "</s>", "a", "b", "c", "d"]}}
    assert "    tokenizer.ggml.tokens    [<s> </s> ...+4 more]    \n" in render.render_show(resp, True)


def test_long_license_lines_wrap_at_100_columns_with_tablewriters_padding() -> None:
    line = " ".join(["word"] * 30)  # 149 columns
    out = render.render_show({"details": DETAILS, "license": line})
    block = out.split("  License\n")[1].splitlines()
    assert block[0].startswith("    word") and block[1].startswith("      word")  # "  " filler in the empty column
    assert all(len(row.strip()) <= 100 for row in block if row.strip())


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("license", "MIT\n"),
        ("modelfile", "FROM x\n"),
        ("parameters", 'stop "a"\n'),
        ("system", "be nice"),
        ("template", "{{ .Prompt }}"),
    ],
)
def test_show_fields_print_raw_values(field: str, text: str) -> None:
    resp = {
        "license": "MIT",
        "modelfile": "FROM x",
        "parameters": 'stop "a"',
        "system": "be nice",
        "template": "{{ .Prompt }}",
    }
    assert render.render_show_field(resp, field) == text


def test_wrap_words_minimises_raggedness_not_greedy() -> None:
    assert render.wrap_words(["aaa", "bb", "cc", "ddddd"], 6) == [["aaa"], ["bb", "cc"], ["ddddd"]]


def test_wrap_words_keeps_a_short_text_on_one_line_and_splits_each_word_when_narrow() -> None:
    words = "The quick brown fox jumps over the lazy dog.".split(" ")
    assert render.wrap_words(words, 500) == [words]
    assert len(render.wrap_words(words, 6)) == 9


def test_metrics_summary_matches_ollamas_lines() -> None:
    final = {
        "total_duration": 5_043_500_667,
        "load_duration": 5_025_959,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 325_953_000,
        "eval_count": 290,
        "eval_duration": 4_709_213_000,
    }
    assert render.render_metrics(final) == (
        "total duration:       5.043500667s\n"
        "load duration:        5.025959ms\n"
        "prompt eval count:    26 token(s)\n"
        "prompt eval duration: 325.953ms\n"
        "prompt eval rate:     79.77 tokens/s\n"
        "eval count:           290 token(s)\n"
        "eval duration:        4.709213s\n"
        "eval rate:            61.58 tokens/s\n"
    )


def test_metrics_skip_absent_values() -> None:
    assert render.render_metrics({"total_duration": 1_000_000_000, "eval_count": 3}) == (
        "total duration:       1s\neval count:           3 token(s)\n"
    )


def test_thinking_markers_are_plain_in_a_pipe() -> None:
    assert render.thinking_open(True) == "Thinking...\n"
    assert render.thinking_close(True) == "...done thinking.\n\n"
    assert render.thinking_open(False).startswith("\x1b[38;5;245m")


def test_tool_calls_are_reported_as_non_existent_functions() -> None:
    calls = [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    assert render.tool_calls_text(calls, True) == (
        '  Model called a non-existent function \'get_weather()\' with arguments: {"city":"Paris"}'
    )


def test_wrap_stream_moves_a_word_that_crosses_the_margin_to_the_next_line() -> None:
    state, out = render.wrap_stream(render.WrapState(), "aaaa bbbb cccc", 16)
    assert out == "aaaa bbbb c\x1b[1D\x1b[K\ncccc"
    assert state == render.WrapState(4, "cccc")


def test_wrap_stream_state_carries_across_chunks() -> None:
    state, first = render.wrap_stream(render.WrapState(), "aaaa bbbb c", 16)
    state, second = render.wrap_stream(state, "ccc", 16)
    assert first + second == "aaaa bbbb c\x1b[1D\x1b[K\ncccc"
    assert state == render.WrapState(4, "cccc")


def test_progress_line_shows_percent_and_sizes() -> None:
    line = render.progress_line("pulling 6a0746a1ec1a:", 2_100_000_000, 4_200_000_000, 80)
    assert line.startswith("pulling 6a0746a1ec1a:  50% ▕") and line.endswith("▏ 2.1 GB/4.2 GB" + " " * 18)
    assert len(line) == 79  # one column spare, as Ollama leaves it, so the terminal never wraps
    done = render.progress_line("pulling 6a0746a1ec1a:", 10, 10, 80)
    assert "100%" in done and done.endswith("▏   10 B       " + " " * 18)


def test_progress_line_shows_speed_and_time_left_while_running() -> None:
    line = render.progress_line("pulling 1a2b3c4d5e6f:", 12_000_000, 27_000_000, 100, rate=3_100_000)
    assert line.startswith("pulling 1a2b3c4d5e6f:  44% ▕")
    assert line.endswith("▏  12 MB/ 27 MB  3.1 MB/s      4s") and len(line) == 99
    slow = render.progress_line("pulling 1a2b3c4d5e6f:", 0, 4_200_000_000, 100, rate=1_000_000)
    assert slow.endswith("  1 MB/s  1h10m0s")
    done = render.progress_line("pulling 1a2b3c4d5e6f:", 27_000_000, 27_000_000, 100, rate=3_100_000)
    assert "MB/s" not in done and len(done) == 99  # a finished bar shows no speed
