"""Digests: Ollama's ``^sha256[:-][0-9a-fA-F]{64}$`` rule, normalised to one spelling."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_actors.domain import digests
from ollama_actors.domain.digests import Digest, digest_of_bytes, is_valid_digest, parse_digest
from ollama_actors.domain.errors import InvalidDigestError

HEX = "6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

VALID = [
    (f"sha256:{HEX}", HEX),
    (f"sha256-{HEX}", HEX),
    (f"sha256:{HEX.upper()}", HEX),
    (f"sha256-{HEX[:32].upper()}{HEX[32:]}", HEX),
]

INVALID = [
    "",
    HEX,
    f"sha256:{HEX[:-1]}",
    f"sha256:{HEX}0",
    f"sha256:{HEX}\n",
    f" sha256:{HEX}",
    f"sha512:{HEX}",
    f"SHA256:{HEX}",
    f"sha256_{HEX}",
    f"sha256:{'g' * 64}",
    "sha256:../../../../etc/passwd",
    f"sha256-{HEX[:60]}/../",
    f"sha256:{HEX}-partial",
    f"sha256::{HEX}",
]


@pytest.mark.parametrize(("raw", "hexdigest"), VALID)
def test_valid_digests_are_normalised(raw: str, hexdigest: str) -> None:
    digest = parse_digest(raw)
    assert digest.hex == hexdigest
    assert str(digest) == f"sha256:{hexdigest}"
    assert digest.filename == f"sha256-{hexdigest}"
    assert digest.short == hexdigest[:12]
    assert is_valid_digest(raw)


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_digests_raise_invalid_digest_format(raw: str) -> None:
    with pytest.raises(InvalidDigestError) as info:
        parse_digest(raw)
    assert str(info.value) == "invalid digest format"
    assert info.value.status == 400
    assert not is_valid_digest(raw)


def test_non_string_is_an_invalid_digest() -> None:
    with pytest.raises(InvalidDigestError):
        parse_digest(b"sha256:" + HEX.encode())  # type: ignore[arg-type]


def test_digest_constructor_only_accepts_lowercase_hex() -> None:
    with pytest.raises(InvalidDigestError):
        Digest(HEX.upper())
    with pytest.raises(InvalidDigestError):
        Digest("../" + HEX[3:])
    assert Digest(HEX) == parse_digest(f"sha256-{HEX}")


def test_digest_of_bytes_is_sha256() -> None:
    assert digest_of_bytes(b"").hex == EMPTY
    assert str(digest_of_bytes(b"GGUF")) == "sha256:" + hashlib.sha256(b"GGUF").hexdigest()


def test_digests_order_by_hex() -> None:
    assert sorted([Digest("f" * 64), Digest("0" * 64)]) == [Digest("0" * 64), Digest("f" * 64)]


def test_module_all_is_sorted_and_exported() -> None:
    assert digests.__all__ == sorted(digests.__all__)
    assert all(hasattr(digests, item) for item in digests.__all__)


@given(st.binary(max_size=256))
def test_both_spellings_round_trip(data: bytes) -> None:
    digest = digest_of_bytes(data)
    assert parse_digest(str(digest)) == digest
    assert parse_digest(digest.filename) == digest
    assert parse_digest(str(digest).upper().replace("SHA256", "sha256")) == digest


@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_invalid_digest(raw: str) -> None:
    try:
        digest = parse_digest(raw)
    except InvalidDigestError:
        return
    assert len(digest.hex) == 64 and "/" not in digest.filename
