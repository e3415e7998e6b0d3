"""Every Ollama option reaches llama.cpp (LoadSpec / SamplingOptions) or is ignored where Ollama's is."""

from __future__ import annotations

from dataclasses import fields

from ollama_actors.domain.models import ResolvedModel
from ollama_actors.domain.options import DEPRECATED, OPTION_TYPES, merge_options
from ollama_actors.runner.domain.runner_options import load_spec, sampling_options
from ollama_actors.runner.ports import LoadSpec, SamplingOptions

MODEL = ResolvedModel(name="m:latest", full_name="registry.ollama.ai/library/m:latest", digest="d",
                      model_path="/m.gguf", size=1, context_length=8192)
# Accepted without effect: num_keep matters only to a context shift (this runtime stops
# at a full context instead), draft_num_predict only to draft models.
WITHOUT_EFFECT = {"num_keep", "draft_num_predict"}
NON_DEFAULT = {
    "num_ctx": 1024, "num_batch": 64, "num_gpu": 0, "main_gpu": 1, "use_mmap": False, "num_thread": 3,
    "num_keep": 9, "seed": 7, "num_predict": 5, "top_k": 3, "top_p": 0.5, "min_p": 0.1, "typical_p": 0.7,
    "repeat_last_n": -1, "temperature": 0.2, "repeat_penalty": 1.3, "presence_penalty": 0.4,
    "frequency_penalty": 0.6, "stop": ["x"], "draft_num_predict": 2,
}


def test_every_option_is_mapped_or_deliberately_without_effect() -> None:
    mapped = {f.name for f in fields(LoadSpec)} | {f.name for f in fields(SamplingOptions)}
    assert set(OPTION_TYPES) - mapped == WITHOUT_EFFECT
    assert set(NON_DEFAULT) == set(OPTION_TYPES)


def test_non_default_values_reach_the_runtime() -> None:
    values = merge_options({}, NON_DEFAULT, default_num_ctx=4096).values
    spec, sampling = load_spec(MODEL, values, num_thread=None), sampling_options(values)
    for key, value in NON_DEFAULT.items():
        if key in WITHOUT_EFFECT:
            continue
        target = spec if hasattr(spec, key) else sampling
        got = getattr(target, key)
        assert (list(got) if isinstance(got, tuple) else got) == value, key


def test_deprecated_options_are_dropped_without_an_error() -> None:
    resolved = merge_options({}, {name: 1 for name in DEPRECATED}, default_num_ctx=4096)
    assert set(resolved.ignored) == DEPRECATED
    assert not set(resolved.values) & DEPRECATED


def test_main_gpu_is_left_to_llama_cpp_unless_set() -> None:
    values = merge_options({}, {}, default_num_ctx=4096).values
    assert load_spec(MODEL, values, num_thread=None).main_gpu is None
