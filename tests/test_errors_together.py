"""Several independent mistakes in one spec: each is reported in the same run, once, at its place and in
the order of the files, and none hides, garbles or echoes another."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec import SpecError
from archspec.errors import Diagnostic
from archspec.sample import Sampler


def errors_of(path: Path | str) -> list[Diagnostic]:
    try:
        return list(archspec.check(archspec.load(path)).errors)
    except SpecError as error:
        return list(error.errors)


def places(errors: list[Diagnostic]) -> list[tuple[str, int | None, int | None]]:
    return [(Path(error.file or "").name, error.line, error.column) for error in errors]


def test_a_node_key_error_does_not_hide_the_definitions_from_errors(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: t\ninput: {channels: 3, size: 8}\n"
        "blocks:\n  b:\n    nodes:\n"
        "      - {name: c, layer: conv, width: 4, kernel: 1, epss: 1}\n"  # line 6: unknown key
        "      - {name: n, layer: batchnorm}\n"
        "      - {op: add, from: [c, nothere]}\n"  # line 8: `from` names no node
        "stages: [{block: b, width: 4}]\n")
    errors = errors_of(spec)
    assert [(e.path, e.line) for e in errors] == [
        (("blocks", "b", "nodes", 0, "epss"), 6), (("blocks", "b", "nodes", 2, "from"), 8)]
    # `n` is read by nothing, but the `from` that names no node was surely meant to: no echo of it
    assert not any("never read" in e.message for e in errors)


def test_an_imported_files_errors_follow_the_specs_and_name_it_as_the_spec_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lib.yaml").write_text(
        "blocks:\n  ext:\n    nodes:\n"
        "      - {layer: conv, width: \"${width}\", kernal: 3}\n")  # lib.yaml line 4
    Path("main.yaml").write_text(
        "name: t\nimports: [lib.yaml]\n"
        "input: {channels: 3, size: 0}\n"  # line 3
        "stem:\n  - {layer: relu}\n  - {layer: relu}\n  - {layer: relu}\n"
        "stages: [{block: basic, width: 4, stride: -1}]\n")  # line 8
    assert places(errors_of("main.yaml")) == [("main.yaml", 3, 28), ("main.yaml", 8, 43), ("lib.yaml", 4, 50)]
    assert [error.file for error in errors_of("main.yaml")] == ["main.yaml", "main.yaml", "lib.yaml"]


def test_a_sample_reports_its_failed_expressions_with_its_other_errors(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(
        "name: s\nvars:\n  w: {int: [8, 64, 8]}\n"
        "input: {channels: 3, size: 0}\n"  # line 4: a wrong value
        "stem:\n  - {layer: conv, width: \"${w}\", kernel: \"${kk}\"}\n"  # line 6: an unknown name
        "  - {layer: relu, x: 1}\n")  # line 7: an unknown key
    with pytest.raises(SpecError) as raised:
        Sampler(space, seed=0).sample(0)
    errors = raised.value.errors
    assert [(e.path, e.line) for e in errors] == [
        (("input", "size"), 4), (("stem", 0, "kernel"), 6), (("stem", 1, "x"), 7)]
    assert all(e.message.endswith("(in sample 0)") for e in errors)


def test_a_misspelt_key_in_an_override_is_told_the_key_it_misspells_beside_the_files_errors():
    text = ("name: t\ninput: {channels: 3, size: 8}\n"
            "stem: [{layer: conv, width: 8, kernel: 0}]\n"  # line 3: the file's own mistake
            "head: [{layer: flatten}, {layer: linear, width: 10}]\n")
    with pytest.raises(SpecError) as raised:
        archspec.load(text, ["head[-1].widht=3"])
    placed, override = raised.value.errors
    assert (placed.path, placed.line) == (("stem", 0, "kernel"), 3)
    assert override.message == "--set head[-1].widht=3: unknown key `widht`"
    assert override.hint == "did you mean `width`, which the spec has there?"
