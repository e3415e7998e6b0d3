"""Ed25519Signer: the user's registry key, ``~/.ollama/id_ed25519``, as Ollama keeps it.

Ollama identifies a user to registry.ollama.ai by an ed25519 key in OpenSSH
format (``id_ed25519``, with ``id_ed25519.pub`` beside it); ``ollama serve``
creates it when missing and prints the public key, which the user registers on
ollama.com. A token request carries ``Authorization: <key>:<signature>``: the
base64 key blob (the middle field of the ``ssh-ed25519 AAAA…`` line) and the
base64 raw ed25519 signature (``auth/auth.go``). The ``cryptography`` package
reads and writes the OpenSSH format, so no SSH code is written by hand here.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["Ed25519Signer", "default_key_path"]


def default_key_path() -> Path:
    """``~/.ollama/id_ed25519``, where Ollama keeps the user's key."""
    return Path.home() / ".ollama" / "id_ed25519"


class Ed25519Signer:
    """Signs registry token requests with the key at ``path``, created on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ensure(self) -> bool:
        """Create the key pair if missing (private file mode 0600); True when it was created."""
        if self.path.exists():
            return False
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.path)
        self.path.with_name(self.path.name + ".pub").write_text(_public_line(key) + "\n", encoding="utf-8")
        return True

    def public_key(self) -> str:
        """``ssh-ed25519 AAAA…``, the line a user registers on ollama.com."""
        return _public_line(self._load())

    def sign(self, data: bytes) -> str:
        """``<base64 key blob>:<base64 signature of data>``, Ollama's Authorization value."""
        key = self._load()
        blob = _public_line(key).split(" ")[1]
        return f"{blob}:{base64.b64encode(key.sign(data)).decode()}"

    def _load(self) -> Ed25519PrivateKey:
        self.ensure()
        key = serialization.load_ssh_private_key(self.path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{self.path} is not an ed25519 key")
        return key


def _public_line(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
