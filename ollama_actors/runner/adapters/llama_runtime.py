"""The ``Runtime`` port on llama-cpp-python: load a GGUF, generate step by step, embed.

``LlamaCppRuntime.load`` gives a ``LlamaCppModel``; ``LlamaCppModel.start`` gives a
``LlamaCppGeneration`` whose every ``step()`` samples exactly one token (the first
also evaluates the prompt), so the runner that drives it is never blocked for
longer than one decode step and can cancel between any two tokens.

Generation is built on ``Llama.generate`` (one token per ``next()``), not on
``create_completion(stream=True)``: the streaming completion swallows tokens that
yield no text (held-back stop prefixes, partial UTF-8), so one ``next()`` there may
run many decode steps, and its detokenizer caps pieces at 32 bytes. Text, stop
sequences and limits are therefore handled here, the way Ollama's runner does:

- a piece is rendered with special tokens visible (Ollama's ``TokenToPiece``), and
  bytes of an unfinished UTF-8 sequence wait for the next token;
- text that might be the start of a stop sequence is held back; a completed stop
  sequence ends the generation with ``done_reason="stop"`` and is not emitted;
- an end-of-generation token ends it with ``"stop"``; ``num_predict`` tokens, or a
  full context, with ``"length"`` (``num_predict`` <= 0 means "until the context
  is full": there is no context shift).

Threading: a model and its generations belong to the one thread that drives them
(the runner process's loop); nothing here is safe to share between threads.
Only one generation may be live per model, as the port says.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import llama_cpp
from llama_cpp import Llama, LlamaGrammar

from ollama_actors.adapters.gguf_metadata import GgufFormatError, read_gguf_info
from ollama_actors.domain.errors import (
    BadRequestError,
    RequestCanceledError,
    RunnerError,
    UnsupportedCapabilityError,
)
from ollama_actors.runner.ports import (
    CompletionRequest,
    EmbedResult,
    GenerationStats,
    LoadSpec,
    SamplingOptions,
    Step,
)

__all__ = ["LlamaCppGeneration", "LlamaCppModel", "LlamaCppRuntime"]

_Clock = Callable[[], int]


class LlamaCppRuntime:
    """Loads models with llama-cpp-python, llama.cpp's own logging silenced."""

    def __init__(self, *, clock: _Clock = time.perf_counter_ns) -> None:
        self._clock = clock

    def load(self, spec: LoadSpec) -> LlamaCppModel:
        """Load ``spec.model_path`` with ``spec``'s context, batch, threads and mmap settings.

        Raises:
            RunnerError: "unable to load model: <path>", with the reason when one can
                be told (missing file, not GGUF, truncated), or more than one adapter.
        """
        if len(spec.adapters) > 1:
            raise RunnerError("ollama supports only one lora adapter, but multiple provided")
        if not os.path.isfile(spec.model_path):
            raise RunnerError(f"unable to load model: {spec.model_path} (no such file)")
        try:
            llm = _open_llama(spec, embedding=spec.embedding)
        except (ValueError, RuntimeError) as exc:
            raise RunnerError(_load_failure(spec.model_path)) from exc
        return LlamaCppModel(llm, spec, clock=self._clock)


