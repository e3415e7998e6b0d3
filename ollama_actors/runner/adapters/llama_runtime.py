"""The ``EngineRuntime`` port on llama-cpp-python: load a GGUF, batch-decode, embed.

``LlamaCppRuntime.load`` gives a ``LlamaCppEngine``: the model and one context
with ``LoadSpec.num_parallel`` sequence slots, decoded together by
``BatchDecoder`` (continuous batching, prompt-prefix reuse). Loading, tokenizing
and the generation context use llama.cpp's C API through llama-cpp-python's raw
bindings, because its ``Llama`` class runs one sequence per context;
embeddings still use a ``Llama`` opened for them (see ``LlamaCppEngine``).

Threading: an engine belongs to the one thread that drives it (the runner
process's loop); nothing here is safe to share between threads.
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
from collections.abc import Callable, Sequence

import llama_cpp
from llama_cpp import Llama

from ollama_actors.adapters.gguf_metadata import GgufFormatError, read_gguf_info
from ollama_actors.domain.errors import BadRequestError, RunnerError, UnsupportedCapabilityError
from ollama_actors.runner.adapters.llama_batch import BatchDecoder
from ollama_actors.runner.adapters.llama_vocab import piece, token_text, tokenize
from ollama_actors.runner.ports import CompletionRequest, EmbedResult, LoadSpec, SeqEvent

__all__ = ["LlamaCppEngine", "LlamaCppRuntime"]

_Clock = Callable[[], int]
_ALL_LAYERS = 0x7FFFFFFF  # llama.cpp's "offload every layer"


class LlamaCppRuntime:
    """Loads models with llama.cpp, its own logging kept to errors."""

    def __init__(self, *, clock: _Clock = time.perf_counter_ns) -> None:
        self._clock = clock

    def load(self, spec: LoadSpec) -> LlamaCppEngine:
        """Load ``spec.model_path`` with ``spec``'s context, slots, batch, threads and mmap.

        Raises:
            RunnerError: "unable to load model: <path>", with the reason when one can
                be told (missing file, not GGUF, truncated), or more than one adapter.
        """
        if len(spec.adapters) > 1:
            raise RunnerError("ollama supports only one lora adapter, but multiple provided")
        if not os.path.isfile(spec.model_path):
            raise RunnerError(f"unable to load model: {spec.model_path} (no such file)")
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # its log callback's switch
        if spec.embedding:
            try:
                return LlamaCppEngine(spec, None, _open_llama(spec, embedding=True), clock=self._clock)
            except (ValueError, RuntimeError) as exc:
                raise RunnerError(_load_failure(spec.model_path)) from exc
        return LlamaCppEngine(spec, _GenerationContext.open(spec), None, clock=self._clock)


class _GenerationContext:
    """A model and one generation context with ``num_parallel`` sequences, freed together."""

    def __init__(self, model: object, ctx: object, adapter: object | None) -> None:
        self.model, self.ctx, self._adapter = model, ctx, adapter

    @classmethod
    def open(cls, spec: LoadSpec) -> _GenerationContext:
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = _ALL_LAYERS if spec.num_gpu < 0 else spec.num_gpu
        model_params.main_gpu = spec.main_gpu or 0
        model_params.use_mmap = spec.use_mmap and not spec.adapters  # as llama-cpp-python
        model = llama_cpp.llama_model_load_from_file(spec.model_path.encode("utf-8"), model_params)
        if not model:
            raise RunnerError(_load_failure(spec.model_path))
        adapter = None
        if spec.adapters:
            adapter = llama_cpp.llama_adapter_lora_init(model, spec.adapters[0].encode("utf-8"))
            if not adapter:
                llama_cpp.llama_model_free(model)
                raise RunnerError(f"unable to load lora adapter: {spec.adapters[0]}")
        ctx = llama_cpp.llama_init_from_model(model, _context_params(spec))
        if not ctx:
            llama_cpp.llama_model_free(model)
            raise RunnerError(f"unable to create a context of {spec.num_ctx} tokens for {spec.model_path}")
        if adapter is not None:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
            llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, (ctypes.c_float * 1)(1.0))
        return cls(model, ctx, adapter)

    def close(self) -> None:
        if self.ctx is not None:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if self._adapter is not None:
            llama_cpp.llama_adapter_lora_free(self._adapter)
            self._adapter = None
        if self.model is not None:
            llama_cpp.llama_model_free(self.model)
            self.model = None


def _context_params(spec: LoadSpec) -> object:
    params = llama_cpp.llama_context_default_params()
    # Every core by default: measured on 2 cores, 2 threads decode 1.3x (1 stream) to
    # 1.5x (4 streams) faster than 1 (docs/benchmark.md).
    threads = spec.num_thread or max(os.cpu_count() or 1, 1)
    params.n_ctx = spec.num_ctx
    params.n_batch = params.n_ubatch = spec.num_batch
    params.n_threads = params.n_threads_batch = threads
    params.n_seq_max = max(1, spec.num_parallel)
    params.kv_unified = False  # each sequence its own num_ctx cells: Ollama's split
    params.no_perf = True
    return params


class LlamaCppEngine:
    """One loaded GGUF: tokenizer, batched generation, embeddings.

    A model loaded with ``LoadSpec.embedding`` embeds with its own context and cannot
    generate. A generation model asked to embed opens a second, embedding context on
    the same file on first use: llama.cpp needs ``embeddings=True`` at context
    creation, and with mmap both contexts share the weights' pages, so the extra cost
    is one KV cache of ``num_ctx``. Ollama likewise lets any model embed.
    """

    def __init__(self, spec: LoadSpec, generation: _GenerationContext | None, embedder: Llama | None, *, clock: _Clock) -> None:
        self._spec = spec
        self._generation = generation
        self._embedder = embedder
        model = generation.model if generation is not None else embedder.model  # type: ignore[union-attr]
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._decoder = (
            BatchDecoder(generation.ctx, self._vocab, slots=max(1, spec.num_parallel), n_batch=spec.num_batch, clock=clock)
            if generation is not None else None
        )
        ctx = generation.ctx if generation is not None else embedder.ctx  # type: ignore[union-attr]
        self._n_ctx = int(llama_cpp.llama_n_ctx(ctx))
        self.n_ctx_train: int = llama_cpp.llama_model_n_ctx_train(model)
        self.bos_token: str = token_text(self._vocab, llama_cpp.llama_vocab_bos(self._vocab))
        self.eos_token: str = token_text(self._vocab, llama_cpp.llama_vocab_eos(self._vocab))

    @property
    def context_length(self) -> int:
        """The context actually allocated for all slots together (n_ctx)."""
        return self._n_ctx

    @property
    def busy(self) -> bool:
        return self._decoder is not None and self._decoder.busy

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Tokens of ``text``; ``add_bos`` adds the model's special prefix/suffix, if it has one."""
        return tokenize(self._vocab, text, add_special=add_bos, parse_special=special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of ``tokens``, special tokens rendered, no leading space removed (as Ollama)."""
        return b"".join(piece(self._vocab, t) for t in tokens).decode("utf-8", errors="replace")

    def submit(self, seq: int, request: CompletionRequest) -> None:
        """Admit a generation; it joins the batch at the next ``step``.

        Raises:
            UnsupportedCapabilityError: the model was loaded for embeddings.
            BadRequestError: the prompt does not fit in a slot's context.
            RunnerError: every slot is busy, or the grammar is invalid.
        """
        if self._decoder is None:
            raise UnsupportedCapabilityError("model loaded for embeddings does not support generate")
        self._decoder.submit(seq, self._prompt_tokens(request), request.sampling, request.grammar)

    def cancel(self, seq: int) -> None:
        if self._decoder is not None:
            self._decoder.cancel(seq)

    def pause(self, seq: int) -> None:
        if self._decoder is not None:
            self._decoder.pause(seq)

    def resume(self, seq: int) -> None:
        if self._decoder is not None:
            self._decoder.resume(seq)

    def step(self) -> list[SeqEvent]:
        return self._decoder.step() if self._decoder is not None else []

    def cached_tokens(self, slot: int) -> int:
        """KV cells held by slot ``slot`` (tests prove cancellation frees them)."""
        return self._decoder.cached_tokens(slot) if self._decoder is not None else 0

    @property
    def prompt_tokens_decoded(self) -> int:
        """Prompt tokens decoded so far (tests prove prefix reuse skips the cached ones)."""
        return self._decoder.prompt_tokens_decoded if self._decoder is not None else 0

    def embed(self, inputs: Sequence[str], *, truncate: bool = True) -> EmbedResult:
        """One pooled, unnormalised vector per input, in input order.

        Pooling is the model's (mean, CLS, last…); a model that declares none (a chat
        model) gives its last token's vector, as Ollama's runner does. An input over
        the context is cut to fit (keeping BOS/EOS) when ``truncate``.

        Raises:
            BadRequestError: an input is too long and ``truncate`` is false, or it
                cannot be cut short enough, or it has no tokens at all.
        """
        llm = self._embedding_llama()
        vectors, total = [], 0
        for text in inputs:
            tokens = _fit_embedding_input(llm, text, truncate)
            total += len(tokens)
            vectors.append(_embed_tokens(llm, tokens))
        return EmbedResult(vectors=tuple(vectors), prompt_eval_count=total)

    def close(self) -> None:
        """Free contexts and weights; idempotent."""
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        if self._generation is not None:
            self._generation.close()
            self._generation = None

    def _prompt_tokens(self, request: CompletionRequest) -> list[int]:
        tokens = self.tokenize(request.prompt, add_bos=False, special=True)
        bos = llama_cpp.llama_vocab_bos(self._vocab)
        wants_bos = request.add_bos and llama_cpp.llama_vocab_get_add_bos(self._vocab)
        if bos >= 0 and (wants_bos or not tokens) and tokens[:1] != [bos]:
            tokens.insert(0, bos)  # never twice: a rendered template may already hold BOS
        if not tokens:
            raise BadRequestError("the prompt is empty and the model has no BOS token")
        return tokens

    def _embedding_llama(self) -> Llama:
        if self._embedder is None:
            try:
                self._embedder = _open_llama(self._spec, embedding=True)
            except (ValueError, RuntimeError) as exc:
                raise RunnerError(_load_failure(self._spec.model_path)) from exc
        return self._embedder


def _open_llama(spec: LoadSpec, *, embedding: bool) -> Llama:
    """A ``Llama`` for ``spec``.

    Embedding contexts take a whole input in one micro-batch (non-causal models
    must), so their batch is the context. llama.cpp rounds every context up to a
    multiple of 256, and with pooling it aborts the process at context creation
    when the micro-batch is over 256 and not such a multiple (seen with 0.3.36:
    300 aborts, 512 works); so embedding contexts are rounded up here first.
    """
    n_ctx = _round_up(spec.num_ctx, _CTX_PAD) if embedding else spec.num_ctx
    batch = n_ctx if embedding else spec.num_batch
    return Llama(
        model_path=spec.model_path,
        n_ctx=n_ctx,
        n_batch=batch,
        n_ubatch=batch,
        n_threads=spec.num_thread,
        n_threads_batch=spec.num_thread,
        n_gpu_layers=spec.num_gpu,
        main_gpu=spec.main_gpu or 0,
        use_mmap=spec.use_mmap,
        lora_path=spec.adapters[0] if spec.adapters else None,
        embedding=embedding,
        verbose=False,
    )


_CTX_PAD = 256  # llama.cpp's context padding


def _round_up(n: int, multiple: int) -> int:
    return -(-max(n, 1) // multiple) * multiple


def _load_failure(path: str) -> str:
    """Ollama's "unable to load model: <path>", plus the reason when the header tells it
    (llama.cpp's own log is silenced, and its exception carries no cause)."""
    try:
        read_gguf_info(path)
    except (GgufFormatError, OSError) as exc:
        return f"unable to load model: {path} ({exc})"
    return f"unable to load model: {path}"


def _fit_embedding_input(llm: Llama, text: str, truncate: bool) -> list[int]:
    tokens = list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))
    n_ctx = min(int(llm.n_ctx()), int(llama_cpp.llama_n_ubatch(llm.ctx)))
    if not tokens:
        raise BadRequestError("cannot embed an input with no tokens")
    if len(tokens) <= n_ctx:
        return tokens
    if not truncate:
        raise BadRequestError("the input length exceeds the context length")
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    head = 1 if llama_cpp.llama_vocab_get_add_bos(vocab) else 0
    tail = 1 if llama_cpp.llama_vocab_get_add_eos(vocab) else 0
    if n_ctx - head - tail <= 0:
        raise BadRequestError("input exceeds maximum context length and cannot be truncated further")
    body = tokens[head : len(tokens) - tail]
    return tokens[:head] + body[: n_ctx - head - tail] + tokens[len(tokens) - tail :]


