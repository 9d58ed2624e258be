"""What lowering works out once per definition (each node's plan) or once per distinct set of module
names (their problems) must not hide what differs between copies: names that expressions make per
copy are checked per copy, and a node named by a field's layer kind is named by its value."""

from __future__ import annotations

import archspec
from conftest import spec_errors

COPY_NAMES = """
name: copy-names
input: {channels: 4, size: 8}
blocks:
  named_by_stride:
    nodes:
      - {name: b1, layer: relu}
      - {name: "b${stride}", layer: conv, width: 4, kernel: 1}
stages:
  - {block: named_by_stride, width: 4, repeats: 2, stride: 2}
"""


def test_names_made_per_copy_are_checked_per_copy():
    for _ in range(2):  # the second check finds the first one's cached name problems
        errors = spec_errors(COPY_NAMES)
        assert len(errors) == 1, errors
        (error,) = errors
        assert "copy 1" in error.message and "b1" in error.message
        assert (error.line, error.path[-1]) == (8, "name")


def test_an_unnamed_node_whose_layer_a_field_chooses_is_named_by_its_value():
    text = ("name: field-kind\ninput: {channels: 4, size: 8}\nblocks:\n  act_block:\n    fields: {act: relu6}\n"
            "    nodes:\n      - {name: conv, layer: conv, width: 4, kernel: 1}\n      - {layer: \"${act}\"}\n"
            "stages:\n  - {block: act_block, width: 4}\n")
    module = archspec.compile(archspec.load(text))
    assert [name for name, _ in module.named_modules() if name.startswith("layer1.0.")] == \
        ["layer1.0.conv", "layer1.0.relu6"]
