"""A model's vocabulary through llama.cpp: text ⇄ tokens, token pieces.

On the raw ``llama_tokenize``/``llama_token_to_piece`` calls (the batch decoder
has no ``Llama`` object), growing the buffers when llama.cpp asks for more.
"""

from __future__ import annotations

import ctypes

import llama_cpp

__all__ = ["piece", "token_text", "tokenize"]


def tokenize(vocab: object, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
    """Tokens of ``text``; ``add_special`` adds the model's BOS/EOS when it wants them."""
    data = text.encode("utf-8")
    size = len(data) + 8
    for _ in range(2):
        buf = (llama_cpp.llama_token * size)()
        n = llama_cpp.llama_tokenize(vocab, data, len(data), buf, size, add_special, parse_special)
        if n >= 0:
            return list(buf[:n])
        size = -n  # too small: llama.cpp says how many it needs
    raise ValueError("llama_tokenize kept asking for a larger buffer")


def piece(vocab: object, token: int) -> bytes:
    """Bytes of one token, special tokens included (Ollama's ``TokenToPiece``)."""
    buf = ctypes.create_string_buffer(64)
    n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, True)
    if n < 0:
        buf = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, True)
    return buf.raw[:n]


def token_text(vocab: object, token: int) -> str:
    """The vocabulary's text for ``token`` ("" for -1, the "no such token" id)."""
    if token < 0:
        return ""
    return bytes(llama_cpp.llama_vocab_get_text(vocab, token)).decode("utf-8", errors="replace")
