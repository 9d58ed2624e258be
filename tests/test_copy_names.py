"""Naming a stage's copies (`copy_names`), a list stage's one-copy block (`name:`), and the copy's
`index` in a defined block's expressions: what torchvision's DenseNet and RegNet names need."""

from __future__ import annotations

import archspec
from conftest import spec_errors

HEADER = "name: t\ninput: {channels: 3, size: 8}\n"
BLOCK = ("blocks:\n  b:\n    fields: {p: 0.1}\n    nodes:\n"
         "      - {name: conv, layer: conv, width: \"${width}\", kernel: 1}\n"
         "      - {name: drop, layer: dropout, p: \"${p * index}\"}\n")


def test_copy_names_name_a_stages_copies():
    network = archspec.compile(archspec.load(
        HEADER + "stages:\n  - {block: basic, width: 3, repeats: 3, copy_names: \"denselayer{number}\"}\n"))
    assert [name for name, _ in network.layer1.named_children()] == ["denselayer1", "denselayer2", "denselayer3"]


def test_a_list_stage_names_its_one_copy_blocks_and_numbers_the_rest():
    network = archspec.compile(archspec.load(
        HEADER + "stages:\n  - blocks:\n      - {block: basic, width: 3, name: first}\n      - {layer: relu}\n"
        "      - {block: basic, width: 3, repeats: 2, copy_names: \"block1-{index}\"}\n"))
    assert [name for name, _ in network.layer1.named_children()] == ["first", "1", "block1-0", "block1-1"]


def test_a_name_on_an_entry_of_several_copies_is_refused_with_copy_names_as_the_hint():
    (error,) = spec_errors(HEADER + "stages:\n  - blocks:\n      - {block: basic, width: 3, repeats: 2, name: two}\n")
    assert error.path == ("stages", 0, "blocks", 0, "name") and "copy_names: two{index}" in (error.hint or "")


def test_generated_names_that_clash_are_refused():
    errors = spec_errors(HEADER + "stages:\n  - blocks:\n"
                     "      - {block: basic, width: 3, repeats: 2, copy_names: \"x{index}\"}\n"
                     "      - {block: basic, width: 3, name: x1}\n")
    assert any("x1" in e.message for e in errors), [e.render() for e in errors]


def test_a_definition_reads_the_copys_index():
    network = archspec.compile(archspec.load(HEADER + BLOCK + "stages:\n  - {block: b, width: 4, repeats: 3}\n"))
    assert [block.drop.p for block in network.layer1] == [0.0, 0.1, 0.2]
    report = archspec.check(archspec.load(HEADER + BLOCK + "stages:\n  - {block: b, width: 4, repeats: 3}\n"))
    assert report.params == sum(p.numel() for p in network.parameters())


def test_the_blocks_command_lists_copy_names_as_a_stage_field_not_a_required_one(capsys):
    from archspec.cli import main

    assert main(["blocks"]) == 0
    out = capsys.readouterr().out
    assert "copy_names=" not in out
    assert out.rstrip().endswith("shortcut, name, copy_names")


def test_a_stages_own_keys_cannot_be_a_defined_blocks_fields():
    """A field `blocks` could never be given (a stage with `blocks:` is a list stage), nor `copy_names`."""
    for field in ("blocks", "copy_names"):
        errors = spec_errors(HEADER + f"blocks:\n  b:\n    fields: {{{field}: 2}}\n    nodes: [{{layer: relu}}]\n"
                         "stages:\n  - {block: b, width: 3}\n")
        assert [(error.path, error.hint) for error in errors] == [(("blocks", "b", "fields", field),
                                                                   f"rename it, e.g. `{field}_`")]
