"""ConvNeXt's pieces that torchvision writes channels-last: the `pointwise_linear` layer (nn.Linear over
each pixel's channels, CNBlock's `Permute -> Linear -> Permute`) and `layer_scale` held by a block as a
bare parameter (CNBlock's `layer_scale`, a key of the block itself, listed before its children).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from test_errors import errors_of
from torch import nn
from torch_checks import counted_macs
from torchvision.models.convnext import CNBlock
from torchvision.ops.misc import Permute

import archspec
from archspec import modules
from archspec.testing import to_spec

SHAPES = [(16, 12, 10), (3, 1, 7)]


def one_layer(layer: dict[str, Any], shape: tuple[int, int, int]) -> dict:
    return {"name": "one", "input": {"channels": shape[0], "size": list(shape[1:])},
            "stem": [{**layer, "name": "x"}]}


def channels_last_linear(channels: int, width: int, bias: bool) -> nn.Module:
    """What torchvision's CNBlock runs: permute to N x H x W x C, nn.Linear, permute back."""
    return nn.Sequential(Permute([0, 2, 3, 1]), nn.Linear(channels, width, bias), Permute([0, 3, 1, 2]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("width, bias", [(64, True), (5, False)])
def test_pointwise_linear_is_convnexts_channels_last_linear(shape, width, bias):
    torch.manual_seed(0)
    report = archspec.check(to_spec(one_layer({"layer": "pointwise_linear", "width": width, "bias": bias}, shape)))
    assert report.ok, [error.render() for error in report.errors]
    reference = channels_last_linear(shape[0], width, bias)
    assert report.output_shape == (width, *shape[1:])
    assert report.params == sum(p.numel() for p in reference.parameters())
    assert report.macs == counted_macs(lambda: channels_last_linear(shape[0], width, bias), shape)
    network = archspec.compile(report.spec).eval()
    assert isinstance(network.x, nn.Linear)  # nn.Linear's parameters: its state_dict loads both ways
    network.x.load_state_dict(reference[1].state_dict(), strict=True)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert torch.equal(network(x), reference(x))
        conv = nn.Conv2d(shape[0], width, 1, bias=bias)  # the same arithmetic as a 1x1 convolution
        conv.weight.copy_(network.x.weight[:, :, None, None])
        if bias:
            conv.bias.copy_(network.x.bias)
        assert torch.allclose(network(x), conv(x), atol=1e-5)


def test_pointwise_linear_on_flat_features_is_refused_at_the_layer_with_a_hint(tmp_path: Path):
    body = "head: [{layer: flatten}, {layer: pointwise_linear, width: 4}]"
    (error,) = errors_of("name: t\ninput: {channels: 3, size: 4}\n" + body + "\n", tmp_path)
    assert (error.line, error.column, error.path_text) == (3, body.index("{layer: pointwise") + 1, "head[1]")
    assert "pointwise_linear" in error.message and error.hint is not None and "flatten" in error.hint


BLOCK = """\
name: t
input: {channels: 16, size: 6}
blocks:
  scaled:
    nodes:
      - {name: block.0, layer: conv, width: "${in}", kernel: 7, padding: 3, groups: depthwise}
      - {name: block.2, layer: layernorm, eps: 1.0e-6}
      - {name: block.3, layer: pointwise_linear, width: "${4 * in}"}
      - {name: block.4, layer: gelu}
      - {name: block.5, layer: pointwise_linear, width: "${in}"}
      - {name: layer_scale, layer: layer_scale, scale: 0.5}
      - {name: stochastic_depth, layer: stochastic_depth, p: 0.0}
      - {op: add, from: [stochastic_depth, input]}
stages:
  - {block: scaled, width: 16}
"""


def test_a_blocks_layer_scale_is_a_bare_parameter_as_convnexts():
    """CNBlock's keys in its order (`layer_scale` first: a module's own parameters precede its
    children's), its state_dict loads strictly, and the block computes what CNBlock computes."""
    torch.manual_seed(0)
    network = archspec.compile(archspec.load(BLOCK)).eval()
    ours = network.layer1[0]
    theirs = CNBlock(16, layer_scale=0.5, stochastic_depth_prob=0.0).eval()
    assert isinstance(ours.layer_scale, nn.Parameter) and ours.layer_scale.shape == (16, 1, 1)
    assert torch.equal(ours.layer_scale, theirs.layer_scale)
    for parameter in theirs.parameters():
        nn.init.normal_(parameter)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():  # float rounding only: normal(0, 1) weights make outputs of ~100
        assert torch.allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_a_bare_parameter_exports_to_python_as_convnexts_and_computes_the_same():
    from archspec.export.python_source import python_source

    spec = archspec.load(BLOCK)
    torch.manual_seed(0)
    network = archspec.compile(spec).eval()
    source = python_source(archspec.check(spec), network)
    assert "self.layer_scale = nn.Parameter(torch.ones(16, 1, 1) * 0.5)" in source
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    generated = namespace["T"]().eval()
    assert list(generated.state_dict()) == list(network.state_dict())
    generated.load_state_dict(network.state_dict(), strict=True)
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        assert torch.equal(generated(x), network(x))


def test_pointwise_linear_exports_to_python_that_computes_the_same():
    from archspec.export.python_source import python_source

    spec = archspec.load("name: pl\ninput: {channels: 3, size: 5}\nstem:\n  - {layer: pointwise_linear, width: 6}\n"
                         "  - {layer: gelu}\n  - {layer: pointwise_linear, width: 4, bias: false}\n")
    torch.manual_seed(0)
    network = archspec.compile(spec).eval()
    namespace: dict[str, Any] = {}
    exec(python_source(archspec.check(spec), network), namespace)
    generated = namespace["Pl"]().eval()
    generated.load_state_dict(network.state_dict(), strict=True)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        assert torch.equal(generated(x), network(x))
    assert type(network.fc1) is modules.PointwiseLinear


def test_the_forward_check_counts_a_bare_parameter():
    from archspec.verify import verify_against_forward

    report = archspec.check(archspec.load(BLOCK))
    assert verify_against_forward(report, archspec.compile(report.spec)) == []
