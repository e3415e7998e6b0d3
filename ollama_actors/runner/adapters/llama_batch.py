"""Continuous batching on one llama.cpp context: every active sequence advances in
one ``llama_decode`` per step.

The context is created with ``n_seq_max`` = the number of slots and a KV cache
split per sequence (``kv_unified = false``), each slot owning ``n_ctx / slots``
cells, which is Ollama's split of ``num_ctx × OLLAMA_NUM_PARALLEL``. A step
puts into one batch: the last sampled token of every generating sequence, then
prompt tokens of sequences still reading their prompt, in chunks, up to the
batch size, so a long prompt joining mid-flight is read over several steps
while the running streams keep getting a token per step. Each sequence samples
with its own chain (``SamplerChain``) and applies its own stop sequences and
``num_predict``.

Prompt-prefix reuse: a slot remembers which tokens its KV cells hold. A new
sequence takes the free slot sharing the longest prefix with its prompt (the
usual next chat turn), the cells past that prefix are removed, and only the
rest of the prompt is decoded. A cancelled sequence's cells are removed at once;
a finished one's stay as its slot's prompt cache (the slot's partition of the
cache cannot serve another slot anyway), and are overwritten by the next user.

Nothing here is thread-safe: one thread (the runner process's loop) drives it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import llama_cpp

from ollama_actors.domain.errors import BadRequestError, RunnerError
from ollama_actors.runner.adapters.llama_sampling import SamplerChain
from ollama_actors.runner.adapters.llama_vocab import piece
from ollama_actors.runner.domain.text_assembly import TextAssembler, token_limit
from ollama_actors.runner.ports import GenerationStats, SamplingOptions, SeqEvent

__all__ = ["BatchDecoder"]

Clock = Callable[[], int]


@dataclass
class _Slot:
    """One llama.cpp sequence id and the tokens its KV cells hold, in position order."""

    index: int
    cached: list[int] = field(default_factory=list)
    owner: int | None = None
    last_used: int = 0


@dataclass
class _Sequence:
    seq: int
    slot: _Slot
    pending: list[int]  # prompt tokens not decoded yet
    sampler: SamplerChain
    text: TextAssembler
    limit: int
    prompt_count: int  # reported whole, as Ollama does, even when part came from the cache
    next_token: int | None = None  # sampled, decoded at the next step
    generated: int = 0
    paused: bool = False
    prompt_ns: int = 0
    eval_ns: int = 0


class BatchDecoder:
    """The sequences of one context, decoded together one step at a time."""

    def __init__(self, ctx: object, vocab: object, *, slots: int, n_batch: int, clock: Clock = time.perf_counter_ns) -> None:
        self._ctx = ctx
        self._vocab = vocab
        self._memory = llama_cpp.llama_get_memory(ctx)
        self._slots = [_Slot(i) for i in range(slots)]
        self._n_ctx_seq = int(llama_cpp.llama_n_ctx(ctx)) // slots
        self._n_batch = n_batch
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._sequences: dict[int, _Sequence] = {}
        self._clock = clock
        self._tick = 0
        self.prompt_tokens_decoded = 0  # prompt tokens put through llama_decode (tests: prefix reuse)

    @property
    def busy(self) -> bool:
        return any(not s.paused for s in self._sequences.values())

    def cached_tokens(self, slot: int) -> int:
        """How many cells slot ``slot`` holds (tests: cancellation frees them)."""
        return int(llama_cpp.llama_memory_seq_pos_max(self._memory, slot)) + 1

    def submit(self, seq: int, tokens: list[int], sampling: SamplingOptions, grammar: str | None) -> None:
        """Admit a sequence; it joins the batch at the next step.

        Raises:
            BadRequestError: the prompt does not fit a slot's context.
            RunnerError: ``seq`` is already active, every slot is taken, or the
                grammar does not parse.
        """
        if seq in self._sequences:
            raise RunnerError(f"sequence {seq} is already running")
        if not tokens or len(tokens) >= self._n_ctx_seq:
            raise BadRequestError(
                f"the input length ({len(tokens)} tokens) exceeds the context length ({self._n_ctx_seq})"
            )
        slot = self._free_slot(tokens)
        sampler = SamplerChain(self._vocab, sampling, grammar, self._n_ctx_seq)
        reused = self._reuse_prefix(slot, tokens)
        sampler.accept_prompt(tokens)
        slot.owner = seq
        self._sequences[seq] = _Sequence(
            seq=seq, slot=slot, pending=tokens[reused:], sampler=sampler,
            text=TextAssembler(sampling.stop),
            limit=token_limit(sampling.num_predict, self._n_ctx_seq, len(tokens)),
            prompt_count=len(tokens),
        )

    def cancel(self, seq: int) -> None:
        """Drop ``seq`` and remove its KV cells now; unknown ids are ignored."""
        sequence = self._sequences.pop(seq, None)
        if sequence is None:
            return
        sequence.sampler.close()
        self._clear(sequence.slot)
        self._release(sequence.slot)

    def pause(self, seq: int) -> None:
        if seq in self._sequences:
            self._sequences[seq].paused = True

    def resume(self, seq: int) -> None:
        if seq in self._sequences:
            self._sequences[seq].paused = False

    def step(self) -> list[SeqEvent]:
        """Decode one batch over every unpaused sequence; what each produced.

        Raises:
            RunnerError: llama.cpp failed to decode the batch.
        """
        plan = self._fill_batch()
        if not plan:
            return []
        started = self._clock()
        rc = llama_cpp.llama_decode(self._ctx, self._batch)
        if rc != 0:
            raise RunnerError(f"llama.cpp decode failed (code {rc})")
        elapsed = self._clock() - started
        events: list[SeqEvent] = []
        for sequence, output in plan:
            if sequence.generated == 0:
                sequence.prompt_ns += elapsed
            else:
                sequence.eval_ns += elapsed
            if output is not None:
                event = self._advance(sequence, sequence.sampler.sample(self._ctx, output))
                if event is not None:
                    events.append(event)
        return events

    def close(self) -> None:
        """Free the samplers and the batch; idempotent (the context is the caller's)."""
        for sequence in self._sequences.values():
            sequence.sampler.close()
        self._sequences.clear()
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None

    # ---- internals ----
    def _fill_batch(self) -> list[tuple[_Sequence, int | None]]:
        """Write this step's tokens into the batch: one per generating sequence first,
        then prompt chunks; each planned sequence with the batch index of its output
        (None while its prompt is not read to the end)."""
        batch, n = self._batch, 0
        plan: list[tuple[_Sequence, int | None]] = []
        # In slot order: llama.cpp splits a batch whose sequence ids are out of order
        # into several micro-batches, each a pass over all the weights (measured: 8
        # sequences in scrambled order decoded 25-40% slower than in order).
        active = sorted((s for s in self._sequences.values() if not s.paused), key=lambda s: s.slot.index)
        for sequence in active:
            if sequence.next_token is not None:
                self._put(n, sequence.next_token, sequence.slot, len(sequence.slot.cached), logits=True)
                sequence.slot.cached.append(sequence.next_token)
                sequence.next_token = None
                plan.append((sequence, n))
                n += 1
        for sequence in active:
            if not sequence.pending or n >= self._n_batch:
                continue
            chunk = sequence.pending[: self._n_batch - n]
            del sequence.pending[: len(chunk)]
            start = len(sequence.slot.cached)
            for k, token in enumerate(chunk):
                last = not sequence.pending and k == len(chunk) - 1
                self._put(n + k, token, sequence.slot, start + k, logits=last)
            sequence.slot.cached.extend(chunk)
            self.prompt_tokens_decoded += len(chunk)
            n += len(chunk)
            plan.append((sequence, None if sequence.pending else n - 1))
        batch.n_tokens = n
        return plan

    def _put(self, i: int, token: int, slot: _Slot, pos: int, *, logits: bool) -> None:
        batch = self._batch
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = slot.index
        batch.logits[i] = logits

    def _advance(self, sequence: _Sequence, token: int) -> SeqEvent | None:
        """Apply one sampled token: end of generation, stop sequences, the limit."""
        sequence.generated += 1
        if llama_cpp.llama_vocab_is_eog(self._vocab, token):
            return self._finish(sequence, "stop", sequence.text.flush())
        text, stopped = sequence.text.add(piece(self._vocab, token))
        if stopped:
            return self._finish(sequence, "stop", text)
        if sequence.generated >= sequence.limit:
            return self._finish(sequence, "length", text + sequence.text.flush())
        sequence.next_token = token
        return SeqEvent(sequence.seq, text) if text else None

    def _finish(self, sequence: _Sequence, reason: str, text: str) -> SeqEvent:
        del self._sequences[sequence.seq]
        sequence.sampler.close()
        self._release(sequence.slot)
        stats = GenerationStats(
            prompt_eval_count=sequence.prompt_count,
            prompt_eval_duration_ns=sequence.prompt_ns,
            eval_count=sequence.generated,
            eval_duration_ns=sequence.eval_ns,
        )
        return SeqEvent(sequence.seq, text, done=True, done_reason=reason, stats=stats)

    def _free_slot(self, tokens: list[int]) -> _Slot:
        free = [slot for slot in self._slots if slot.owner is None]
        if not free:
            raise RunnerError(f"all {len(self._slots)} sequence slots are busy")
        return max(free, key=lambda slot: (_common_prefix(slot.cached, tokens), -slot.last_used))

    def _reuse_prefix(self, slot: _Slot, tokens: list[int]) -> int:
        """Keep the slot's cells shared with ``tokens`` and remove the rest; how many
        were kept. At least one prompt token is always decoded (its logits are needed)."""
        keep = min(_common_prefix(slot.cached, tokens), len(tokens) - 1)
        if keep < len(slot.cached):
            if not llama_cpp.llama_memory_seq_rm(self._memory, slot.index, keep, -1):
                keep = 0  # this memory cannot cut a sequence short: start it over
                self._clear(slot)
            del slot.cached[keep:]
        return keep

    def _clear(self, slot: _Slot) -> None:
        llama_cpp.llama_memory_seq_rm(self._memory, slot.index, -1, -1)
        slot.cached.clear()

    def _release(self, slot: _Slot) -> None:
        self._tick += 1
        slot.owner, slot.last_used = None, self._tick


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
