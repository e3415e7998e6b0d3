"""Writes the benchmark's model: a deterministic random-weight llama GGUF (F16).

The benchmark must not depend on downloaded weights, yet must run a model of a
realistic size (issue 8 measures a ~110M-parameter F16 llama on 2 cores), with a
real SentencePiece-style vocabulary so that text prompts tokenize the same way in
every server. So it writes one here with the ``gguf`` package, shaped like
llama2.c's ``stories110M`` (dim 768, 12 layers, 12 heads, ffn 2048, vocab 32000,
output tied to the token embedding: 109.5M parameters).

Every measured response must generate exactly ``num_predict`` tokens, and the
streaming servers must send one chunk per token. Random weights could sample EOS
(ending a stream early) or a byte-fallback token (whose incomplete UTF-8 servers
hold back, merging chunks). Both are made unreachable under greedy decoding:

- dimension 0 of the residual stream is a constant ``+C``: every normal token's
  embedding has ``C`` there, and no layer writes it (row 0 of ``attn_output`` and
  ``ffn_down`` is zero), so after the final RMSNorm (weight 1 there) ``h[0] > 0``
  at every position;
- control and byte tokens' embedding rows are ``(-1, 0, …, 0)``; the output is
  tied, so their logit is ``-h[0] < 0``, while the best of ~31,700 normal tokens'
  random logits (shifted by ``+C·h[0]``) is positive.

Invariant: the same ``BenchDims`` give byte-identical files; ``cached_bench_model``
writes each shape once, atomically, keyed by its parameters.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import string
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from gguf import GGUFWriter, TokenType

from tests.fixtures.tiny_gguf import add_llama_hparams, add_llama_tokenizer, llama_block_tensors

__all__ = [
    "BOS_ID",
    "BenchDims",
    "EOS_ID",
    "FULL_DIMS",
    "QUICK_DIMS",
    "cached_bench_model",
    "default_cache_dir",
    "kv_cache_bytes",
    "write_bench_gguf",
]

_FORMAT_VERSION = 1  # bump when the writer's output changes for the same dims
_CONTROL_TOKENS = ("<unk>", "<s>", "</s>")
BOS_ID = 1
EOS_ID = 2
_EMBED_CONSTANT = 0.05  # C: about three standard deviations of an embedding entry


@dataclass(frozen=True)
class BenchDims:
    """Shape of the benchmark transformer; ``n_vocab`` includes control and byte tokens."""

    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_head_kv: int = 12
    n_ff: int = 2048
    n_vocab: int = 32000
    n_ctx_train: int = 2048
    seed: int = 110

    def parameter_count(self) -> int:
        """Parameters of the model as written (tied output: the embedding counts once)."""
        head_dim = self.n_embd // self.n_head
        attn = 2 * self.n_embd * self.n_head * head_dim + 2 * self.n_embd * self.n_head_kv * head_dim
        ffn = 3 * self.n_embd * self.n_ff
        per_layer = attn + ffn + 2 * self.n_embd
        return self.n_vocab * self.n_embd + self.n_layer * per_layer + self.n_embd

    def key(self) -> str:
        """A short stable name for the cache: the dims, the seed and the writer's version."""
        text = repr((_FORMAT_VERSION, sorted(asdict(self).items())))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


FULL_DIMS = BenchDims()
QUICK_DIMS = BenchDims(n_embd=128, n_layer=2, n_head=4, n_head_kv=4, n_ff=256, n_vocab=2000, seed=7)


def kv_cache_bytes(dims: BenchDims, n_ctx: int) -> int:
    """Bytes of an F16 K+V cache of ``n_ctx`` cells (llama.cpp's default cache type)."""
    head_dim = dims.n_embd // dims.n_head
    return 2 * dims.n_layer * n_ctx * dims.n_head_kv * head_dim * 2


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ollama-actors-bench`` (else ``~/.cache/…``): models survive runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ollama-actors-bench"


def cached_bench_model(dims: BenchDims, cache_dir: Path | None = None) -> Path:
    """The GGUF for ``dims``, written on first use (to a temp name, then renamed)."""
    folder = cache_dir or default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-{dims.key()}.gguf"
    if not path.exists():
        partial = folder / f".{path.name}.{os.getpid()}.partial"
        write_bench_gguf(partial, dims)
        os.replace(partial, path)
    return path


