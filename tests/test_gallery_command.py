"""`archspec gallery`: one markdown row per spec, figures from the static check; `--write` replaces only
the text between the README markers, and refuses (exit 2, file untouched) when it cannot."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import archspec
from archspec.cli import main
from archspec.commands.gallery import END, START
from archspec.shapes import show
from conftest import ROOT, SPECS

ROW_START = "| [`"


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def test_one_row_per_spec_with_the_static_figures(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["gallery"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(ROW_START)]
    files = sorted(SPECS.glob("*.yaml"), key=lambda file: file.stem)
    assert len(rows) == len(files) >= 14
    for row, file in zip(rows, files):
        report = archspec.check(file)
        name, shape, params, _, output, accepted = _cells(row)
        assert name == f"[`{report.spec.name}`](specs/{file.name})"
        assert (shape, params, output) == (show(report.input_shape), f"{report.params:,}",
                                           show(report.output_shape))
        assert accepted == report.input_range.describe()


def test_macs_column_uses_torchvision_precision(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["gallery"]) == 0
    macs = {_cells(row)[0]: _cells(row)[3] for row in capsys.readouterr().out.splitlines()
            if row.startswith(ROW_START)}
    assert macs["[`vgg16`](specs/vgg16.yaml)"] == "15.470 G"  # VGG16_Weights meta _ops: 15.47
    assert macs["[`lenet`](specs/lenet.yaml)"] == "416.5 K"


def _readme(tmp_path: Path) -> Path:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{START}\nstale table\n{END}\nafter\n", encoding="utf-8")
    return readme


def test_write_replaces_only_the_text_between_the_markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in ("lenet", "vgg11"):
        (folder / f"{name}.yaml").write_text((SPECS / f"{name}.yaml").read_text(encoding="utf-8"))
    readme = _readme(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["gallery"]) == 0
    printed = capsys.readouterr().out
    monkeypatch.chdir(ROOT)  # links are relative to the README, wherever the command runs
    assert main(["gallery", str(folder), "--write", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    table = text.split(START)[1].split(END)[0].strip()
    assert text.startswith(f"# title\n\nbefore\n{START}\n") and text.endswith(f"\n{END}\nafter\n")
    assert "stale table" not in text
    assert [_cells(row)[0] for row in table.splitlines() if row.startswith(ROW_START)] == [
        "[`lenet`](specs/lenet.yaml)", "[`vgg11`](specs/vgg11.yaml)"]  # links relative to the README
    assert table == printed.strip()  # the same table as printed
    assert main(["gallery", str(folder), "--write", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == text  # idempotent


@pytest.mark.parametrize("markers", ["", START, f"{END}\n{START}", f"{START}\n{START}\n{END}"])
def test_write_refuses_a_file_without_one_pair_of_markers(tmp_path: Path, markers: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"text\n{markers}\n", encoding="utf-8")
    assert main(["gallery", str(SPECS), "--write", str(readme)]) == 2
    assert "gallery:start" in capsys.readouterr().err
    assert readme.read_text(encoding="utf-8") == f"text\n{markers}\n"


def test_invalid_specs_are_all_reported_and_nothing_is_written(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "lenet.yaml").write_text((SPECS / "lenet.yaml").read_text(encoding="utf-8"))
    (folder / "a.yaml").write_text("name: a\ninput: {channels: 3, size: 8}\nstages:\n"
                                   "  - {block: vgg, width: 8, stride: 2}\n")
    (folder / "b.yaml").write_text("name: b\ninput: {channels: 3, size: 1}\nstages:\n"
                                   "  - {block: vgg, width: 8}\n")
    readme = _readme(tmp_path)
    before = readme.read_text(encoding="utf-8")
    assert main(["gallery", str(folder), "--write", str(readme)]) == 2
    err = capsys.readouterr().err
    assert "a.yaml:4:" in err and "stages[0].stride" in err  # a validation error
    assert "b.yaml:4:" in err and "does not fit" in err  # a static check error
    assert readme.read_text(encoding="utf-8") == before


def test_a_folder_without_specs_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gallery", str(tmp_path)]) == 2
    assert "no *.yaml specs" in capsys.readouterr().err
    assert main(["gallery", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_a_file_to_write_that_cannot_be_read_says_why_in_plain_words(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    missing, binary = tmp_path / "missing.md", tmp_path / "binary.md"
    binary.write_bytes(b"text\n\xff\xfe\n")
    assert main(["gallery", str(SPECS), "--write", str(missing)]) == 2
    # the system's own words for the reason, once (they were repeated with the errno and the path)
    assert capsys.readouterr().err.strip() == (f"archspec gallery: error: cannot read {missing}: "
                                               f"{os.strerror(errno.ENOENT)}")
    assert main(["gallery", str(SPECS), "--write", str(binary)]) == 2
    assert capsys.readouterr().err.strip() == (f"archspec gallery: error: cannot read {binary}: expected UTF-8 "
                                               "text, found the byte 0xff at byte offset 5")
    assert binary.read_bytes() == b"text\n\xff\xfe\n"


def test_a_file_name_with_spaces_parentheses_or_a_bar_links_in_one_cell(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`my net (v2)|x.yaml` was linked as written: the space and parenthesis end a markdown link, the
    `|` splits the table's cell."""
    (tmp_path / "my net (v2)|x.yaml").write_text((SPECS / "lenet.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["gallery", "."]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert row.startswith("| [`lenet`](my%20net%20%28v2%29%7Cx.yaml) | ") and row.count("|") == 7
