"""The standard library of block kinds (archspec/library/*.yaml) against the modules they reproduce.

Each kind is compiled as the only stage of a small spec and compared with the reference module from
timm or torchvision (random weights, no downloads): the reference's state_dict loads into the
compiled block with strict=True under the same keys, eval outputs agree to 1e-5 after the reference's
BatchNorm statistics are randomised, gradients agree in training mode, and the parameter counts
and MACs (FlopCounterMode's FLOPs / 2 on the reference) equal archspec's static figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import timm
import torch
from torch import nn
from torch_checks import assert_macs_and_outputs, randomise_batchnorm
from torchvision.models.densenet import _DenseBlock, _DenseLayer, _Transition
from torchvision.models.mobilenetv2 import InvertedResidual

import archspec
from archspec.build import build_module
from archspec.cli import main
from archspec.library import library_kinds
from conftest import ROOT

LIBRARY_KINDS = ("squeeze_excite", "se_basic", "se_bottleneck", "preact_basic", "preact_bottleneck",
                 "inverted_residual", "dense_layer", "transition")


def test_the_library_loads_and_archspec_blocks_lists_every_kind(capsys):
    kinds = library_kinds()
    assert set(LIBRARY_KINDS) <= set(kinds)
    assert main(["blocks"]) == 0
    listed = capsys.readouterr().out
    for kind in LIBRARY_KINDS:
        line = next((line for line in listed.splitlines() if line.split()[:1] == [kind]), None)
        assert line is not None, f"`archspec blocks` does not list {kind}"
        assert len(line.split()) > 1, f"{kind} has no description"
        assert kinds[kind].definition.description  # type: ignore[attr-defined]


def test_every_library_kind_has_a_line_in_archspec_blocks_and_a_row_in_the_readmes_table(capsys):
    """Issue 14: each library block documented; the README's library table names every kind the
    library ships (it had no rows for regnet_x, regnet_y, convnext_block and the two `_layers` kinds)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| kind | fields (defaults) | what it is | reference |"):readme.index("**Imports.**")]
    documented = {name for row in table.splitlines()[2:] if row.startswith("| ")
                  for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert main(["blocks"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()
              if line.startswith("  ") and len(line.split()) > 1 and not line.startswith("   ")}
    for kind, model in library_kinds().items():
        assert model.definition.description, kind  # type: ignore[attr-defined]
        assert kind in listed, f"`archspec blocks` does not list {kind}"
        assert kind in documented, f"README's library table has no row for {kind}"


def _stage_network(stage: str, channels: int, size: int) -> tuple[archspec.Report, nn.Module]:
    text = f"name: library-test\ninput: {{channels: {channels}, size: {size}}}\nstages:\n  - {stage}\n"
    report = archspec.check(archspec.load(text))
    assert report.ok, report.errors
    return report, build_module(report)


def assert_reproduces(stage: str, channels: int, size: int, reference: nn.Module, module: str = "layer1.0",
                      rename: Callable[[str], str] = lambda key: key) -> None:
    """The stage `stage` compiled on a channels x size x size input is `reference`: strict load, equal
    outputs, parameters and MACs. `module` is the compiled module that `reference` stands for."""
    report, ours = _stage_network(stage, channels, size)
    randomise_batchnorm(reference, seed=1).eval()
    theirs = {rename(key): value for key, value in reference.state_dict().items()}
    block = ours.get_submodule(module)
    assert sorted(block.state_dict()) == sorted(theirs)
    block.load_state_dict(theirs, strict=True)
    ours.eval()
    params = sum(p.numel() for p in reference.parameters())
    assert report.params == sum(p.numel() for p in ours.parameters()) == params
    x = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(2))
    assert_macs_and_outputs(report, ours, reference, x)
    # Training: batch statistics, and gradients through the in-place ReLUs the compiled block chose.
    ours.train()
    reference.train()
    mine, theirs_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours(mine).square().sum().backward()
    reference(theirs_x).square().sum().backward()
    assert mine.grad is not None and theirs_x.grad is not None
    assert (mine.grad - theirs_x.grad).abs().max().item() <= 1e-4 * max(1.0, theirs_x.grad.abs().max().item())


def _timm_block(model: str, path: str) -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model(model).get_submodule(path)


@pytest.mark.parametrize(("stage", "channels", "model", "path"), [
    ("{block: se_basic, width: 64}", 64, "seresnet18", "layer1.0"),  # identity shortcut
    ("{block: se_basic, width: 128, stride: 2}", 64, "seresnet18", "layer2.0"),  # projection
])
def test_se_basic_is_timms_basic_block_with_se(stage, channels, model, path):
    assert_reproduces(stage, channels, 16, _timm_block(model, path))


@pytest.mark.parametrize(("stage", "channels", "model", "path"), [
    ("{block: se_bottleneck, width: 64}", 64, "seresnet50", "layer1.0"),  # projection at stride 1
    ("{block: se_bottleneck, width: 64}", 256, "seresnet50", "layer1.1"),  # identity
    ("{block: se_bottleneck, width: 128, stride: 2}", 256, "seresnet50", "layer2.0"),
    ("{block: se_bottleneck, width: 128, stride: 2, groups: 32, width_per_group: 4}", 256,
     "seresnext50_32x4d", "layer2.0"),  # grouped 3x3 (SE-ResNeXt)
])
def test_se_bottleneck_is_timms_bottleneck_with_se(stage, channels, model, path):
    assert_reproduces(stage, channels, 16, _timm_block(model, path))


def test_squeeze_excite_is_timms_se_module():
    assert_reproduces("{block: squeeze_excite, width: 256}", 256, 8, _timm_block("seresnet50", "layer1.0.se"))


@pytest.mark.parametrize(("stage", "channels", "path"), [
    ("{block: preact_basic, width: 64}", 64, "stages.0.blocks.0"),  # the input itself
    ("{block: preact_basic, width: 128, stride: 2}", 64, "stages.1.blocks.0"),  # projection
])
def test_preact_basic_is_timms_preact_basic(stage, channels, path):
    assert_reproduces(stage, channels, 16, _timm_block("resnetv2_18", path))


@pytest.mark.parametrize(("stage", "channels", "path"), [
    ("{block: preact_bottleneck, width: 64}", 64, "stages.0.blocks.0"),  # projection at stride 1
    ("{block: preact_bottleneck, width: 64}", 256, "stages.0.blocks.1"),  # the input itself
    ("{block: preact_bottleneck, width: 128, stride: 2}", 256, "stages.1.blocks.0"),
])
def test_preact_bottleneck_is_timms_preact_bottleneck(stage, channels, path):
    assert_reproduces(stage, channels, 16, _timm_block("resnetv2_50", path))


@pytest.mark.parametrize(("stage", "channels", "stride", "expand_ratio"), [
    ("{block: inverted_residual, width: 16, expand_ratio: 1}", 32, 1, 1),  # no expansion, no residual
    ("{block: inverted_residual, width: 24, stride: 2}", 16, 2, 6),  # stride 2: no residual
    ("{block: inverted_residual, width: 24}", 24, 1, 6),  # the shape is kept: residual
    ("{block: inverted_residual, width: 32, expand_ratio: 1}", 32, 1, 1),  # residual, no expansion
])
def test_inverted_residual_is_torchvisions(stage, channels, stride, expand_ratio):
    torch.manual_seed(0)
    width = int(re.search(r"width: (\d+)", stage).group(1))  # type: ignore[union-attr]
    reference = InvertedResidual(channels, width, stride, expand_ratio)
    assert_reproduces(stage, channels, 16, reference)


def test_a_stage_of_dense_layers_is_torchvisions_dense_block():
    torch.manual_seed(0)
    reference = _DenseBlock(num_layers=3, num_input_features=64, bn_size=4, growth_rate=32, drop_rate=0.0)
    assert_reproduces("{block: dense_layer, width: 32, repeats: 3, copy_names: 'denselayer{number}'}", 64, 8,
                      reference, module="layer1")


def test_dense_layer_is_torchvisions_dense_layer_concatenated_after_its_input():
    torch.manual_seed(0)
    layer = _DenseLayer(48, growth_rate=12, bn_size=2, drop_rate=0.0, memory_efficient=False)

    class Concatenated(nn.Module):  # _DenseBlock's torch.cat([input, new features], 1) for one layer
        def __init__(self) -> None:
            super().__init__()
            self.layer = layer

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, self.layer(x)], 1)

    assert_reproduces("{block: dense_layer, width: 12, bn_size: 2}", 48, 8, Concatenated(),
                      rename=lambda key: key.removeprefix("layer."))


def test_transition_is_torchvisions():
    torch.manual_seed(0)
    assert_reproduces("{block: transition, width: 128}", 256, 16, _Transition(256, 128))
