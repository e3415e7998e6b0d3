"""One llama.cpp sampler chain per sequence, built from Ollama's sampling options.

Each sequence of the batch decoder samples with its own chain, so seeds,
penalties and grammars never leak between concurrent requests. The order is
llama-cpp-python's (``Llama._init_sampler``), which the in-process runtime used
before batching: penalties, grammar, then greedy for ``temperature == 0``, or
top-k → typical → top-p → min-p → temperature → a seeded draw.

Written on the raw ``llama_sampler_*`` calls because llama-cpp-python's own
``LlamaSampler`` wrapper is internal and tied to one ``Llama`` context.
"""

from __future__ import annotations

from collections.abc import Sequence

import llama_cpp

from ollama_actors.domain.errors import RunnerError
from ollama_actors.runner.ports import SamplingOptions

__all__ = ["SamplerChain"]


class SamplerChain:
    """A sampler chain; ``sample`` picks the token at one batch output and accepts it."""

    def __init__(self, vocab: object, sampling: SamplingOptions, grammar: str | None, n_ctx: int) -> None:
        self._chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        last_n = n_ctx if sampling.repeat_last_n < 0 else sampling.repeat_last_n
        self._penalties = llama_cpp.llama_sampler_init_penalties(
            llama_cpp.llama_vocab_n_tokens(vocab), last_n, sampling.repeat_penalty, sampling.frequency_penalty, sampling.presence_penalty
        )
        self._add(self._penalties)
        if grammar is not None:
            parsed = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
            if not parsed:  # NULL: adding it would crash the process
                self.close()
                raise RunnerError("failed to parse grammar")
            self._add(parsed)
        self._add_picker(sampling)

    def accept_prompt(self, tokens: Sequence[int]) -> None:
        """Let the penalties see the prompt (not the grammar, which constrains output only)."""
        for token in tokens:
            llama_cpp.llama_sampler_accept(self._penalties, token)

    def sample(self, ctx: object, index: int) -> int:
        """The token for the logits at batch output ``index``; the chain accepts it."""
        return int(llama_cpp.llama_sampler_sample(self._chain, ctx, index))

    def close(self) -> None:
        """Free the chain and every sampler in it; idempotent."""
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None

    def _add(self, sampler: object) -> None:
        llama_cpp.llama_sampler_chain_add(self._chain, sampler)

    def _add_picker(self, sampling: SamplingOptions) -> None:
        seed = sampling.seed & 0xFFFFFFFF if sampling.seed >= 0 else llama_cpp.LLAMA_DEFAULT_SEED
        if sampling.temperature == 0.0:
            self._add(llama_cpp.llama_sampler_init_greedy())
            return
        if sampling.temperature > 0.0:
            self._add(llama_cpp.llama_sampler_init_top_k(sampling.top_k))
            self._add(llama_cpp.llama_sampler_init_typical(sampling.typical_p, 1))
            self._add(llama_cpp.llama_sampler_init_top_p(sampling.top_p, 1))
            self._add(llama_cpp.llama_sampler_init_min_p(sampling.min_p, 1))
            self._add(llama_cpp.llama_sampler_init_temp(sampling.temperature))
        self._add(llama_cpp.llama_sampler_init_dist(seed))
