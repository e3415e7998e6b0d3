"""Suite-wide fixtures: a clean environment per test, the generated models, daemons."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.fixtures.models", "tests.fixtures.daemons", "tests.fixtures.registry"]


@pytest.fixture(autouse=True)
def _clean_ollama_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's OLLAMA_* settings."""
    for key in list(os.environ):
        if key.startswith(("OLLAMA_", "XDG_RUNTIME_DIR")):
            monkeypatch.delenv(key, raising=False)
    yield
