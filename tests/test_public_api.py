"""Each package's ``__init__`` re-exports a sorted ``__all__`` whose names exist (style §1)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import ollama_actors

PACKAGES = sorted(
    m.name for m in pkgutil.walk_packages(ollama_actors.__path__, prefix="ollama_actors.") if m.ispkg
)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_all_is_sorted_and_complete(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    if exported is None:
        pytest.skip(f"{package} re-exports nothing yet")
    assert list(exported) == sorted(exported)
    assert all(hasattr(module, name) for name in exported)


def test_domain_imports_no_io_framework() -> None:
    """Domain code imports neither trio, pykka nor quart."""
    import sys

    import ollama_actors.domain  # noqa: F401 - loads every domain module
    import ollama_actors.domain.gotemplate  # noqa: F401

    for name in [m for m in sys.modules if m.startswith("ollama_actors.domain")]:
        source = importlib.import_module(name).__file__ or ""
        text = open(source, encoding="utf-8").read()
        for framework in ("import trio", "import pykka", "from quart", "import quart"):
            assert framework not in text, f"{name} imports {framework}"
