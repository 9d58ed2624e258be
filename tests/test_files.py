"""archspec.files: every file archspec writes (checkpoints, metrics, exports, the schema, the README's
gallery) appears whole or not at all, with the permissions of an ordinary file."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
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


def test_write_texts_writes_each_whole_and_a_failure_changes_none(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("old a\n")
    previous = os.umask(0o022)
    try:
        files.write_texts(tmp_path, [("a.yaml", "new a\n"), ("b.yaml", "b\n")])
    finally:
        os.umask(previous)
    assert (tmp_path / "a.yaml").read_text() == "new a\n" and (tmp_path / "b.yaml").read_text() == "b\n"
    assert stat.S_IMODE((tmp_path / "b.yaml").stat().st_mode) == 0o644
    (tmp_path / "folder.yaml").mkdir()

    def texts():
        yield "a.yaml", "newer a\n"
        yield "c.yaml", "c\n"
        yield "folder.yaml", "not a file\n"

    with pytest.raises(files.NotARegularFile):
        files.write_texts(tmp_path, texts())
    assert (tmp_path / "a.yaml").read_text() == "new a\n"  # written only once all are staged
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.yaml", "b.yaml", "folder.yaml"]


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


def test_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path: Path):
    real = tmp_path / "real.json"
    real.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to("real.json")
    files.write_text(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == "real.json" and real.read_text() == "new\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link.json", "real.json"]


def special_targets(tmp_path: Path) -> dict[str, Path]:
    """Targets that are not regular files: a FIFO, a device, links to them, a dangling link, a folder."""
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    links = {name: tmp_path / f"{name}.json" for name in ("to-device", "to-fifo", "dangling")}
    links["to-device"].symlink_to("/dev/full")
    links["to-fifo"].symlink_to(fifo)
    links["dangling"].symlink_to(tmp_path / "nowhere.json")
    (tmp_path / "folder.json").mkdir()
    return {"fifo": fifo, "device": Path("/dev/full"), **links, "folder": tmp_path / "folder.json"}


def test_a_target_that_is_not_a_regular_file_is_refused_and_kept(tmp_path: Path):
    device = os.stat("/dev/full")
    for name, target in special_targets(tmp_path).items():
        with pytest.raises(files.NotARegularFile) as refused:
            files.write_text(target, "{}\n")
        assert refused.value.filename == str(target), name
        assert "not a regular file" in refused.value.strerror or "does not exist" in refused.value.strerror
    # Nothing was replaced (as root, a rename would have replaced the device node) and nothing left.
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (device.st_ino, device.st_rdev)
    assert stat.S_ISFIFO((tmp_path / "fifo.json").lstat().st_mode)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "dangling.json", "fifo.json", "folder.json", "to-device.json", "to-fifo.json"]


def test_export_refuses_a_special_target_and_writes_through_a_link(tmp_path: Path, capsys):
    from archspec.cli import main
    from conftest import SPECS

    spec = str(SPECS / "lenet.yaml")
    for name, target in special_targets(tmp_path).items():
        assert main(["export", spec, "-f", "dot", "-o", str(target)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("archspec export: error: ") and str(target) in err, name
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    (tmp_path / "real.dot").write_text("old\n")
    (tmp_path / "link.dot").symlink_to("real.dot")
    assert main(["export", spec, "-o", str(tmp_path / "link.dot")]) == 0
    assert (tmp_path / "link.dot").is_symlink() and (tmp_path / "real.dot").read_text().startswith("digraph")


def hold_a_write_open(folder: Path) -> subprocess.Popen:
    """A process stopped in the middle of writing folder/last.pt, its temporary file on disk."""
    code = ("import sys, time; from pathlib import Path; from archspec import files; "
            "files.write_with(Path(sys.argv[1]) / 'last.pt', lambda f: (f.write(b'half'), f.flush(), "
            "print('writing', flush=True), time.sleep(600)))")
    writer = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    return writer


def test_stale_parts_are_the_temporary_files_of_writers_that_are_gone(tmp_path: Path):
    live, killed = hold_a_write_open(tmp_path), hold_a_write_open(tmp_path)
    try:
        killed.send_signal(signal.SIGKILL)  # kill -9: no `finally` runs, the temporary file stays
        killed.wait()
        parts = sorted(tmp_path.glob(".last.pt.*.part.pt"))
        assert len(parts) == 2
        older_than = time.time() + 10
        assert files.stale_parts(tmp_path, older_than) == [p for p in parts if f".pid{killed.pid}." in p.name]
        old_style = tmp_path / ".metrics.jsonl.k3j4h5g6.part.jsonl"  # no pid in the name: by age alone
        old_style.write_text("")
        assert old_style in files.stale_parts(tmp_path, older_than)
        assert old_style not in files.stale_parts(tmp_path, old_style.stat().st_mtime)
    finally:
        live.kill()
        live.wait()