def _embed_tokens(llm: Llama, tokens: list[int]) -> tuple[float, ...]:
    """Decode one sequence alone and read its pooled (or last-token) embedding."""
    ctx = llm.ctx
    if len(tokens) > llama_cpp.llama_n_ubatch(ctx):  # llama.cpp would abort the process
        raise RunnerError(f"{len(tokens)} tokens do not fit the embedding batch")
    batch = llama_cpp.llama_batch_init(len(tokens), 0, 1)
    try:
        for i, token in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, i, 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = True
        batch.n_tokens = len(tokens)
        memory = llama_cpp.llama_get_memory(ctx)
        if memory is not None:  # non-causal models may have no KV memory
            llama_cpp.llama_memory_clear(memory, True)
        if (rc := llama_cpp.llama_decode(ctx, batch)) != 0:
            raise RunnerError(f"llama.cpp decode failed while embedding (code {rc})")
        if llama_cpp.llama_pooling_type(ctx) == llama_cpp.LLAMA_POOLING_TYPE_NONE:
            values = llama_cpp.llama_get_embeddings_ith(ctx, len(tokens) - 1)
        else:
            values = llama_cpp.llama_get_embeddings_seq(ctx, 0)
        if not values:  # NULL: reading through it would crash the process
            raise RunnerError("llama.cpp produced no embedding for this input")
        return tuple(values[: llama_cpp.llama_model_n_embd(llm.model)])
    finally:
        llama_cpp.llama_batch_free(batch)


