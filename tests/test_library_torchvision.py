"""The library kinds that reproduce torchvision's modules, each alone against that module (random
weights, nothing downloaded; MobileNetV2's is the library's `inverted_residual`,
tests/test_library_blocks.py): a spec whose only stage is the kind loads the module's state_dict with
strict=True under the same keys, gives its eval outputs to 1e-5 (BatchNorm statistics randomised)
and counts its parameters and MACs (FlopCounterMode's FLOPs / 2) exactly. The networks built from
them are tests/test_zoo_mobile.py."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn
from torch_checks import assert_macs_and_outputs, randomise_batchnorm
from torchvision.models import efficientnet, mobilenetv3
from torchvision.ops import Conv2dNormActivation, SqueezeExcitation

import archspec
from archspec.build import build_module


def assert_reproduces(stage: str, channels: int, reference: nn.Module, size: int = 9) -> None:
    text = f"name: t\ninput: {{channels: {channels}, size: {size}}}\nstages:\n  - {stage}\n"
    report = archspec.check(archspec.load(text))
    assert report.ok, report.errors
    block = build_module(report).get_submodule("layer1.0")
    torch.manual_seed(0)
    randomise_batchnorm(reference, seed=1).eval()
    assert list(block.state_dict()) == list(reference.state_dict())
    block.load_state_dict(reference.state_dict(), strict=True)
    block.eval()
    assert report.params == sum(p.numel() for p in reference.parameters())
    x = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(2))
    assert_macs_and_outputs(report, block, reference, x)


def _norm(eps: float = 1e-5, momentum: float = 0.1):
    return partial(nn.BatchNorm2d, eps=eps, momentum=momentum)


@pytest.mark.parametrize(("stage", "reference"), [
    ("{block: conv_norm_act, width: 16, stride: 2}", Conv2dNormActivation(8, 16, 3, 2)),
    (("{block: conv_norm_act, width: 8, kernel: 5, groups: depthwise, activation: hardswish, eps: 0.001, "
      "momentum: 0.01}"),
     Conv2dNormActivation(8, 8, 5, groups=8, activation_layer=nn.Hardswish, norm_layer=_norm(0.001, 0.01))),
    ("{block: conv_norm_act, width: 24, kernel: 1, activation: silu}",
     Conv2dNormActivation(8, 24, 1, activation_layer=nn.SiLU)),
    ("{block: squeeze_excitation, width: 8, squeeze: 3, activation: silu}",
     SqueezeExcitation(8, 3, activation=nn.SiLU)),
    ("{block: squeeze_excitation, width: 8, gate: hardsigmoid}",
     SqueezeExcitation(8, 2, scale_activation=nn.Hardsigmoid)),
])
def test_torchvisions_ops(stage: str, reference: nn.Module):
    assert_reproduces(stage, 8, reference)


@pytest.mark.parametrize(("expanded", "width", "kernel", "se", "activation", "stride"), [
    (16, 16, 3, 1, "RE", 2), (16, 16, 3, 0, "RE", 1), (72, 24, 3, 0, "RE", 2), (96, 16, 5, 1, "HS", 1)])
def test_mobilenet_v3_block(expanded, width, kernel, se, activation, stride):
    config = mobilenetv3.InvertedResidualConfig(16, kernel, expanded, width, bool(se), activation, stride, 1, 1.0)
    kind = "hardswish" if activation == "HS" else "relu"
    assert_reproduces(f"{{block: mobilenet_v3_block, width: {width}, stride: {stride}, expanded: {expanded}, "
                      f"kernel: {kernel}, se: {se}, activation: {kind}}}",
                      16, mobilenetv3.InvertedResidual(config, _norm(0.001, 0.01)))


@pytest.mark.parametrize(("expand_ratio", "kernel", "width", "stride"), [(1, 3, 16, 1), (6, 5, 16, 1), (6, 3, 24, 2)])
def test_mbconv(expand_ratio, kernel, width, stride):
    config = efficientnet.MBConvConfig(expand_ratio, kernel, stride, 16, width, 1)
    reference = efficientnet.MBConv(config, 0.1, nn.BatchNorm2d)
    stage = (f"{{block: mbconv, width: {width}, stride: {stride}, expand_ratio: {expand_ratio}, kernel: {kernel}, "
             "stochastic_depth_prob: 0.2, first_block: 1, total_blocks: 2}")
    assert_reproduces(stage, 16, reference)
    if stride == 1 and width == 16:  # where the block adds its input, it drops at torchvision's rate
        network = archspec.compile(archspec.load(f"name: t\ninput: {{channels: 16, size: 9}}\nstages:\n  - {stage}\n"))
        assert network.get_submodule("layer1.0.stochastic_depth").p == reference.stochastic_depth.p == 0.1
