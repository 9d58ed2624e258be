"""Errors a user can act on: every diagnostic has file:line:col, the spec path, expected vs found and,
where one exists, a suggestion; all errors of a spec come together, sorted by line; the terminal form
quotes the YAML line with a caret; `--json` gives the same as data; exit codes are 0 and 2, never a
traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec import SpecError
from archspec.cli import main
from archspec.errors import Diagnostic
from conftest import ROOT

HEADER = "name: t\ninput: {channels: 3, size: 32}\n"


def errors_of(text: str, tmp_path: Path) -> list[Diagnostic]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        return list(archspec.check(archspec.load(path)).errors)
    except SpecError as error:
        return list(error.errors)


# (the spec after HEADER, line:col or line:the text the caret points at, spec path, words of the message,
#  words of the hint)
CATALOG = [
    ("stages: [{block: botleneck, width: 16}]", "3:18", "stages[0].block",
     "unknown block kind `botleneck`; expected one of: basic, bottleneck", "did you mean `bottleneck`?"),
    ("stages: [{block: basic, width: 16, repeat: 2}]", "3:36", "stages[0].repeat", "unknown key `repeat`",
     "did you mean `repeats`?"),
    ("head: [{layer: flaten}]", "3:16", "head[0].layer", "unknown layer kind `flaten`", "did you mean `flatten`?"),
    ("stem: [{layer: conv, width: 16}]\nstages: [{block: basic, width: 32, stride: 2, shortcut: identity}]",
     "4:identity", "stages[0].shortcut", "main path gives 32x15x15 and the shortcut gives 16x30x30",
     "stride 2 changes the size and width 16 -> 32 changes the channels: use shortcut A or B"),
    ("stages: [{block: basic, width: 3, stride: 2, shortcut: identity}]", "3:identity", "stages[0].shortcut",
     "main path gives 3x16x16 and the shortcut gives 3x32x32", "stride 2 changes the size: use shortcut A or B"),
    ("stem: [{layer: conv, width: 16}]\nstages: [{block: basic, width: 8, shortcut: identity}]",
     "4:identity", "stages[0].shortcut", "main path gives 8x30x30 and the shortcut gives 16x30x30",
     "width 16 -> 8 changes the channels: use shortcut B here instead of `identity` (A cannot reduce"),
    ("shortcut: b", "3:11", "shortcut", "expected 'A', 'B', 'C', 'D', 'identity' or 'none', found \"b\"",
     "did you mean `B`?"),
    ("stem: [{layer: conv, width: '16'}]", "3:29", "stem[0].width", 'expected an integer, found "16"',
     "write the number without quotes"),
    ("stem: [{layer: conv, width: 16.0}]", "3:29", "stem[0].width", "expected an integer, found 16.0",
     "write 16, without the decimal point"),
    ("stem: [{layer: conv, width: 16, bias: 1}]", "3:39", "stem[0].bias", "expected true or false, found 1", None),
    ("stem: [{layer: conv, width: 16, kernel: 40}]", "3:41", "stem[0].kernel",
     "kernel 40x40, stride 1x1, padding 0x0 does not fit its 32x32 input",
     "the network accepts 3xHxW with H >= 40, W >= 40: write `input: {channels: 3, size: 40}`"),
    ("head: [{layer: global_avgpool}, {layer: linear, width: 10}]", "3:33", "head[1]",
     "linear expects a flat vector, found an image of shape 3x1x1", "add `- layer: flatten`"),
    ("stages: [{block: inception, c1: 4, c2: [4, 8], c3: [2], c4: 4}]", "3:[2]", "stages[0].c3",
     "expected a list of 2 numbers [reduce, out], found [2]", None),
    ("stages: [{block: basic, width: 8, blocks: []}]", "3:10", "stages[0]",
     "expected either `block` or `blocks`, found both", "remove `block:` or `blocks:`"),
    ("stages: [{layer: maxpool}]", "3:10", "stages[0]", "missing `block`",
     "write the layer in a list stage, {blocks: [{layer: ...}]}"),
    ("stages: [{block: basic}]", "3:10", "stages[0].width", "missing required key `width`", "add `width: ...`"),
    ("hed: []", "3:1", "hed", "unknown key `hed`", "did you mean `head`?"),
    ("name: u", "3:1", "name", "duplicate key `name` (first given on line 1)", "remove one of the two"),
    ("stem: [{layer: conv, width: 65536, kernel: 1}]\nhead: [{layer: flatten}, {layer: linear, width: 100}]",
     "4:{layer: linear", "head[1]", ("expected at most 4.0 GiB of memory (the budget), found that the network "
                                     "needs about 25.5 GiB: 25.0 GiB of parameters (the most, 6,710,886,500, "
                                     "in fc) + 516.1 MiB of activations at once"), "--max-memory"),
    ("stem: [{layer: conv, width: 4}]\nhead: [{layer: dropout, p: .nan}]", "4:28", "head[0].p",
     "expected a finite number, found `.nan`", None),
]


@pytest.mark.parametrize("body, where, path, message, hint", CATALOG, ids=[c[2] + ":" + c[3][:20] for c in CATALOG])
def test_each_error_names_place_path_expected_found_and_what_to_do(
        body: str, where: str, path: str, message: str, hint: str | None, tmp_path: Path):
    errors = errors_of(HEADER + body + "\n", tmp_path)
    assert len(errors) == 1, [d.render() for d in errors]
    error = errors[0]
    spec_file = str(tmp_path / "spec.yaml")
    line, column = where.split(":", 1)
    if not column.isdigit():
        column = str((HEADER + body).splitlines()[int(line) - 1].index(column) + 1)
    assert (error.file, error.line, error.column, error.path_text) == (spec_file, int(line), int(column), path)
    assert message in error.message
    assert hint is None or (error.hint and hint in error.hint), error.hint


def test_the_budget_case_is_over_budget_only_because_of_its_size():
    text = (HEADER + "stem: [{layer: conv, width: 65536, kernel: 1}]\n"
            "head: [{layer: flatten}, {layer: linear, width: 100}]\n")
    assert archspec.check(archspec.load(text), max_memory=None).ok  # valid, only too big


MANY = """# yaml-language-server: $schema=../schemas/archspec.schema.json
name: many
input: {channels: 3, size: 32}
shortcut: b
stem:
  - {layer: conv, width: '16', kernel: 3, padding: 1}
