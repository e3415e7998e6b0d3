"""The ``SystemMemory`` port read from ``/proc/meminfo`` (Linux's ``MemAvailable``)."""

from __future__ import annotations

import os

__all__ = ["ProcMeminfoSystemMemory"]


class ProcMeminfoSystemMemory:
    """``MemAvailable`` from ``/proc/meminfo``; where that file is missing, physical pages free."""

    def __init__(self, path: str = "/proc/meminfo") -> None:
        self._path = path

    def available_bytes(self) -> int:
        try:
            with open(self._path, encoding="ascii") as meminfo:
                for line in meminfo:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024  # the file counts kB
        except OSError:
            pass
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
