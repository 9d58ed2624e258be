"""The library is read lazily: a spec reads only the library files of the kinds it uses (and of the
kinds those nest), found through an index made from the files' text; the index equals what parsing
the files gives, errors inside library files stay placed in them, and a spec's own definition of a
library kind's name takes precedence."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_loader_parity import both

import archspec
import archspec.library as library_module
from archspec import SpecError
from archspec.definitions import BlockDefinitions
from archspec.library import FOLDER, LibraryKinds, library_index, library_kinds
from archspec.loader import Document, load_document
from conftest import ROOT, SPECS, spec_errors

# What a fresh process reads to load and check each spec: the spec and these library files.
FILES_READ = {
    "resnet50.yaml": [],
    "se-resnet50.yaml": ["se_resnet.yaml", "squeeze_excite.yaml"],
    "densenet121.yaml": ["densenet.yaml"],
    "mobilenet_v2.yaml": ["conv_norm_act.yaml", "inverted_residual.yaml"],
}


def test_the_index_equals_the_parsed_library_files():
    parsed: dict[str, list[str]] = {}
    for path in sorted(FOLDER.glob("*.yaml")):
        definitions = BlockDefinitions.model_validate_json(json.dumps(load_document(path).data), strict=True)
        for kind in definitions.blocks:
            parsed.setdefault(kind, []).append(path.name)
    assert {kind: files for kind, files in parsed.items() if len(files) > 1} == {}, "a kind defined twice"
    assert {kind: path.name for kind, path in library_index().items()} == {k: f[0] for k, f in parsed.items()}


def test_a_fresh_process_reads_only_the_library_files_a_spec_uses():
    script = (
        "import json, sys\nfrom pathlib import Path\nimport archspec\n"
        "from archspec.loader import EXTERNAL_DOCUMENTS\n"
        "report = archspec.check(archspec.load(sys.argv[1]))\nassert report.ok, report.errors\n"
        "print(json.dumps(sorted(Path(key[1:]).name for key in EXTERNAL_DOCUMENTS)))\n")
    for spec, files in FILES_READ.items():
        result = subprocess.run([sys.executable, "-c", script, str(SPECS / spec)], capture_output=True,
                                text=True, cwd=ROOT, check=False)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == files, spec


def test_listing_the_kinds_reads_no_library_file(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("blocks:\n  a_block:\n    nodes: [{layer: relu}]\n  b_block:\n"
                                     "    nodes: [{layer: nope}]\n")
    kinds = LibraryKinds(library_index(tmp_path))
    assert list(kinds) == ["a_block", "b_block"] and "b_block" in kinds and "c_block" not in kinds
    assert kinds.get("c_block") is None
    with pytest.raises(SpecError) as raised:  # reading one kind reads its file: the error is there
        kinds.get("a_block")
    (error,) = raised.value.errors
    assert (Path(str(error.file)).name, error.line) == ("a.yaml", 5) and "nope" in error.message


def _library(folder: Path, files: dict[str, str]) -> LibraryKinds:
    for name, text in files.items():
        (folder / name).write_text(text)
    return LibraryKinds(library_index(folder))


def test_a_library_kind_the_index_misses_is_refused_at_its_place(tmp_path: Path):
    kinds = _library(tmp_path, {"a.yaml": "blocks:\n  a_block:\n    nodes: [{layer: relu}]\n"
                                          "  \"b_block\": {nodes: [{layer: relu}]}\n"})
    with pytest.raises(SpecError) as raised:
        kinds.get("a_block")
    (error,) = raised.value.errors
    assert "`b_block` is not found by the library's index" in error.message and error.line == 4


def test_a_kind_in_two_library_files_is_refused(tmp_path: Path):
    kinds = _library(tmp_path, {"a.yaml": "blocks:\n  twice:\n    nodes: [{layer: relu}]\n",
                                "b.yaml": "blocks:\n  other:\n    nodes: [{layer: relu}]\n"
                                          "  twice:\n    nodes: [{layer: relu}]\n"})
    assert kinds["twice"].definition.nodes  # type: ignore[attr-defined]
    with pytest.raises(SpecError) as raised:
        kinds.get("other")
    (error,) = raised.value.errors
    assert (Path(str(error.file)).name, error.line) == ("b.yaml", 4) and "a.yaml" in error.message


def test_nested_library_kinds_are_read_and_checked_with_the_kind(tmp_path: Path):
    kinds = _library(tmp_path, {
        "outer.yaml": "blocks:\n  outer:\n    nodes: [{block: inner, size: 3}]\n",
        "inner.yaml": "blocks:\n  inner:\n    fields: {depth: 1}\n    nodes: [{layer: relu}]\n"})
    with pytest.raises(SpecError) as raised:
        kinds.get("outer")
    (error,) = raised.value.errors
    assert (Path(str(error.file)).name, error.line) == ("outer.yaml", 3)
    assert "unknown key `size` for a `inner` block" in error.message


def test_an_error_inside_a_library_definition_is_placed_in_its_file():
    # The transition's 2x2 average pool, written in the library, does not fit a 1x1 input. (A value the
    # stage wrote that fails inside the library is placed at the stage: tests/test_field_layer_kinds.py.)
    errors = spec_errors("name: x\ninput: {channels: 16, size: 1}\nstages:\n  - {block: transition, width: 8}\n")
    (error,) = errors
    source = library_index()["transition"]
    assert error.file == str(source)
    assert error.source_line == source.read_text().splitlines()[error.line - 1]
    assert "{name: pool, layer: avgpool, kernel: 2" in error.source_line and "stages[0] (transition" in error.message


def test_a_library_kinds_requirement_is_refused_at_the_users_field():
    errors = spec_errors("name: x\ninput: {channels: 16, size: 8}\n"
                         "stages:\n  - {block: se_basic, width: 16, reduction: 0}\n")
    assert [(e.file, e.line, e.path) for e in errors] == [(None, 4, ("stages", 0, "reduction"))]
    assert "`se_basic` requires `reduction >= 1`, but reduction is 0" in errors[0].message


def test_a_specs_own_definition_of_a_library_kind_takes_precedence():
    text = ("name: x\ninput: {channels: 3, size: 8}\nblocks:\n  se_basic:\n    fields: {reduction: 2}\n"
            "    nodes: [{layer: conv, width: '${width}', kernel: 1, bias: false}]\n"
            "stages:\n  - {block: se_basic, width: 4}\n")
    report = archspec.check(archspec.load(text))
    assert report.ok and report.params == 3 * 4
    assert library_kinds()["se_basic"].definition.nodes[0].name == "conv1"  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", sorted(FOLDER.glob("*.yaml")), ids=lambda path: path.stem)
def test_library_files_load_identically_with_either_parser(path: Path, monkeypatch: pytest.MonkeyPatch):
    """The library's files are read with the loader a spec is (libyaml's parser where PyYAML has it,
    the guarded composer): the same data and places as PyYAML's pure-Python parser gives."""
    fast, slow = both(path, monkeypatch)
    assert isinstance(fast, Document) and isinstance(slow, Document)
    assert (fast.data, fast.marks, fast.key_marks) == (slow.data, slow.marks, slow.key_marks)


