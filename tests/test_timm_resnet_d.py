"""specs/resnet50d.yaml against timm's resnet50d (random weights, no downloads): a deep stem written
with dotted names (`conv1.0` ... `conv1.6`) and shortcut D (timm's `downsample_avg`).

timm's state_dict loads into the compiled network with strict=True, under the same keys in the same
order; eval outputs are equal; the parameter count and the MACs at 224x224 are the issue's figures,
and the MACs equal torch's FlopCounterMode count (FLOPs / 2) on timm's model.
"""

from __future__ import annotations

import pytest
import timm
import torch
from torch.nn.modules.utils import _pair
from torch_checks import assert_loads_strictly_with_equal_outputs, counted_macs, randomise_batchnorm

import archspec
from archspec.build import build_module
from conftest import SPECS

PARAMS = 25_576_264  # issue 13: timm's resnet50d
MACS = 4_328_824_832  # at 3x224x224


@pytest.fixture(scope="module")
def report() -> archspec.Report:
    checked = archspec.check(SPECS / "resnet50d.yaml")
    assert checked.ok, checked.errors
    return checked


def test_figures_equal_timms(report):
    assert report.params == PARAMS
    assert report.macs == MACS
    assert counted_macs(lambda: timm.create_model("resnet50d"), (3, 224, 224)) == MACS
    assert report.output_shape == (1000,)


def test_timms_state_dict_loads_strictly_and_outputs_are_equal(report):
    torch.manual_seed(0)
    theirs = randomise_batchnorm(timm.create_model("resnet50d"), seed=1).eval()
    ours = build_module(report).eval()
    assert sum(p.numel() for p in theirs.parameters()) == sum(p.numel() for p in ours.parameters()) == PARAMS
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    assert_loads_strictly_with_equal_outputs(ours, theirs, x)


def test_shortcut_d_modules_are_timms(report):
    """The shortcut where the shape changes: pool (an identity at stride 1), 1x1 conv, BatchNorm."""
    ours = build_module(report)
    theirs = timm.create_model("resnet50d")
    for stage in ("layer1", "layer2"):
        mine, timms = ours.get_submodule(f"{stage}.0.downsample"), theirs.get_submodule(f"{stage}.0.downsample")
        assert [type(m).__name__ for m in mine] == [type(m).__name__ for m in timms]
        for module, reference in zip(mine, timms):
            for attribute in ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                              "in_channels", "out_channels", "num_features"):
                if hasattr(reference, attribute):
                    mine_value, their_value = getattr(module, attribute), getattr(reference, attribute)
                    if attribute in ("kernel_size", "stride", "padding"):  # 2 and (2, 2) are one window
                        mine_value, their_value = _pair(mine_value), _pair(their_value)
                    assert mine_value == their_value, attribute
            assert (getattr(module, "bias", None) is None) == (getattr(reference, "bias", None) is None)
