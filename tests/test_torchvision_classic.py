"""torchvision's AlexNet, VGG-11, VGG-11-BN, VGG-16 and GoogLeNet as specs, against torchvision itself
(no downloads: random weights).

For each spec: the parameter count equals the issue's figure, torchvision's model and its weights' meta
`num_params`; the tensors come in torchvision's order (shapes by position), so torchvision's weights copy
over with archspec.load_torchvision_weights and give the same outputs; the static MACs equal the exact
count of torch's FlopCounterMode at 224x224 and round to the `_ops` torchvision publishes; the smallest
accepted input equals the weights' meta `min_size`, and the outputs are compared at that size (the
smallest input is also the cheapest: VGG-16 alone is 15.5 GMACs at 224x224).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import pytest
import torch
import torchvision
from torch import nn
from torch_checks import assert_same_outputs, compiled_with_weights, counted_macs, randomise_batchnorm

import archspec
from archspec.build import build_module
from conftest import SPECS, checked_report

tv = torchvision.models
# spec -> (torchvision builder, the weights enum publishing num_params/_ops/min_size, the count).
# init_weights=False: PyTorch's default initialisation, faster than torchvision's normal distributions
# (138M values for VGG-16); the weights are random either way.
MODELS: dict[str, tuple[Callable[[], nn.Module], type, int]] = {
    "alexnet": (tv.alexnet, tv.AlexNet_Weights, 61_100_840),
    "vgg11": (partial(tv.vgg11, init_weights=False), tv.VGG11_Weights, 132_863_336),
    "vgg11-bn": (partial(tv.vgg11_bn, init_weights=False), tv.VGG11_BN_Weights, 132_868_840),
    "vgg16": (partial(tv.vgg16, init_weights=False), tv.VGG16_Weights, 138_357_544),
    # The GoogLeNet: no auxiliary heads, no input transform.
    "googlenet": (partial(tv.googlenet, aux_logits=False, init_weights=False, transform_input=False),
                  tv.GoogLeNet_Weights, 6_624_904),
}
# torchvision's weights meta records these minimum sizes; the issue asks the checker to derive them.
MIN_SIZES = {"alexnet": 63, "vgg11": 32, "vgg11-bn": 32, "vgg16": 32, "googlenet": 15}


@pytest.fixture(scope="module", params=sorted(MODELS))
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, nn.Module, nn.Module]]:
    """(name, compiled network carrying the torchvision model's weights, torchvision model with random
    weights and BatchNorm statistics), eval mode; one pair alive at a time (VGG-16: 550 MB a model)."""
    name = request.param
    torch.manual_seed(0)
    theirs = randomise_batchnorm(MODELS[name][0](), seed=1).eval()
    yield name, compiled_with_weights(checked_report(name), theirs), theirs


def test_parameter_count_equals_torchvision(pair: tuple[str, nn.Module, nn.Module]) -> None:
    name, ours, theirs = pair
    _, weights, expected = MODELS[name]
    assert sum(p.numel() for p in theirs.parameters()) == expected
    assert all(entry.meta["num_params"] == expected for entry in weights)
    assert sum(p.numel() for p in ours.parameters()) == expected
    assert checked_report(name).params == expected


def test_parameter_order_equals_torchvision(pair: tuple[str, nn.Module, nn.Module]) -> None:
    _, ours, theirs = pair
    assert [t.shape for t in ours.state_dict().values()] == [t.shape for t in theirs.state_dict().values()]
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]


def test_torchvision_weights_give_the_same_outputs(pair: tuple[str, nn.Module, nn.Module]) -> None:
    name, ours, theirs = pair
    assert_same_outputs(ours, theirs, (2, 3, MIN_SIZES[name], MIN_SIZES[name]))


def test_alexnet_features_have_torchvision_names() -> None:
    """The `features` list stage is torchvision's `features`, module for module: same state_dict keys."""
    with torch.device("meta"):
        ours, theirs = build_module(checked_report("alexnet")), tv.alexnet()
    assert [k for k in ours.state_dict() if k.startswith("features.")] == \
        [k for k in theirs.state_dict() if k.startswith("features.")]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_macs_equal_flop_counter_and_torchvision_ops(name: str) -> None:
    report = checked_report(name)
    builder, weights, _ = MODELS[name]
    assert report.input_shape == (3, 224, 224)
    assert report.macs == counted_macs(lambda: builder().eval(), (3, 224, 224))
    assert report.macs == counted_macs(lambda: build_module(report).eval(), (3, 224, 224))
    for entry in weights:  # e.g. VGG16_Weights.IMAGENET1K_V1.meta["_ops"] == 15.47 (GMACs)
        assert round(report.macs / 1e9, 3) == entry.meta["_ops"], entry


@pytest.mark.parametrize("name", sorted(MODELS))
def test_smallest_input_equals_torchvision_min_size(name: str) -> None:
    accepted = checked_report(name).input_range
    assert accepted is not None
    assert accepted.min_size == (MIN_SIZES[name], MIN_SIZES[name])
    assert accepted.max_size == (None, None)  # adaptive pooling before the classifier: no upper bound
    for entry in MODELS[name][1]:
        assert entry.meta["min_size"] == accepted.min_size, entry
    smaller = MIN_SIZES[name] - 1
    assert not archspec.check(SPECS / f"{name}.yaml", (3, smaller, MIN_SIZES[name])).ok
    with torch.device("meta"), pytest.raises(RuntimeError):  # torchvision refuses it too
        MODELS[name][0]().eval()(torch.zeros(1, 3, smaller, MIN_SIZES[name]))


# Shipped spec -> torchvision's constructor with its own initialisation (the spec's `init` in brackets).
INITIALISED: dict[str, Callable[[], nn.Module]] = {
    "alexnet": tv.alexnet,  # (pytorch) each module's default
    "vgg11": tv.vgg11,  # (vgg)
    "googlenet": partial(tv.googlenet, aux_logits=False, init_weights=True, transform_input=False),  # (googlenet)
    "resnet18": tv.resnet18,  # (kaiming)
}


@pytest.mark.parametrize("name", sorted(INITIALISED))
def test_the_specs_init_draws_torchvisions_weights_bit_for_bit(name: str) -> None:
    """Under the same seed, compiling the spec draws the very weights torchvision's constructor draws:
    the same modules are made in the same order, then initialised the same way."""
    torch.manual_seed(7)
    theirs = INITIALISED[name]()
    torch.manual_seed(7)
    ours = archspec.compile(SPECS / f"{name}.yaml")
    assert len(ours.state_dict()) == len(theirs.state_dict())
    for (our_name, our_tensor), (their_name, their_tensor) in zip(ours.state_dict().items(),
                                                                  theirs.state_dict().items()):
        assert torch.equal(our_tensor, their_tensor), (our_name, their_name)