def write_bench_gguf(path: Path, dims: BenchDims) -> Path:
    """Write the model for ``dims`` to ``path`` and return ``path`` (seconds for 110M)."""
    tokens, scores, types = _vocabulary(dims.n_vocab)
    writer = GGUFWriter(str(path), arch="llama")
    add_llama_hparams(writer, dims, n_vocab=dims.n_vocab, name=f"bench-llama-{dims.parameter_count() // 1_000_000}m")
    add_llama_tokenizer(writer, tokens, scores, types, bos_id=BOS_ID, eos_id=EOS_ID)
    for name, array in _weights(dims, types):
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


_WORDS = """
the of and to in is you that it he was for on are as with his they at be this have
from or one had by word but not what all were we when your can said there use an
each which she do how their if will up other about out many then them these so some
her would make like him into time has look two more write go see number no way could
people my than first water been call who oil its now find long down day did get come
made may part once upon little girl named lily loved play outside park saw big red
ball tree house good bad yes thank please sorry why where very much well just know
think new old story day night sun moon dog cat bird fish boat river forest friend
""".split()


def _vocabulary(n_vocab: int) -> tuple[list[str], list[float], list[int]]:
    """Control tokens, 256 byte tokens, then SentencePiece pieces up to ``n_vocab``.

    Pieces: ``▁`` and printable ASCII, every prefix of common words (with and
    without ``▁``), then letter pairs and triples, so that any text tokenizes and
    English words mostly become one or two tokens. Longer pieces score higher
    (SentencePiece merges the best-scoring pair first).
    """
    head = list(_CONTROL_TOKENS) + [f"<0x{b:02X}>" for b in range(256)]
    types = [TokenType.UNKNOWN] + [TokenType.CONTROL] * (len(_CONTROL_TOKENS) - 1) + [TokenType.BYTE] * 256
    room = n_vocab - len(head)
    if room < 96:
        raise ValueError(f"n_vocab must be at least {len(head) + 96} (control, byte and ASCII tokens)")
    pieces = _pieces(room)
    tokens = head + pieces
    types += [TokenType.NORMAL] * len(pieces)
    scores = [0.0] * len(head) + [len(p) - 100.0 for p in pieces]
    return tokens, scores, [int(t) for t in types]


def _pieces(room: int) -> list[str]:
    seen: dict[str, None] = dict.fromkeys(["▁"] + [chr(c) for c in range(33, 127)])
    words = (f"{prefix}{word}" for word in _WORDS for prefix in ("▁", "", "▁", ""))
    letters = string.ascii_lowercase
    grams = ("".join(g) for n in (2, 3) for g in itertools.product(letters, repeat=n))
    spaced = ("▁" + "".join(g) for n in (1, 2, 3) for g in itertools.product(letters, repeat=n))
    for text in itertools.chain(words, itertools.chain.from_iterable(zip(spaced, grams))):
        for end in range(2, len(text) + 1):
            seen.setdefault(text[:end])
            if len(seen) >= room:
                return list(seen)[:room]
    raise ValueError(f"cannot make {room} distinct pieces")


def _weights(dims: BenchDims, types: list[int]) -> list[tuple[str, np.ndarray]]:
    """Random F16 weights in llama.cpp's tensor names; numpy shapes are GGUF dims reversed."""
    rng = np.random.default_rng(dims.seed)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * (0.5 / np.sqrt(cols))).astype(np.float16)

    def writes_residual(rows: int, cols: int) -> np.ndarray:
        out = matrix(rows, cols)
        out[0, :] = 0  # never touch residual dimension 0 (see the module docstring)
        return out

    def norm() -> np.ndarray:
        out = (1.0 + 0.1 * rng.standard_normal(dims.n_embd)).astype(np.float32)
        out[0] = 1.0
        return out

    out: list[tuple[str, np.ndarray]] = [("token_embd.weight", _embedding(matrix(dims.n_vocab, dims.n_embd), types))]
    for i in range(dims.n_layer):
        out += llama_block_tensors(i, dims.n_embd, dims.n_head, dims.n_head_kv, dims.n_ff,
                                   matrix=matrix, norm=norm, residual=writes_residual)
    out.append(("output_norm.weight", norm()))  # no output.weight: tied to token_embd
    return out


def _embedding(table: np.ndarray, types: list[int]) -> np.ndarray:
    """Normal tokens carry ``+C`` in dimension 0; control and byte tokens are ``(-1, 0, …)``."""
    table[:, 0] = _EMBED_CONSTANT
    unreachable = np.array([t != int(TokenType.NORMAL) for t in types])
    table[unreachable, :] = 0
    table[unreachable, 0] = -1.0
    return table
