"""The modern zoo's layer kinds (issue 14): relu6, hardswish, hardsigmoid, identity, stochastic_depth,
channel_shuffle, layernorm, layer_scale, adaptive/global max pool, and `groups: depthwise` on conv.

Each is held to a real module: static shape, parameters and MACs (FlopCounterMode's FLOPs / 2, the
count torchvision's `_ops` gives: 0 for activations, norms, pooling), the very module type torchvision's
networks use with a strict state_dict round trip, equal train-mode behaviour under one seed, and bad
input refused at its field with a hint.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from test_errors import errors_of
from torch import nn
from torch_checks import counted_macs
from torchvision.models.convnext import CNBlock, LayerNorm2d
from torchvision.models.shufflenetv2 import channel_shuffle
from torchvision.ops import StochasticDepth

import archspec
from archspec import modules
from archspec.export.modern_sources import MODERN_SOURCES
from archspec.testing import to_spec


def one_layer(layer: dict[str, Any], shape: tuple[int, ...] = (16, 12, 10), name: str = "x") -> dict:
    stem = [{"layer": "flatten"}] if len(shape) == 1 else []
    channels, *size = shape if len(shape) == 3 else (shape[0], 1, 1)
    return {"name": "one", "input": {"channels": channels, "size": size},
            "stem": [*stem, {**layer, "name": name}]}


# (layer, input shape, the module torchvision's networks build for it, given the input channels)
REFERENCES: list[tuple[dict[str, Any], tuple[int, ...], Any]] = [
    ({"layer": "relu6"}, (16, 12, 10), lambda c: nn.ReLU6(inplace=True)),
    ({"layer": "hardswish"}, (16, 12, 10), lambda c: nn.Hardswish(inplace=True)),
    ({"layer": "hardsigmoid"}, (16, 12, 10), lambda c: nn.Hardsigmoid()),
    ({"layer": "identity"}, (16, 12, 10), lambda c: nn.Identity()),
    ({"layer": "identity"}, (16,), lambda c: nn.Identity()),
    ({"layer": "stochastic_depth", "p": 0.2}, (16, 12, 10), lambda c: StochasticDepth(0.2, "row")),
    ({"layer": "stochastic_depth", "p": 0.5, "mode": "batch"}, (16, 12, 10), lambda c: StochasticDepth(0.5, "batch")),
    ({"layer": "layernorm", "eps": 1e-6}, (16, 12, 10), lambda c: LayerNorm2d(c, eps=1e-6)),
    ({"layer": "layernorm"}, (16,), nn.LayerNorm),
    ({"layer": "adaptive_maxpool", "size": [2, 3]}, (16, 12, 10), lambda c: nn.AdaptiveMaxPool2d((2, 3))),
    ({"layer": "global_maxpool"}, (16, 12, 10), lambda c: nn.AdaptiveMaxPool2d((1, 1))),
    ({"layer": "conv", "width": 16, "kernel": 3, "padding": 1, "groups": "depthwise"}, (16, 12, 10),
     lambda c: nn.Conv2d(c, c, 3, padding=1, groups=c)),
    ({"layer": "conv", "width": 48, "kernel": 5, "stride": 2, "groups": "depthwise", "bias": False}, (16, 12, 10),
     lambda c: nn.Conv2d(c, 3 * c, 5, stride=2, groups=c, bias=False)),
    ({"layer": "channel_shuffle", "groups": 4}, (16, 12, 10), lambda c: modules.ChannelShuffle(4)),
    ({"layer": "layer_scale", "scale": 0.5}, (16, 12, 10), lambda c: modules.LayerScale(c, 0.5)),
]
IDS = [f"{layer['layer']}-{'x'.join(map(str, shape))}" for layer, shape, _ in REFERENCES]


@pytest.mark.parametrize("layer, shape, make", REFERENCES, ids=IDS)
def test_static_figures_equal_the_torchvision_module(layer: dict, shape: tuple[int, ...], make: Any):
    report = archspec.check(to_spec(one_layer(layer, shape)))
    assert report.ok, [error.render() for error in report.errors]
    reference = make(shape[0]).eval()
    x = torch.randn(2, *shape)
    out = reference(x.clone())
    assert report.output_shape == tuple(out.shape[1:])
    assert report.params == sum(p.numel() for p in reference.parameters())
    assert report.macs == counted_macs(lambda: make(shape[0]), shape)


@pytest.mark.parametrize("layer, shape, make", REFERENCES, ids=IDS)
def test_the_module_is_torchvisions_type_and_loads_strictly_both_ways(layer: dict, shape: tuple[int, ...],
                                                                      make: Any):
    torch.manual_seed(0)
    network = archspec.compile(to_spec(one_layer(layer, shape)))
    built, reference = network.x, make(shape[0])
    assert type(built) is type(reference)
    theirs = nn.Sequential(OrderedDict(x=reference))
    for module in theirs.modules():  # fresh values, so that the copy is seen
        for parameter in module.parameters(recurse=False):
            nn.init.normal_(parameter)
    ours_keys = [key for key in network.state_dict() if key.startswith("x.") or key == "x"]
    assert ours_keys == list(theirs.state_dict())
    network.load_state_dict(theirs.state_dict(), strict=True)
    theirs.load_state_dict(network.state_dict(), strict=True)
    network.eval(), theirs.eval()
    x = torch.randn(2, *shape)
    assert torch.equal(network(x.clone()), theirs(nn.Flatten()(x.clone()) if len(shape) == 1 else x.clone()))


def test_channel_shuffle_equals_shufflenets_function():
    network = archspec.compile(to_spec(one_layer({"layer": "channel_shuffle", "groups": 4}, (24, 5, 7))))
    x = torch.randn(3, 24, 5, 7)
    assert torch.equal(network(x), channel_shuffle(x, 4))
    assert not torch.equal(network(x), x)  # it did move channels


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_in_train_mode_draws_what_torchvision_draws(mode: str):
    network = archspec.compile(to_spec(one_layer({"layer": "stochastic_depth", "p": 0.4, "mode": mode},
                                                 (4, 3, 3)))).train()
    reference = StochasticDepth(0.4, mode).train()
    x = torch.randn(64, 4, 3, 3)
    torch.manual_seed(7)
    ours = network(x)
    torch.manual_seed(7)
    assert torch.equal(ours, reference(x))
    assert not torch.equal(ours, x)  # it dropped something: the comparison is not vacuous
    network.eval()
    assert network(x) is x or torch.equal(network(x), x)  # identity in eval


def test_the_exported_stochastic_depth_copy_draws_the_same_in_train_mode():
    namespace: dict[str, Any] = {"torch": torch, "nn": nn}
    exec(MODERN_SOURCES["StochasticDepth"], namespace)  # the text the generated file holds
    x = torch.randn(32, 4, 2, 2)
    for mode in ("row", "batch"):
        copy, reference = namespace["StochasticDepth"](0.3, mode).train(), StochasticDepth(0.3, mode).train()
        torch.manual_seed(3)
        ours = copy(x)
        torch.manual_seed(3)
        assert torch.equal(ours, reference(x))


def test_dropout_in_train_mode_draws_what_nn_dropout_draws():
    network = archspec.compile(to_spec(one_layer({"layer": "dropout", "p": 0.3}, (4, 3, 3)))).train()
    x = torch.randn(8, 4, 3, 3)
    torch.manual_seed(5)
    ours = network(x)
    torch.manual_seed(5)
    assert torch.equal(ours, nn.Dropout(0.3).train()(x))


def test_layer_scale_starts_as_convnexts_and_a_block_can_hold_it_bare():
    network = archspec.compile(to_spec(one_layer({"layer": "layer_scale"}, (16, 4, 4), name="layer_scale")))
    convnext_block = CNBlock(16, layer_scale=1e-6, stochastic_depth_prob=0.0)
    assert network.layer_scale.weight.shape == (16, 1, 1)
    assert torch.equal(network.layer_scale.weight, convnext_block.layer_scale)
    parameter = modules.bare_parameter(network.layer_scale)
    assert parameter is network.layer_scale.weight
    assert modules.bare_parameter(nn.ReLU()) is None
    x = torch.randn(2, 16, 4, 4)
    assert torch.equal(network(x), convnext_block.layer_scale * x)


def test_in_place_activations_train_after_batchnorm():
    """relu6 and hardswish default to in place (as torchvision's MobileNets): a backward pass runs."""
    document = one_layer({"layer": "hardswish"}, (4, 6, 6))
    document["stem"] = [{"layer": "conv", "width": 8, "groups": "depthwise"}, {"layer": "batchnorm"},
                        {"layer": "relu6"}, {"layer": "conv", "width": 8, "kernel": 1}, {"layer": "batchnorm"},
                        *document["stem"]]
    network = archspec.compile(to_spec(document)).train()
    assert network.relu6.inplace and network.x.inplace
    network(torch.randn(3, 4, 6, 6)).sum().backward()
    assert all(p.grad is not None for p in network.parameters())


def test_depthwise_is_groups_equal_to_the_input_channels():
    written = archspec.check(to_spec(one_layer({"layer": "conv", "width": 32, "groups": 16}, (16, 9, 9))))
    depthwise = archspec.check(to_spec(one_layer({"layer": "conv", "width": 32, "groups": "depthwise"},
                                                 (16, 9, 9))))
    assert (depthwise.params, depthwise.macs, depthwise.output_shape) == (
        written.params, written.macs, written.output_shape)
    assert archspec.compile(to_spec(one_layer({"layer": "conv", "width": 32, "groups": "depthwise"},
                                              (16, 9, 9)))).x.groups == 16


HEADER = "name: t\ninput: {channels: 12, size: 16}\n"
# (body after HEADER, the text the caret points at, spec path, words of the message, words of the hint)
ERRORS = [
    ("stem: [{layer: channel_shuffle, groups: 5}]", "5}", "stem[0].groups",
     "channel_shuffle groups 5 must divide the 12 input channels", "use groups 2, 3, 4, 6"),
    ("stem: [{layer: conv, width: 18, groups: depthwise}]", "18", "stem[0].width",
     "depthwise convolution's width must be a multiple of its 12 input channels, found width 18",
     "write `width: 12`"),
    ("stem: [{layer: conv, width: 12, groups: depthwse}]", "depthwse", "stem[0].groups",
     "expected an integer or 'depthwise'", "did you mean `depthwise`?"),
    ("stem: [{layer: stochastic_depth, p: 0.1, mode: rows}]", "rows", "stem[0].mode",
     "expected 'row' or 'batch'", "did you mean `row`?"),
    ("stem: [{layer: stochastic_depth}]", "{layer: stochastic_depth", "stem[0].p", "missing required key `p`",
     "add `p: ...`"),
    ("head: [{layer: flatten}, {layer: layer_scale}]", "{layer: layer_scale", "head[1]",
     "layer_scale expects an image", "move this layer before `flatten`"),
    ("head: [{layer: flatten}, {layer: global_maxpool}]", "{layer: global_maxpool", "head[1]",
     "global_maxpool expects an image", "move this layer before `flatten`"),
    ("head: [{layer: flatten}, {layer: channel_shuffle, groups: 2}]", "{layer: channel_shuffle", "head[1]",
     "channel_shuffle expects an image", "move this layer before `flatten`"),
]


@pytest.mark.parametrize("body, caret, path, message, hint", ERRORS, ids=[e[2] + ":" + e[3][:24] for e in ERRORS])
def test_bad_input_is_refused_at_its_field_with_a_hint(body: str, caret: str, path: str, message: str, hint: str,
                                                       tmp_path: Path):
    errors = errors_of(HEADER + body + "\n", tmp_path)
    assert len(errors) == 1, [error.render() for error in errors]
    error = errors[0]
    column = body.index(caret) + 1
    assert (error.line, error.column, error.path_text) == (3, column, path)
    assert message in error.message
    assert error.hint is not None and hint in error.hint


def test_diagrams_label_the_new_kinds():
    from archspec.export.diagram import layer_text
    from archspec.graph import LayerNode

    document = one_layer({"layer": "conv", "width": 32, "kernel": 3, "groups": "depthwise"}, (16, 9, 9))
    document["stem"] += [{"layer": "stochastic_depth", "p": 0.1}, {"layer": "adaptive_maxpool", "size": 2},
                         {"layer": "channel_shuffle", "groups": 4}]
    report = archspec.check(to_spec(document))
    texts = [layer_text(r.node) for r in report.resolved if isinstance(r.node, LayerNode)]
    assert texts == ["conv 3x3, 32, groups depthwise", "stochastic depth 0.1", "adaptive maxpool to 2x2",
                     "channel shuffle, groups 4"]


EVERY_KIND = """\
name: modern
input: {channels: 8, size: 16}
stem:
  - {layer: conv, width: 16, groups: depthwise, padding: 1}
  - {layer: layernorm, eps: 1.0e-6}
  - {layer: hardswish}
  - {layer: channel_shuffle, groups: 4}
  - {layer: layer_scale, scale: 0.5}
  - {layer: stochastic_depth, p: 0.1}
  - {layer: relu6}
  - {layer: hardsigmoid}
  - {layer: identity}
  - {layer: adaptive_maxpool, size: 2}
  - {layer: global_maxpool}
  - {layer: flatten}
  - {layer: layernorm}
"""


def test_every_new_kind_exports_to_onnx_and_python_that_compute_the_same(tmp_path: Path):
    import onnxruntime

    from archspec.export.onnx import export_onnx
    from archspec.export.python_source import python_source

    spec = archspec.load(EVERY_KIND)
    torch.manual_seed(0)
    network = archspec.compile(spec).eval()
    for parameter in network.parameters():  # away from the defaults (LayerNorm's ones and zeros)
        nn.init.normal_(parameter)
    x = torch.randn(3, 8, 16, 16)
    with torch.no_grad():
        expected = network(x)
    export_onnx(network, (8, 16, 16), tmp_path / "modern.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "modern.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    assert float((torch.from_numpy(got) - expected).abs().max()) < 1e-4
    namespace: dict[str, Any] = {}
    exec(python_source(archspec.check(spec), network), namespace)
    generated = namespace["Modern"]().eval()
    generated.load_state_dict(network.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(generated(x), expected)
