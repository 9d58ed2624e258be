"""Two constructs of block definitions that torchvision's MobileNets and EfficientNet need: a layer
kind chosen by a field (`layer: "${activation}"`, as torchvision's `activation_layer`), and a module
name that is an expression giving a position (`name: "${shift + 1}"`: nn.Sequential's numbering, where
a left-out module shifts the later ones down)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec

BLOCK = ("blocks:\n  cna:\n    fields: {activation: relu}\n    nodes:\n"
         "      - {name: conv, layer: conv, width: \"${width}\", kernel: 1, bias: false}\n"
         "      - {name: act, layer: \"${activation}\"}\n")


def _spec(blocks: str, stages: str) -> str:
    return (f"name: t\ninput: {{channels: 3, size: 8}}\n{blocks}stages:\n{stages}\n"
            "head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: 4}]\n")


def _errors(text: str) -> list[archspec.Diagnostic]:
    try:
        spec = archspec.load(text)
    except archspec.SpecError as error:
        return list(error.errors)
    report = archspec.check(spec)
    assert not report.ok, "expected errors"
    return list(report.errors)


def test_a_field_chooses_the_layer_kind_per_stage():
    stages = ("  - {block: cna, width: 8}\n  - {block: cna, width: 8, activation: hardswish}\n"
              "  - {block: cna, width: 8, activation: silu}\n")
    network = archspec.compile(archspec.load(_spec(BLOCK, stages)))
    kinds = [type(network.get_submodule(f"layer{n}.0.act")) for n in (1, 2, 3)]
    assert kinds == [nn.ReLU, nn.Hardswish, nn.SiLU]
    assert network(torch.randn(1, 3, 8, 8)).shape == (1, 4)


def test_a_field_that_names_no_layer_kind_is_refused_at_the_stage_field_with_a_suggestion():
    errors = _errors(_spec(BLOCK, "  - {block: cna, width: 8, activation: relu7}\n"))
    assert len(errors) == 1
    error = errors[0]
    assert error.path == ("stages", 0, "activation")  # where the user wrote it, not the definition's node
    assert "stages[0] (cna, copy 0)" in error.message and "'relu7', which is not a layer kind" in error.message
    assert "`relu`" in (error.hint or "")


def test_a_kind_that_needs_settings_is_refused_at_the_stage_field_through_nested_library_blocks():
    # mobilenet_v3_block > mobilenet_v3_layers > conv_norm_act, whose node `2` is `layer: ${activation}`
    errors = _errors(_spec("", "  - {block: mobilenet_v3_block, width: 8, activation: conv}\n"))
    assert [error.path for error in errors] == [("stages", 0, "activation")]
    assert errors[0].line == 4 and errors[0].file is None  # the user's spec, not the library's file
    assert "gives `conv`, a layer kind that needs `width`, which this node does not give" in errors[0].message
    assert "relu" in errors[0].hint and "hardswish" in errors[0].hint and "conv," not in errors[0].hint
    errors = _errors(_spec("", "  - {block: conv_norm_act, width: 8, activation: hardswsh}\n"))
    assert [(error.path, error.hint) for error in errors] == [(("stages", 0, "activation"),
                                                              "did you mean `hardswish`?")]


def test_a_kind_that_the_stage_did_not_write_is_refused_in_the_definition():
    blocks = BLOCK.replace("{activation: relu}", "{activation: relu, inner: conv}") + (
        "      - {name: more, layer: \"${inner}\", when: \"${width > 8}\"}\n")
    assert archspec.check(archspec.load(_spec(blocks, "  - {block: cna, width: 8}\n"))).ok  # `more` left out
    errors = _errors(_spec(blocks, "  - {block: cna, width: 16}\n"))
    assert [error.path for error in errors] == [("blocks", "cna", "nodes", 2, "layer")]
    assert "gives `conv`, a layer kind that needs `width`" in errors[0].message


def test_the_chosen_kinds_keys_are_checked_when_the_block_is_used():
    blocks = BLOCK.replace("layer: \"${activation}\"}", "layer: \"${activation}\", negative_slope: 0.2}")
    network = archspec.compile(archspec.load(_spec(blocks, "  - {block: cna, width: 8, activation: leaky_relu}\n")))
    assert network.get_submodule("layer1.0.act").negative_slope == 0.2
    errors = _errors(_spec(blocks, "  - {block: cna, width: 8, activation: relu}\n"))
    assert len(errors) == 1 and errors[0].path == ("blocks", "cna", "nodes", 1, "negative_slope")


SHIFTED = ("blocks:\n  ir:\n    fields: {expand: 2}\n    nodes:\n"
           "      - {name: \"0\", layer: conv, width: \"${in * expand}\", kernel: 1, when: \"${expand != 1}\"}\n"
           "      - {name: \"${min(1, in * expand - in)}\", layer: relu}\n"
           "      - {name: \"${min(1, in * expand - in) + 1}\", layer: conv, width: \"${width}\", kernel: 1}\n")


@pytest.mark.parametrize(("expand", "names"), [(2, ["0", "1", "2"]), (1, ["0", "1"])])
def test_a_name_that_is_an_integer_expression_is_a_position(expand, names):
    network = archspec.compile(archspec.load(_spec(SHIFTED, f"  - {{block: ir, width: 8, expand: {expand}}}\n")))
    assert [name for name, _ in network.get_submodule("layer1.0").named_children()] == names
    assert network(torch.randn(1, 3, 8, 8)).shape == (1, 4)


def test_a_negative_position_is_refused_at_the_name():
    blocks = SHIFTED.replace("${min(1, in * expand - in) + 1}", "${0 - 1}")
    errors = _errors(_spec(blocks, "  - {block: ir, width: 8}\n"))
    assert [error.path for error in errors] == [("blocks", "ir", "nodes", 2, "name")]
    assert "-1" in errors[0].message


def test_a_value_the_stage_wrote_that_fails_inside_a_library_block_is_refused_at_the_stage():
    # conv_norm_act's conv reads `groups: "${groups}"` and `width: "${width}"`: the stage wrote both.
    errors = _errors(_spec("", "  - {block: conv_norm_act, width: 8, groups: 5}\n"))
    assert [(error.path, error.file) for error in errors] == [(("stages", 0, "groups"), None)]
    assert "groups 5 must divide" in errors[0].message and "stages[0] (conv_norm_act, copy 0)" in errors[0].message
    errors = _errors(_spec("", "  - {block: conv_norm_act, width: 10, groups: depthwise}\n"))
    assert [(error.path, error.file) for error in errors] == [(("stages", 0, "width"), None)]
    assert errors[0].hint.startswith("write `width: 3`")


def test_a_value_that_only_equals_the_stages_by_chance_stays_in_the_definition():
    # `inner` is the definition's own default (4), not the stage's `groups: 4` passed on.
    blocks = ("blocks:\n  g:\n    fields: {groups: 4, inner: 4}\n    nodes:\n"
              "      - {name: conv, layer: conv, width: \"${width}\", kernel: 1, groups: \"${inner}\"}\n")
    errors = _errors(_spec(blocks, "  - {block: g, width: 8, groups: 4}\n"))
    assert [error.path for error in errors] == [("blocks", "g", "nodes", 0, "groups")]
