"""The kernel package re-exports exactly its modules' public names, sorted."""

from __future__ import annotations

import importlib
import pkgutil

import ollama_actors.kernel as kernel


def module_names() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(kernel.__path__) if not m.name.startswith("_")]


def test_all_is_sorted_and_every_name_exists() -> None:
    assert kernel.__all__ == sorted(kernel.__all__)
    assert all(hasattr(kernel, name) for name in kernel.__all__)


def test_all_is_the_union_of_the_modules_public_names() -> None:
    names: set[str] = set()
    for module in module_names():
        names |= set(importlib.import_module(f"ollama_actors.kernel.{module}").__all__)
    assert set(kernel.__all__) == names