class LlamaCppModel:
    """One loaded GGUF: tokenizer, step-wise generation, embeddings.

    A model loaded with ``LoadSpec.embedding`` embeds with its own context and cannot
    generate. A generation model asked to embed opens a second, embedding context on
    the same file on first use: llama.cpp needs ``embeddings=True`` at context
    creation, and with mmap both contexts share the weights' pages, so the extra cost
    is one KV cache of ``num_ctx``. Ollama likewise lets any model embed.
    """

    def __init__(self, llm: Llama, spec: LoadSpec, *, clock: _Clock) -> None:
        self._llm = llm
        self._spec = spec
        self._clock = clock
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._embedder: Llama | None = llm if spec.embedding else None
        self._live: LlamaCppGeneration | None = None
        self.n_ctx_train: int = llama_cpp.llama_model_n_ctx_train(llm.model)
        self.chat_template: str | None = llm.metadata.get("tokenizer.chat_template")
        self.bos_token: str = _token_text(self._vocab, llama_cpp.llama_vocab_bos(self._vocab))
        self.eos_token: str = _token_text(self._vocab, llama_cpp.llama_vocab_eos(self._vocab))

    @property
    def context_length(self) -> int:
        """The context actually allocated (n_ctx)."""
        return int(self._llm.n_ctx())

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Tokens of ``text``; ``add_bos`` adds the model's special prefix/suffix, if it has one."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of ``tokens``, special tokens rendered, no leading space removed (as Ollama)."""
        data = b"".join(_piece(self._vocab, t) for t in tokens)
        return data.decode("utf-8", errors="replace")

    def start(self, request: CompletionRequest) -> LlamaCppGeneration:
        """Begin generating; nothing is evaluated until the first ``step()``.

        Raises:
            UnsupportedCapabilityError: the model was loaded for embeddings.
            BadRequestError: the prompt does not fit in the context.
            RunnerError: another generation is still live, or the grammar is invalid.
        """
        if self._spec.embedding:
            raise UnsupportedCapabilityError("model loaded for embeddings does not support generate")
        if self._live is not None and not self._live.finished:
            raise RunnerError("a generation is already running on this model")
        tokens = self._prompt_tokens(request)
        grammar = self._grammar(request.grammar)
        self._live = LlamaCppGeneration(
            self._llm, self._vocab, tokens, request.sampling, grammar, clock=self._clock
        )
        return self._live

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
        """Free contexts and weights; idempotent. Live generations become unusable."""
        if self._live is not None:
            self._live.cancel()
        if self._embedder is not None and self._embedder is not self._llm:
            self._embedder.close()
        self._embedder = None
        self._llm.close()

    def _prompt_tokens(self, request: CompletionRequest) -> list[int]:
        tokens = self.tokenize(request.prompt, add_bos=False, special=True)
        bos = llama_cpp.llama_vocab_bos(self._vocab)
        wants_bos = request.add_bos and llama_cpp.llama_vocab_get_add_bos(self._vocab)
        if bos >= 0 and (wants_bos or not tokens) and tokens[:1] != [bos]:
            tokens.insert(0, bos)  # never twice: a rendered template may already hold BOS
        if not tokens:
            raise BadRequestError("the prompt is empty and the model has no BOS token")
        n_ctx = self.context_length
        if len(tokens) >= n_ctx:
            raise BadRequestError(
                f"the input length ({len(tokens)} tokens) exceeds the context length ({n_ctx})"
            )
        return tokens

    def _grammar(self, text: str | None) -> LlamaGrammar | None:
        """Parse-check GBNF up front: llama.cpp returns NULL for a bad grammar and
        llama-cpp-python would add that NULL to its sampler chain (a crash)."""
        if text is None:
            return None
        probe = llama_cpp.llama_sampler_init_grammar(self._vocab, text.encode("utf-8"), b"root")
        if not probe:
            raise RunnerError("failed to parse grammar")
        llama_cpp.llama_sampler_free(probe)
        return LlamaGrammar.from_string(text, verbose=False)

    def _embedding_llama(self) -> Llama:
        if self._embedder is None:
            try:
                self._embedder = _open_llama(self._spec, embedding=True)
            except (ValueError, RuntimeError) as exc:
                raise RunnerError(_load_failure(self._spec.model_path)) from exc
        return self._embedder


