"""``serve`` creates the user's registry key as ``ollama serve`` does, and a home it
cannot write to does not stop it (the end-to-end start is in test_daemon_lifecycle)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ollama_actors.daemon import ensure_keypair
from ollama_actors.management.adapters.ssh_key import default_key_path


def test_the_key_path_follows_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_key_path() == tmp_path / ".ollama" / "id_ed25519"


def test_a_missing_key_is_created_once_and_its_public_key_printed(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / ".ollama" / "id_ed25519"
    assert ensure_keypair(key) is True
    public = key.with_name("id_ed25519.pub").read_text()
    assert public.startswith("ssh-ed25519 AAAA") and public.endswith("\n")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (f"Couldn't find '{key}'. Generating new private key.\n"
                       f"Your new public key is: \n\n{public}\n")
    assert ensure_keypair(key) is False  # an existing key is kept and nothing is printed
    assert capsys.readouterr().err == ""
    assert key.with_name("id_ed25519.pub").read_text() == public


def test_a_home_it_cannot_write_to_is_a_warning_not_a_failure(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".ollama").write_text("not a folder")  # fails for root too, unlike a read-only mode
    with capture_logs() as logs:
        assert ensure_keypair(tmp_path / ".ollama" / "id_ed25519") is False
    assert [entry["event"] for entry in logs] == ["keypair_not_created"]
    assert logs[0]["log_level"] == "warning"
    assert capsys.readouterr().err == ""
