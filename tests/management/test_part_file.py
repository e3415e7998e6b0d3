"""PartFile: parts written at their offsets, progress kept in a sidecar across reopenings."""

from __future__ import annotations

import json
from pathlib import Path

from ollama_actors.management.adapters.part_file import PartFile, sidecar_path
from ollama_actors.management.domain.parts import plan_parts

PLAN = plan_parts(10, min_part=4, max_part=4, count=16)  # [0,4) [4,8) [8,10)


def test_parts_land_at_their_offsets_and_progress_survives_a_reopen(tmp_path: Path) -> None:
    partial = tmp_path / "sha256-x-partial"
    partial.touch()
    with PartFile.open(partial, PLAN) as file:
        file.write_at(2, b"ij")
        file.write_at(0, b"ab")
    assert partial.stat().st_size == 10
    assert json.loads(sidecar_path(partial).read_text())["parts"] == [[0, 4, 2], [4, 8, 0], [8, 10, 2]]
    with PartFile.open(partial, PLAN) as again:  # e.g. after a daemon restart
        assert again.state.missing() == (0, 1) and again.state.parts[0].offset == 2
        again.write_at(0, b"cd")
        again.write_at(1, b"efgh")
        assert again.state.complete
    assert partial.read_bytes() == b"abcdefghij"


def test_a_single_stream_partial_is_resumed_in_parts(tmp_path: Path) -> None:
    partial = tmp_path / "sha256-x-partial"
    partial.write_bytes(b"abcde")
    with PartFile.open(partial, PLAN) as file:
        assert [p.done for p in file.state.parts] == [4, 1, 0]


def test_collapse_keeps_the_gap_free_prefix_for_a_single_stream(tmp_path: Path) -> None:
    partial = tmp_path / "sha256-x-partial"
    partial.touch()
    with PartFile.open(partial, PLAN) as file:
        file.write_at(0, b"abcd")
        file.write_at(1, b"e")
        file.write_at(2, b"ij")
    PartFile.collapse(partial, PLAN)
    assert partial.read_bytes() == b"abcde" and not sidecar_path(partial).exists()


def test_a_damaged_sidecar_starts_the_blob_over(tmp_path: Path) -> None:
    partial = tmp_path / "sha256-x-partial"
    partial.write_bytes(b"\0" * 10)
    sidecar_path(partial).write_text("{not json")
    with PartFile.open(partial, PLAN) as file:
        # no trustworthy record: the full-length file is not taken as a finished prefix
        assert file.state.completed == 0
    sidecar_path(partial).write_text(json.dumps({"size": 10, "parts": [[0, 4, 4], [4, 8, 4], [8, 10, 2]]}))
    partial.write_bytes(b"")
    with PartFile.open(partial, PLAN) as file:
        assert file.state.completed == 0  # progress claimed for bytes that are not there
