"""The zoo's RegNets (torchvision), ResNet variants (timm's resnet26t: tiered deep stem and ResNet-D;
resnetv2_50: pre-activation) and ConvNeXt (issue 14) against their references, with random weights
(no downloads).

For each spec: the reference's state_dict loads into the compiled network with strict=True, under
the same keys in the same order, and the eval outputs are equal (random BatchNorm statistics, and
random LayerNorm parameters and layer scales, without which ConvNeXt's blocks hardly count; batch 1,
96x96); the parameter count equals the issue's figure and the reference's; the static MACs at 224x224
equal the issue's figure and the exact FlopCounterMode count (FLOPs / 2) on the reference, and round
to the `_ops` torchvision's weights publish where it has one, and the smallest accepted input is their
`min_size`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import NamedTuple

import pytest
import timm
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torch_checks import randomise_normalisation
from torchvision.ops import StochasticDepth

import archspec
from archspec.build import build_module
from archspec.regnet import adjust_compatibility, generate_regnet
from conftest import checked_report

tv = torchvision.models


class Reference(NamedTuple):
    build: Callable[[], nn.Module]
    weights: type | None  # torchvision's weights enum (meta num_params, _ops, min_size), if any
    params: int  # the figures
    macs: int
    same_order: bool = True  # state_dict keys in the reference's order (not only the same keys)


MODELS: dict[str, Reference] = {
    "regnet_x_400mf": Reference(tv.regnet_x_400mf, tv.RegNet_X_400MF_Weights, 5_495_976, 413_812_608),
    "regnet_y_400mf": Reference(tv.regnet_y_400mf, tv.RegNet_Y_400MF_Weights, 4_344_144, 401_842_848),
    "resnet26t": Reference(partial(timm.create_model, "resnet26t"), None, 16_011_872, 2_550_286_336),
    # timm's PreActBottleneck creates its shortcut first, though it reads the pre-activation computed
    # after it: a graph of nodes in order cannot list it first, so only the key set is the same.
    "resnetv2_50": Reference(partial(timm.create_model, "resnetv2_50"), None, 25_549_352, 4_089_184_256,
                             same_order=False),
    "convnext_tiny": Reference(tv.convnext_tiny, tv.ConvNeXt_Tiny_Weights, 28_589_128, 4_455_531_264),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request: pytest.FixtureRequest) -> Iterator[tuple[str, archspec.Report, nn.Module]]:
    """(name, its report, the reference with random weights and BatchNorm statistics, eval mode)."""
    name = request.param
    torch.manual_seed(0)
    yield name, checked_report(name), randomise_normalisation(MODELS[name].build(), seed=1).eval()


def _reference_macs(name: str) -> int:
    """FlopCounterMode's multiply-adds (FLOPs / 2) of one 3x224x224 image on a fresh reference moved to
    the meta device (shapes only). It is built on the CPU: RegNet's constructor computes with tensors."""
    network = MODELS[name].build().to("meta")
    with FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, 3, 224, 224, device="meta"))
    return counter.get_total_flops() // 2


def test_state_dict_loads_strictly_and_outputs_are_equal(case) -> None:
    name, report, theirs = case
    ours = build_module(report).eval()
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    if MODELS[name].same_order:
        assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    # 96x96: the same network as at 224 (every one here ends in a global pool), at a fifth of the cost.
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, found = theirs(x), ours(x)
    assert found.shape == expected.shape == (1, 1000)
    assert (found - expected).abs().max().item() <= 1e-5


def test_figures_equal_the_reference(case) -> None:
    name, report, theirs = case
    reference = MODELS[name]
    assert report.params == reference.params == sum(p.numel() for p in theirs.parameters())
    assert report.macs == reference.macs == _reference_macs(name)
    if reference.weights is not None:
        meta = next(iter(reference.weights)).meta
        assert meta["num_params"] == report.params
        assert round(report.macs / 1e9, 3) == meta["_ops"]
        assert report.input_range.min_size == meta["min_size"]


def test_regnet_x_400mf_stages_are_the_generators() -> None:
    """The spec's stage widths and depths are archspec's RegNet generator's (torchvision's
    BlockParams.from_init_params: w0 24, wa 24.48, wm 2.54, depth 22, group width 16)."""
    widths, depths = generate_regnet(24, 24.48, 2.54, 22)
    widths = [adjust_compatibility(width, 1, 16)[0] for width in widths]
    stages = checked_report("regnet_x_400mf").spec.stages
    assert [(stage.width, stage.repeats) for stage in stages] == list(zip(widths, depths))


def test_convnext_tiny_trains_as_torchvisions() -> None:
    """Stochastic depth's p grows over the 18 blocks as torchvision's (0.1 * block / 17, the same
    float), so train mode draws the same: equal outputs under one seed, with weights loaded (layer
    scales randomised: at their initial 1e-6 a dropped block would not show in the output)."""
    torch.manual_seed(0)
    theirs = randomise_normalisation(tv.convnext_tiny(), seed=1).train()
    ours = build_module(checked_report("convnext_tiny")).train()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    def depths(network: nn.Module) -> list[tuple[str, float, str]]:
        return [(name, m.p, m.mode) for name, m in network.named_modules() if isinstance(m, StochasticDepth)]
    assert depths(ours) == depths(theirs) and len(depths(ours)) == 18
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    expected = theirs(x)
    torch.manual_seed(3)
    assert torch.allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
    torch.manual_seed(4)  # other draws drop other blocks: the comparison above sees the masks
    assert not torch.allclose(ours(x), expected, rtol=1e-3, atol=1e-3)