stages:
  - {block: botleneck, width: 16}
  - {block: basic, width: 32, repeat: 2, stride: 2}
head:
  - {layer: flaten}
  - {layer: linear, width: 10.0}
"""

SHAPES = """name: shapes
input: {channels: 3, size: 32}
stem:
  - {layer: conv, width: 16, kernel: 3, padding: 1}
stages:
  - {block: basic, width: 32, stride: 2, shortcut: identity}
  - {block: basic, width: 64, stride: 2, shortcut: identity}
head:
  - {layer: global_avgpool}
  - {layer: linear, width: 10}
"""


@pytest.mark.parametrize("text, lines", [(MANY, [4, 6, 8, 9, 11, 12]), (SHAPES, [6, 7, 10])],
                         ids=["validation", "shapes"])
def test_all_errors_come_together_sorted_by_line(text: str, lines: list[int], tmp_path: Path):
    errors = errors_of(text, tmp_path)
    assert [d.line for d in errors] == lines
    assert all(d.file and d.line and d.column and d.path and d.message for d in errors)


def test_terminal_form_quotes_the_line_with_a_caret_under_the_column(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "many.yaml"
    path.write_text(MANY, encoding="utf-8")
    assert main(["check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    from archspec.definitions import known_kinds

    first = lines.index(f"{path}:8:13: error: stages[0].block: unknown block kind `botleneck`; expected one of: "
                        + ", ".join(known_kinds()))
    assert lines[first + 1] == "      - {block: botleneck, width: 16}"
    assert lines[first + 2] == "    " + " " * 12 + "^"
    assert lines[first + 3] == "  hint: did you mean `bottleneck`?"
    assert lines[-1] == "6 errors"


@pytest.mark.parametrize("text", [MANY, SHAPES], ids=["validation", "shapes"])
def test_json_gives_every_error_as_data(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path), "--json"]) == 2
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["ok"] is False and report["params"] is None and err == ""
    expected = [d.to_json() for d in errors_of(text, tmp_path)]
    assert report["errors"] == expected
    assert all(set(e) == {"path", "file", "line", "column", "message", "hint"} for e in report["errors"])
    ok = archspec.check(archspec.load(ROOT / "specs" / "resnet18.yaml")).to_json()
    assert set(report) == set(ok)  # one shape of object, whether loading or checking failed


def test_exit_codes_and_no_traceback_from_a_real_process(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SHAPES, encoding="utf-8")
    runs = {
        "ok": ["check", str(ROOT / "specs" / "resnet18.yaml")],
        "invalid spec": ["check", str(bad)],
        "invalid spec, compile": ["compile", str(bad)],
        "missing file": ["check", str(tmp_path / "nope.yaml")],
        "bad --input": ["check", str(bad), "--input", "3x-1x9"],
        "unknown command": ["frobnicate"],
    }
    codes = {}
    for name, args in runs.items():
        done = subprocess.run([sys.executable, "-m", "archspec", *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=120, check=False)
        assert "Traceback" not in done.stdout + done.stderr, name
        codes[name] = done.returncode
    assert codes == {"ok": 0, "invalid spec": 2, "invalid spec, compile": 2, "missing file": 2,
                     "bad --input": 2, "unknown command": 2}


def test_api_raises_spec_error_a_value_error_with_structured_errors():
    with pytest.raises(ValueError) as caught:
        archspec.load(HEADER + "stages: [{block: botleneck, width: 16}]\n")
    error = caught.value
    assert isinstance(error, SpecError)
    assert str(error).startswith("1 error in spec\n<spec>:3:18: error: stages[0].block")
    assert error.errors[0].to_json()["hint"] == "did you mean `bottleneck`?"
    with pytest.raises(SpecError):
        archspec.compile(archspec.load(SHAPES))
