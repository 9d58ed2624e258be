"""archspec.files: every file archspec writes (checkpoints, metrics, exports, the schema, the README's
gallery) appears whole or not at all, with the permissions of an ordinary file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from archspec import files


def test_write_text_replaces_the_target_and_leaves_nothing_else(tmp_path: Path):
    target = tmp_path / "spec.yaml"
    target.write_text("old\n")
    files.write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [path.name for path in tmp_path.iterdir()] == ["spec.yaml"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"the previous checkpoint")

    def fail_halfway(file) -> None:
        file.write(b"half a checkpoint")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError, match="killed"):
        files.write_with(target, fail_halfway)
    assert target.read_bytes() == b"the previous checkpoint"
    assert [path.name for path in tmp_path.iterdir()] == ["last.pt"]


def test_files_get_the_umasks_permissions_not_mkstemps_0600(tmp_path: Path):
    previous = os.umask(0o022)
    try:
        files.write_text(tmp_path / "schema.json", "{}\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "schema.json").stat().st_mode) == 0o644


def test_staged_gives_a_path_with_the_targets_suffix(tmp_path: Path):
    with files.staged(tmp_path / "model.onnx") as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".onnx"
        temporary.write_bytes(b"onnx")
    assert (tmp_path / "model.onnx").read_bytes() == b"onnx"