def test_two_threads_first_lookups_make_one_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    kinds = _library(tmp_path, {"a.yaml": "blocks:\n  a_block:\n    nodes: [{layer: relu}]\n"})
    made = []
    real = library_module.stage_model

    def slow_stage_model(*arguments: object) -> object:
        made.append(arguments[0])
        time.sleep(0.05)  # the other thread's lookup arrives while this one makes the model
        return real(*arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(library_module, "stage_model", slow_stage_model)
    found: list[object] = []
    threads = [threading.Thread(target=lambda: found.append(kinds["a_block"])) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == ["a_block"] and found[0] is found[1]


def test_counting_a_kinds_nodes_makes_no_stage_model_of_the_kinds_it_nests():
    """The check bounds the nodes a library kind expands to before anything else (nested kinds
    included): it made each nested kind's stage model (Pydantic) for that, 90% of efficientnet_b0's
    first check in a fresh process (mbconv nests mbconv_layers, which nests conv_norm_act and
    squeeze_excitation), 8-12 ms where its blocks' figures take under 1 ms."""
    kinds = LibraryKinds(library_index())
    counted = kinds["mbconv"].nodes_per_copy()
    assert sorted(kinds._models) == ["mbconv"]
    made = library_kinds()  # the process's library, nested models made: the same count through them
    for nested in ("mbconv_layers", "conv_norm_act", "squeeze_excitation"):
        assert made[nested].nodes_per_copy() >= 1
    # mbconv: its mbconv_layers (two conv_norm_act, squeeze_excitation, a conv, a BatchNorm), stochastic depth, add
    assert counted == (3 + 3 + 6 + 1 + 1) + 2 == made["mbconv"].nodes_per_copy() == kinds.expanded_nodes("mbconv")
