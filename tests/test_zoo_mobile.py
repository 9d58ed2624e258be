"""MobileNetV2, MobileNetV3 (small, large) and EfficientNet-B0, written as specs from the library's
YAML blocks, against torchvision's models (random weights, nothing downloaded).

For each: torchvision's state_dict loads into the compiled network with strict=True; eval outputs
agree to 1e-5 after the reference's BatchNorm statistics are randomised; parameters equal the figure
of issue 14 and the weights' `meta["num_params"]`; MACs at 224 equal FlopCounterMode's FLOPs / 2 on
the reference and the weights' `meta["_ops"]` (GMACs to 3 decimals); the smallest input size archspec
reports is torchvision's `min_size`, and both networks run there; every dropout and stochastic depth
module has the reference's type and probability, so that training behaves the same.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache

import pytest
import torch
import torchvision.models as tvm
from torch import nn
from torch_checks import counted_macs, randomise_batchnorm
from torchvision.ops import StochasticDepth

import archspec
from archspec.build import build_module
from conftest import SPECS

# spec -> (reference, its weights' metadata, parameters, MACs at 224): the figures of issue 14's table.
ZOO: dict[str, tuple[Callable[[], nn.Module], object, int, int]] = {
    "mobilenet_v2": (tvm.mobilenet_v2, tvm.MobileNet_V2_Weights.IMAGENET1K_V1, 3_504_872, 300_774_272),
    "mobilenet_v3_small": (tvm.mobilenet_v3_small, tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1,
                           2_542_856, 56_510_400),
    "mobilenet_v3_large": (tvm.mobilenet_v3_large, tvm.MobileNet_V3_Large_Weights.IMAGENET1K_V1,
                           5_483_032, 216_589_760),
    "efficientnet_b0": (tvm.efficientnet_b0, tvm.EfficientNet_B0_Weights.IMAGENET1K_V1, 5_288_548, 385_814_752),
}


@cache  # each network is built once for all the tests here; they only run it in eval mode
def _pair(network: str) -> tuple[archspec.Report, nn.Module, nn.Module]:
    """The spec's report, its compiled network carrying the reference's weights, and the reference."""
    factory = ZOO[network][0]
    report = archspec.check(archspec.load(SPECS / f"{network}.yaml"))
    assert report.ok, report.errors
    torch.manual_seed(0)
    reference = randomise_batchnorm(factory(), seed=1).eval()
    ours = build_module(report)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return report, ours.eval(), reference


@pytest.mark.parametrize("network", list(ZOO))
def test_the_spec_is_torchvisions_network(network: str):
    factory, weights, params, macs = ZOO[network]
    report, ours, reference = _pair(network)
    assert list(ours.state_dict()) == list(reference.state_dict())  # the same keys in the same order
    meta = weights.meta  # type: ignore[attr-defined]
    assert report.params == sum(p.numel() for p in ours.parameters()) == params
    assert sum(p.numel() for p in reference.parameters()) == meta["num_params"] == params
    assert report.macs == counted_macs(factory, (3, 224, 224)) == macs
    assert round(report.macs / 1e9, 3) == meta["_ops"]
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, found = reference(x), ours(x)
    assert found.shape == expected.shape == (1, 1000)
    assert (found - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize("network", list(ZOO))
def test_the_smallest_input_is_torchvisions_and_runs(network: str):
    _, weights, _, _ = ZOO[network]
    report, ours, reference = _pair(network)
    accepted = report.input_range
    assert accepted is not None
    assert accepted.min_size == weights.meta["min_size"]  # type: ignore[attr-defined]
    x = torch.randn(1, 3, *accepted.min_size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (ours(x) - reference(x)).abs().max().item() <= 1e-5


def _regularisers(network: nn.Module) -> dict[str, tuple[type, float, str]]:
    """Every dropout and stochastic depth module that the forward uses, with its probability."""
    found = {}
    for name, module in network.named_modules():
        if isinstance(module, nn.Dropout):
            found[name] = (nn.Dropout, module.p, "")
        elif isinstance(module, StochasticDepth):
            parent = network.get_submodule(name.rpartition(".")[0])
            if getattr(parent, "use_res_connect", True):  # torchvision keeps an unused one where there is no residual
                found[name] = (StochasticDepth, module.p, module.mode)
    return found


@pytest.mark.parametrize("network", list(ZOO))
def test_dropout_and_stochastic_depth_equal_the_references(network: str):
    _, ours, reference = _pair(network)
    expected = _regularisers(reference)
    assert _regularisers(ours) == expected
    if network == "efficientnet_b0":  # the rate grows block by block: 0.2 * k / 16 at block k
        rates = [p for kind, p, _ in expected.values() if kind is StochasticDepth]
        assert len(rates) == 9 and rates == sorted(rates) and rates[0] > 0


@pytest.mark.parametrize("network", list(ZOO))
def test_training_mode_draws_the_same_masks(network: str):
    """In train mode both networks drop the same samples (same modules, same order of random draws)
    and normalise with the batch's statistics: equal outputs from equal seeds."""
    _, ours, reference = _pair(network)
    ours, reference = copy.deepcopy(ours).train(), copy.deepcopy(reference).train()
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(5)
    expected = reference(x)
    torch.manual_seed(5)
    found = ours(x)
    assert (found - expected).abs().max().item() <= 1e-4


def _efficientnet_b0_width(width_mult: float) -> nn.Module:
    """torchvision's EfficientNet with B0's depths and another width multiplier."""
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

    setting, last_channel = _efficientnet_conf("efficientnet_b0", width_mult=width_mult, depth_mult=1.0)
    return EfficientNet(setting, dropout=0.2, last_channel=last_channel)


WIDTHS: dict[str, Callable[..., nn.Module]] = {
    "mobilenet_v2": tvm.mobilenet_v2, "mobilenet_v3_small": tvm.mobilenet_v3_small,
    "mobilenet_v3_large": tvm.mobilenet_v3_large, "efficientnet_b0": _efficientnet_b0_width}


@pytest.mark.parametrize("width_mult", [0.35, 0.75, 1.3])
@pytest.mark.parametrize("network", list(WIDTHS))
def test_other_widths_round_as_torchvision(network: str, width_mult: float):
    """`--set width_mult=...`: every width goes through divisible(...) as torchvision's
    _make_divisible, so the state_dict of torchvision's model of that width loads strictly."""
    factory = WIDTHS[network]
    report = archspec.check(archspec.load(SPECS / f"{network}.yaml", overrides={"width_mult": width_mult}))
    assert report.ok, report.errors
    with torch.device("meta"):
        reference = factory(width_mult=width_mult)
        ours = build_module(report)
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
    assert report.params == sum(p.numel() for p in reference.parameters())