class LlamaCppGeneration:
    """One completion, advanced one sampled token per ``step()``.

    After the step that reports ``done``, ``step()`` keeps returning that final step.
    """

    def __init__(
        self,
        llm: Llama,
        vocab: object,
        prompt_tokens: list[int],
        sampling: SamplingOptions,
        grammar: LlamaGrammar | None,
        *,
        clock: _Clock,
    ) -> None:
        self._vocab = vocab
        self._clock = clock
        self._prompt_count = len(prompt_tokens)
        self._limit = _token_limit(sampling.num_predict, llm.n_ctx(), len(prompt_tokens))
        self._text = _TextAssembler(sampling.stop)
        self._tokens = _token_stream(llm, prompt_tokens, sampling, grammar)
        self._count = 0
        self._prompt_ns = 0
        self._eval_ns = 0
        self._final: Step | None = None
        self._cancelled = False

    @property
    def finished(self) -> bool:
        """True once done or cancelled: the model may start another generation."""
        return self._final is not None or self._cancelled

    def step(self) -> Step:
        """Sample one token and return the text it completes (maybe ``""``).

        Raises:
            RequestCanceledError: the generation was cancelled.
            RunnerError: llama.cpp failed to decode.
        """
        if self._final is not None:
            return self._final
        if self._cancelled:
            raise RequestCanceledError()
        token = self._next_token()
        if token is None or llama_cpp.llama_vocab_is_eog(self._vocab, token):
            return self._finish("stop", self._text.flush())
        text, stopped = self._text.add(_piece(self._vocab, token))
        if stopped:
            return self._finish("stop", text)
        if self._count >= self._limit:
            return self._finish("length", text + self._text.flush())
        return Step(text=text)

    def cancel(self) -> None:
        """Stop generating; idempotent, and harmless after the generation is done."""
        if not self._cancelled and self._final is None:
            self._cancelled = True
            self._tokens.close()

    def stats(self) -> GenerationStats:
        """Counts and durations so far; the first step's time is the prompt's."""
        return GenerationStats(
            prompt_eval_count=self._prompt_count,
            prompt_eval_duration_ns=self._prompt_ns,
            eval_count=self._count,
            eval_duration_ns=self._eval_ns,
        )

    def _next_token(self) -> int | None:
        """The next sampled token, or None if llama-cpp-python ended the stream itself."""
        started = self._clock()
        try:
            token = next(self._tokens, None)
        except RuntimeError as exc:  # llama-cpp-python's "llama_decode returned N"
            self.cancel()
            raise RunnerError(f"llama.cpp decode failed: {exc}") from exc
        if token is None:
            return None
        elapsed = self._clock() - started
        if self._count == 0:
            self._prompt_ns = elapsed
        else:
            self._eval_ns += elapsed
        self._count += 1
        return int(token)

    def _finish(self, reason: str, text: str) -> Step:
        self._tokens.close()
        self._final = Step(text=text, done=True, done_reason=reason)
        return self._final


@dataclass
class _TextAssembler:
    """Bytes of pieces in, text out: completes UTF-8 sequences and holds back stop prefixes."""

    stops: tuple[str, ...]

    def __post_init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def add(self, piece: bytes) -> tuple[str, bool]:
        """Text now safe to emit, and whether a stop sequence was completed (then
        the text is everything before it, and the rest is dropped)."""
        self._pending += self._decoder.decode(piece)
        cut = _first_stop(self._pending, self.stops)
        if cut is not None:
            text, self._pending = self._pending[:cut], ""
            return text, True
        keep = _stop_prefix_length(self._pending, self.stops)
        text = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(text) :]
        return text, False

    def flush(self) -> str:
        """Everything held back, unfinished UTF-8 replaced by U+FFFD."""
        text, self._pending = self._pending + self._decoder.decode(b"", final=True), ""
        return text


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def _stop_prefix_length(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest end of ``text`` that some stop sequence starts with."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


def _token_limit(num_predict: int, n_ctx: int, n_prompt: int) -> int:
    room = n_ctx - n_prompt  # the last sampled token is never evaluated, so it fits
    return min(num_predict, room) if num_predict > 0 else room


def _token_stream(
    llm: Llama, tokens: list[int], sampling: SamplingOptions, grammar: LlamaGrammar | None
) -> Iterator[int]:
    """``Llama.generate`` with Ollama's options; seed and penalty window are read
    by the sampler it builds on the first ``next()``, so they are set on ``llm`` now."""
    llm.set_seed(sampling.seed & 0xFFFFFFFF if sampling.seed >= 0 else llama_cpp.LLAMA_DEFAULT_SEED)
    last_n = sampling.repeat_last_n
    llm.last_n_tokens_size = llm.n_ctx() if last_n < 0 else last_n
    return llm.generate(
        tokens,
        top_k=sampling.top_k,
        top_p=sampling.top_p,
        min_p=sampling.min_p,
        typical_p=sampling.typical_p,
        temp=sampling.temperature,
        repeat_penalty=sampling.repeat_penalty,
        frequency_penalty=sampling.frequency_penalty,
        presence_penalty=sampling.presence_penalty,
        grammar=grammar,
    )


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


def _piece(vocab: object, token: int) -> bytes:
    """Bytes of one token, special tokens included; pieces may exceed any fixed buffer."""
    buf = ctypes.create_string_buffer(64)
    n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, True)
    if n < 0:
        buf = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, True)
    return buf.raw[:n]


def _token_text(vocab: object, token: int) -> str:
    if token < 0:
        return ""
    return bytes(llama_cpp.llama_vocab_get_text(vocab, token)).decode("utf-8", errors="replace")
