"""Dotted names inside a stage: `copy_names: "denseblock1.denselayer{number}"` puts a list stage's
copies into a container (torchvision's DenseNet `features.denseblock1`), a list stage's dotted
names nest around defined blocks too, and the static twins fold those containers' memory as the
graph does (no fallback to the graph)."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.build import build_module
from conftest import spec_errors

HEADER = "name: t\ninput: {channels: 3, size: 8}\n"
DENSE = HEADER + """stages:
  - name: features
    blocks:
      - {name: conv0, layer: conv, width: 8, kernel: 3, padding: 1}
      - {block: dense_layer, width: 4, repeats: 2, bn_size: 2, copy_names: "block1.layer{number}"}
      - {block: transition, width: 8, name: transition1}
      - {block: dense_layer, width: 4, repeats: 3, bn_size: 2, copy_names: "block2.layer{number}"}
      - {name: tail.norm, layer: batchnorm}
"""


def test_dotted_copy_names_nest_a_list_stages_copies_into_a_container():
    report = archspec.check(archspec.load(DENSE))
    assert report.ok, [e.render() for e in report.errors]
    network = build_module(report)
    assert [name for name, _ in network.features.named_children()] == ["conv0", "block1", "transition1", "block2",
                                                                       "tail"]
    assert [name for name, _ in network.features.block2.named_children()] == ["layer1", "layer2", "layer3"]
    assert "features.block1.layer2.conv2.weight" in network.state_dict()
    assert network(torch.zeros(1, 3, 8, 8)).shape == (1, 20, 4, 4)
    assert report.params == sum(p.numel() for p in network.parameters())


def test_a_list_stage_with_dotted_names_checks_on_the_twins_with_the_graphs_memory():
    report = archspec.check(archspec.load(DENSE))
    assert report.ok and report.lowered is None  # the static twins gave the figures
    assert report.twin_memory == report.memory.total  # the containers folded as the graph nests them
    assert archspec.check(archspec.load(DENSE), max_memory=report.memory.total).ok
    assert not archspec.check(archspec.load(DENSE), max_memory=report.memory.total - 1).ok


@pytest.mark.parametrize("pattern", ["a..b{index}", "0.b{index}", "a.{index}", "a.b{index}.c", ".b{index}"])
def test_copy_names_that_are_not_dotted_module_names_are_refused(pattern):
    errors = spec_errors(HEADER + f"stages:\n  - {{block: basic, width: 3, repeats: 2, copy_names: \"{pattern}\"}}\n")
    assert errors and errors[0].path == ("stages", 0, "copy_names")


def test_dotted_copies_whose_container_repeats_a_siblings_name_are_refused():
    errors = spec_errors(HEADER + "stages:\n  - blocks:\n      - {name: x, layer: relu}\n"
                     "      - {block: basic, width: 3, repeats: 2, copy_names: \"x.y{index}\"}\n")
    assert any(error.path[:4] == ("stages", 0, "blocks", 1) and "`x`" in error.message for error in errors), \
        [e.render() for e in errors]


def test_archspec_blocks_lists_copy_names_with_every_kinds_stage_fields(capsys):
    """`copy_names` is optional on every kind: not a per-kind field shown as required."""
    from archspec.cli import main

    assert main(["blocks"]) == 0
    listed = capsys.readouterr().out
    assert "copy_names=" not in listed
    assert "every kind also takes:" in listed and "copy_names" in listed.splitlines()[-1]
