"""Block kinds written in YAML: the issue's example network against the same network written by hand,
and the language's rules (expressions, nesting, shortcuts, `when`, names, Python kinds)."""

from __future__ import annotations

from typing import Literal

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torch_checks import randomise_batchnorm

import archspec
from archspec.blocks import BlockStage
from archspec.graph import layer_node, sequence
from archspec.layers import BatchNorm, Conv, derived
from conftest import SPECS

SE_RESNET_TINY = SPECS / "se-resnet-tiny.yaml"


class HandSE(nn.Module):
    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(channels // reduction, 8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class HandSEBasic(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int, reduction: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = HandSE(planes, reduction)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.se(self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + shortcut)


def hand_written_se_resnet_tiny() -> nn.Module:
    """The issue's example, written in plain PyTorch as a reader of the spec would."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        nn.Sequential(HandSEBasic(16, 16, 1, 16), HandSEBasic(16, 16, 1, 16)),
        nn.Sequential(HandSEBasic(16, 32, 2, 8), HandSEBasic(32, 32, 1, 8)),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def test_se_resnet_tiny_equals_the_hand_written_network():
    torch.manual_seed(0)
    hand = hand_written_se_resnet_tiny()
    randomise_batchnorm(hand, seed=1)
    ours = archspec.compile(SE_RESNET_TINY)
    report = archspec.check(SE_RESNET_TINY)
    params = sum(p.numel() for p in hand.parameters())
    assert report.params == sum(p.numel() for p in ours.parameters()) == params
    # Module order: the state_dicts hold the same tensors in the same order (names differ only where
    # nn.Sequential numbers what the spec names).
    theirs = hand.state_dict()
    assert [t.shape for t in ours.state_dict().values()] == [t.shape for t in theirs.values()]
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.values())), strict=True)
    hand.eval()
    ours.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), hand(x), rtol=0, atol=1e-5)
    with FlopCounterMode(display=False) as counter:
        hand(x[:1])
    assert report.macs == counter.get_total_flops() // 2


def test_se_resnet_tiny_state_dict_names_follow_the_definitions():
    keys = list(archspec.compile(SE_RESNET_TINY).state_dict())
    assert "layer2.0.se.fc1.weight" in keys and "layer2.0.downsample.0.weight" in keys
    assert "layer1.0.downsample.0.weight" not in keys  # the identity where the shape is kept


def _spec(blocks: str, stages: str, stem: str = "") -> str:
    return (f"name: t\ninput: {{channels: 3, size: 16}}\nblocks:\n{blocks}\n{stem}"
            f"stages:\n{stages}\nhead: [{{layer: global_avgpool}}, {{layer: flatten}}, {{layer: linear, width: 4}}]\n")


def _errors(text: str) -> list[archspec.Diagnostic]:
    try:
        spec = archspec.load(text)
    except archspec.SpecError as error:
        return error.errors
    report = archspec.check(spec)
    assert not report.ok, "expected errors"
    return list(report.errors)


def test_an_expression_cannot_run_code_and_says_why(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    errors = _errors(_spec("  b:\n    nodes:\n      - {layer: conv, width: \"${__import__('os').system('touch x')}\", "
                           "kernel: 1}", "  - {block: b, width: 8}"))
    assert not (tmp_path / "x").exists()
    assert len(errors) == 1 and errors[0].path == ("blocks", "b", "nodes", 0, "width")
    assert errors[0].line == 6


def test_unknown_name_in_an_expression_is_located_and_suggests_the_field():
    errors = _errors(_spec("  b:\n    fields: {reduction: 4}\n    nodes:\n"
                           "      - {layer: conv, width: \"${in // reducton}\", kernel: 1}",
                           "  - {block: b, width: 8, repeats: 2}"))
    assert len(errors) == 1  # the copies share the definition: reported once
    assert errors[0].path == ("blocks", "b", "nodes", 0, "width")
    assert "stages[0] (b, copy 0) > nodes[0] (conv)" in errors[0].message
    assert "reducton" in errors[0].message and "`reduction`" in (errors[0].hint or "")


def test_a_join_error_names_the_stage_copy_node_and_the_shapes():
    errors = _errors(_spec("  b:\n    nodes:\n"
                           "      - {name: c, layer: conv, width: \"${width}\", kernel: 3, padding: 1}\n"
                           "      - {op: add, from: [input, c]}", "  - {block: b, width: 8}"))
    (error,) = errors
    assert error.path == ("blocks", "b", "nodes", 1)
    assert "stages[0] (b, copy 0) > nodes[1] (add)" in error.message
    assert "3x16x16" in error.message and "8x16x16" in error.message


@pytest.mark.parametrize(("nodes", "path", "words"), [
    ("      - {layer: conv, width: 4, kernel: 1}\n      - {layer: relu, from: nothing}",
     ("blocks", "b", "nodes", 1, "from"), "not an earlier node"),
    ("      - {name: a, layer: conv, width: 4, kernel: 1}\n      - {layer: relu, from: input}",
     ("blocks", "b", "nodes", 0), "never read"),
    ("      - {layer: conv, width: 4, kernel: 1, widht: 3}", ("blocks", "b", "nodes", 0, "widht"), "unknown key"),
    ("      - {op: add, layer: relu}", ("blocks", "b", "nodes", 0), "exactly one of"),
    ("      - {block: nosuch}", ("blocks", "b", "nodes", 0, "block"), "unknown block kind"),
    ("      - {block: b}", ("blocks", "b", "nodes", 0, "block"), "uses itself"),
])
def test_structural_errors_are_located_in_the_definition(nodes, path, words):
    errors = _errors(_spec(f"  b:\n    nodes:\n{nodes}", "  - {block: b, width: 8}"))
    assert any(e.path == path and words in e.message for e in errors), [e.render() for e in errors]


def test_a_stage_with_an_unknown_field_gets_the_blocks_fields():
    errors = _errors(_spec("  b:\n    fields: {ratio: 2}\n    nodes:\n"
                           "      - {layer: conv, width: \"${width * ratio}\", kernel: 1}",
                           "  - {block: b, width: 8, raito: 3}"))
    (error,) = errors
    assert error.path == ("stages", 0, "raito") and "ratio" in (error.hint or "")


def test_an_unknown_kind_lists_library_and_spec_kinds():
    (error,) = _errors(_spec("  my_block:\n    nodes: [{layer: relu}]", "  - {block: my_blok, width: 3}"))
    assert "squeeze_excite" in error.message and "my_block" in error.message
    assert error.hint == "did you mean `my_block`?"


def test_when_leaves_a_node_out_and_else_names_what_readers_get():
    blocks = ("  b:\n    nodes:\n"
              "      - {name: conv, layer: conv, width: \"${width}\", kernel: 3, stride: \"${stride}\", padding: 1}\n"
              "      - {name: proj, layer: conv, width: \"${width}\", kernel: 1, stride: \"${stride}\", from: input,"
              " when: \"${stride != 1 or in != width}\", else: input}\n"
              "      - {op: add, from: [conv, proj]}")
    spec = archspec.load(_spec(blocks, "  - {block: b, width: 8, repeats: 2, stride: 2}"))
    network = archspec.compile(spec)
    assert hasattr(network.layer1[0], "proj") and not hasattr(network.layer1[1], "proj")
    assert network(torch.randn(1, 3, 16, 16)).shape == (1, 4)


@pytest.mark.parametrize("option", ["A", "B", "C", "identity", "none"])
def test_the_stage_shortcut_option_reaches_a_defined_block(option):
    blocks = ("  b:\n    nodes:\n"
              "      - {name: conv, layer: conv, width: \"${width}\", kernel: 3, padding: 1, bias: false}\n"
              "      - {name: downsample, shortcut: stage, from: input}\n"
              "      - {op: add, from: [conv, downsample]}")
    spec = archspec.load(_spec(blocks, f"  - {{block: b, width: 3, repeats: 2, shortcut: {option}}}"))
    network = archspec.compile(spec)
    has_projection = [hasattr(block, "downsample") for block in network.layer1]
    assert has_projection == ([True, True] if option == "C" else [False, False])
    report = archspec.check(spec)
    assert report.params == sum(p.numel() for p in network.parameters())


def test_nesting_too_deep_is_an_error():
    chain = "".join(f"  b{i}:\n    nodes: [{{block: b{i + 1}}}]\n" for i in range(20))
    chain += "  b20:\n    nodes: [{layer: relu}]"
    errors = _errors(_spec(chain, "  - {block: b0, width: 3}"))
    assert any("nest" in e.message for e in errors)


def test_imports_read_definitions_relative_to_the_spec(tmp_path):
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "mine.yaml").write_text(
        "blocks:\n  mine:\n    nodes:\n      - {layer: conv, width: \"${width}\", kernel: 1}\n      - {layer: relu}\n")
    spec_file = tmp_path / "net.yaml"
    spec_file.write_text("name: t\ninput: {channels: 3, size: 8}\nimports: [blocks/mine.yaml]\n"
                         "stages: [{block: mine, width: 4}]\n")
    network = archspec.compile(spec_file)
    assert network(torch.randn(1, 3, 8, 8)).shape == (1, 4, 8, 8)


def test_import_errors_name_the_imported_file(tmp_path):
    (tmp_path / "a.yaml").write_text("blocks:\n  mine:\n    nodes:\n"
                                     "      - {layer: conv, width: \"${widht}\", kernel: 1}\n")
    (tmp_path / "b.yaml").write_text("imports: [a.yaml, b.yaml]\nblocks: {}\n")
    spec_file = tmp_path / "net.yaml"
    spec_file.write_text("name: t\ninput: {channels: 3, size: 8}\nimports: [a.yaml, b.yaml, missing.yaml]\n"
                         "stages: [{block: mine, width: 4}]\n")
    with pytest.raises(archspec.SpecError) as raised:
        archspec.load(spec_file)
    messages = {(e.file, e.message.split(":")[0]) for e in raised.value.errors}
    assert (str(tmp_path / "b.yaml"), "`b.yaml` imports itself") in messages
    assert any(file == str(spec_file) and "missing.yaml" in message for file, message in messages)
    spec_file.write_text("name: t\ninput: {channels: 3, size: 8}\nimports: [a.yaml]\n"
                         "stages: [{block: mine, width: 4}]\n")
    report = archspec.check(archspec.load(spec_file))
    (error,) = report.errors
    assert (error.file, error.line) == (str(tmp_path / "a.yaml"), 4) and "widht" in error.message


class ConvBN(BlockStage):
    """3x3 convolution + BatchNorm (a kind registered from Python, for this test)."""

    block: Literal["test_convbn"]

    def lower(self, index, x, shortcut, origin):
        conv = derived(Conv, layer="conv", width=self.width, kernel=3, stride=self.block_stride(index), padding=1,
                       bias=False)
        return sequence("test_convbn", str(index), (layer_node("conv", conv, origin),
                                                    layer_node("bn", derived(BatchNorm, layer="batchnorm"), origin)),
                        origin, "input")


@pytest.fixture
def registered_convbn():
    """The kind registered for one test only: other tests hold every registered kind to their rules."""
    from archspec.blocks import BLOCKS

    archspec.register_block(ConvBN)
    try:
        yield ConvBN
    finally:
        BLOCKS.remove("test_convbn")


def test_a_python_kind_registered_after_import_is_usable_and_suggested(registered_convbn):
    spec = archspec.load("name: t\ninput: {channels: 3, size: 8}\n"
                         "stages: [{block: test_convbn, width: 4, stride: 2}]\n")
    network = archspec.compile(spec)
    assert archspec.check(spec).params == sum(p.numel() for p in network.parameters()) == 3 * 4 * 9 + 8
    (error,) = _errors("name: t\ninput: {channels: 3, size: 8}\nstages: [{block: test_convbm, width: 4}]\n")
    assert error.hint == "did you mean `test_convbn`?"
    with pytest.raises(ValueError, match="already registered"):
        archspec.register_block(ConvBN)
    with pytest.raises(TypeError, match="BlockStage"):
        archspec.register_block(int)  # type: ignore[arg-type]


def test_the_blocks_command_lists_every_kind(capsys):
    from archspec.cli import main

    assert main(["blocks", str(SE_RESNET_TINY)]) == 0
    out = capsys.readouterr().out
    for kind in ("basic", "squeeze_excite", "se_basic"):
        assert f"  {kind} " in out
    assert "reduction=16" in out


def test_dotted_node_names_nest_as_in_torchvision():
    blocks = ("  ir:\n    nodes:\n"
              "      - {name: conv.0.0, layer: conv, width: \"${in * 2}\", kernel: 1, bias: false}\n"
              "      - {name: conv.0.1, layer: batchnorm}\n"
              "      - {name: conv.0.2, layer: relu6}\n"
              "      - {name: conv.1, layer: conv, width: \"${width}\", kernel: 1, bias: false}\n"
              "      - {name: conv.2, layer: batchnorm}\n"
              "      - {op: add, from: [input, conv.2]}")
    network = archspec.compile(archspec.load(_spec(blocks, "  - {block: ir, width: 3}")))
    keys = [key for key in network.state_dict() if key.startswith("layer1.0.")]
    assert keys[0] == "layer1.0.conv.0.0.weight" and "layer1.0.conv.2.running_mean" in keys
    assert network(torch.randn(1, 3, 16, 16)).shape == (1, 4)


@pytest.mark.parametrize("name", ["steps", "output", "training", "__init__"])
def test_a_node_name_that_is_an_attribute_of_its_module_is_refused(name):
    errors = _errors(_spec(f"  b:\n    nodes:\n      - {{name: {name}, layer: relu}}", "  - {block: b, width: 3}"))
    assert any(e.path == ("blocks", "b", "nodes", 0, "name") and "reserved" in e.message for e in errors)


def test_a_dotted_group_that_is_not_a_chain_is_refused():
    blocks = ("  b:\n    nodes:\n"
              "      - {name: p.0, layer: conv, width: 3, kernel: 1}\n"
              "      - {name: q, layer: relu, from: input}\n"
              "      - {name: p.1, layer: relu, from: q}\n"
              "      - {op: add, from: [p.0, p.1]}")
    errors = _errors(_spec(blocks, "  - {block: b, width: 3}"))
    assert errors and all(e.path[:3] == ("blocks", "b", "nodes") for e in errors)


def test_a_spec_with_defined_blocks_dumps_as_written_and_loads_back(recwarn):
    from archspec.loader import dump

    spec = archspec.load(SE_RESNET_TINY)
    data = spec.model_dump(mode="json", exclude_defaults=True)
    assert data["blocks"]["se_basic"]["nodes"][6] == {"name": "downsample", "from": "input", "shortcut": "stage"}
    assert data["stages"][1] == {"block": "se_basic", "width": 32, "repeats": 2, "stride": 2, "reduction": 8}
    assert archspec.load(dump(data)) == spec
    assert not [w for w in recwarn if "serializ" in str(w.message)]


def test_nesting_that_multiplies_is_bounded_before_anything_is_evaluated():
    levels = "".join(f"  b{i}:\n    nodes:\n" + "".join(f"      - {{name: n{k}, block: b{i + 1}}}\n" for k in range(4))
                     for i in range(12))
    levels += "  b12:\n    nodes: [{layer: relu}]\n"
    (error,) = _errors(_spec(levels, "  - {block: b0, width: 3}"))
    assert error.path == ("stages", 0) and "16,777,216" in error.message


def test_a_defined_block_stage_scales_its_width():
    text = _spec("  b:\n    nodes:\n      - {layer: conv, width: \"${width}\", kernel: 1}",
                 "  - {block: b, width: 64, repeats: 2}")
    spec = archspec.load(text + "scales:\n  half: {width: 0.5, depth: 0.5}\n", scale="half")
    assert (spec.stages[0].width, spec.stages[0].repeats) == (32, 1)


@pytest.mark.parametrize("name", ["é", "a b", "conv-1", "conv..1"])
def test_a_node_name_must_be_a_module_name(name):
    errors = _errors(_spec(f"  b:\n    nodes:\n      - {{name: \"{name}\", layer: relu}}", "  - {block: b, width: 3}"))
    assert any(e.path[:4] == ("blocks", "b", "nodes", 0) for e in errors), [e.render() for e in errors]
