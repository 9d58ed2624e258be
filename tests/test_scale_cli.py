"""`archspec scale --set` and `--json`: the overrides written into the scaled file where the file
writes the values, and one JSON object with the scaled spec's check and the changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_scale import SCALED_SPEC, run_cli

import archspec

SPEC = (SCALED_SPEC.replace("input: {channels: 3, size: 32}\n", "vars: {classes: 100, base: 64}\n"
                            "input: {channels: 3, size: 32}\nshortcut: B        # projections\n")
        .replace("{layer: linear, width: 100}   # the classes: never scaled",
                 '{layer: linear, width: "${classes}"}   # the classes'))


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    return path


def test_set_is_written_into_the_scaled_file_in_place(small: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "out.yaml"
    overrides = ["classes=10", "stages[1].width=96", "shortcut=A", "head[-1].width=12"]
    code, _, err = run_cli(capsys, "scale", str(small), "--width", "0.5", "-o", str(target),
                           *(part for text in overrides for part in ("--set", text)))
    assert code == 0, err
    written = target.read_text()
    assert "vars: {classes: 10, base: 64}" in written and "shortcut: A        # projections" in written
    assert "{block: basic, width: 48, repeats: 4, stride: 2}" in written  # 96, then scaled
    assert "{layer: linear, width: 12}   # the classes" in written  # the expression's place, overridden
    assert written.count("\n") == SPEC.count("\n")
    expected = archspec.load(small, overrides)
    scaled = archspec.load(target)
    assert (scaled.shortcut, scaled.head[-1].width, scaled.stem[0].width) == ("A", 12, 32)
    assert expected.stages[1].width == 96 and scaled.stages[1].width == 48


def test_set_that_cannot_be_written_in_place_is_named(small: Path, capsys: pytest.CaptureFixture[str]):
    code, out, err = run_cli(capsys, "scale", str(small), "--width", "0.5", "--set", "init=kaiming",
                             "--set", "stem[1]={layer: batchnorm, eps: 0.001}")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "--set init=kaiming makes `init` kaiming here, but the file does not write it" in err
    assert "--set stem[1]={layer: batchnorm, eps: 0.001}: " in err and "not a list or mapping" in err
    code, _, err = run_cli(capsys, "scale", str(small), "--width", "0.5", "--set", "stages[5].width=3")
    assert code == 2 and "--set stages[5].width=3: the spec has 2 stages" in err


def test_json_holds_the_check_the_changes_and_the_text(small: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]):
    code, out, err = run_cli(capsys, "scale", str(small), "--depth", "0.5", "--set", "classes=10", "--json")
    assert code == 0, err
    result = json.loads(out)
    checked = json.loads(run_cli(capsys, "check", str(small), "--set", "classes=10", "--json")[1])
    assert set(checked) <= set(result) and result["ok"] and result["output_shape"] == [10]
    assert result["scale"] == {"depth": 0.5, "width": 1.0, "divisor": 8} and result["overrides"] == ["classes=10"]
    assert {"path": "stages[0].repeats", "from": 3, "to": 2} in result["changes"]
    assert archspec.load(result["text"]).stages[1].repeats == 2 and result["output"] is None
    target = tmp_path / "out.yaml"
    code, out, _ = run_cli(capsys, "scale", str(small), "--depth", "0.5", "-o", str(target), "--json")
    assert code == 0 and json.loads(out)["output"] == str(target) and json.loads(out)["text"] is None
    code, out, _ = run_cli(capsys, "scale", str(small), "--width", "0.01", "--set", "stages[0].width=-1", "--json")
    refused = json.loads(out)
    assert code == 2 and not refused["ok"] and refused["errors"][0]["message"].startswith("--set stages[0].width=-1")


@pytest.mark.parametrize("output", ["afile/out.yaml", "nofolder/out.yaml", "."])
def test_an_output_that_cannot_be_written_is_a_usage_error(small: Path, tmp_path: Path, output: str,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("mine")
    code, out, err = run_cli(capsys, "scale", str(small), "--depth", "2", "-o", output)
    assert code == 2 and out == "" and f"archspec scale: error: cannot write {output}: " in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "small.yaml"]  # nothing left behind
