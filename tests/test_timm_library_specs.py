"""Specs written with the library's block kinds against the timm networks they reproduce (random
weights, no downloads): specs/se-resnet50.yaml is timm's seresnet50 (se_bottleneck),
specs/preact-resnet18.yaml its resnetv2_18 (preact_basic, dotted names: stem.conv, stages.0.blocks,
head.fc).

timm's state_dict loads into the compiled network with strict=True, under the same keys (in the same
order for seresnet50; resnetv2's blocks create their shortcut first, though it reads the
pre-activation computed after it, so a graph of nodes in order cannot list it first); eval outputs
are equal; parameters and MACs at 224x224 are the issue's figures, and the MACs equal torch's
FlopCounterMode count (FLOPs / 2) on timm's model.
"""

from __future__ import annotations

import re

import pytest
import timm
import torch
from torch_checks import assert_loads_strictly_with_equal_outputs, counted_macs, randomise_batchnorm

import archspec
from archspec.build import build_module
from conftest import ROOT, SPECS

# spec file -> (timm model, parameters, MACs at 3x224x224, same key order): issue 13's figures
# (resnetv2_18's MACs: FlopCounterMode on timm's model, below)
NETWORKS = {
    "se-resnet50.yaml": ("seresnet50", 28_088_024, 4_091_699_200, True),
    "preact-resnet18.yaml": ("resnetv2_18", 11_687_720, 1_814_073_344, False),
}


@pytest.mark.parametrize("spec", NETWORKS)
def test_figures_equal_timms(spec):
    model, params, macs, _ = NETWORKS[spec]
    report = archspec.check(SPECS / spec)
    assert report.ok, report.errors
    assert report.params == params
    assert report.macs == macs
    assert counted_macs(lambda: timm.create_model(model), (3, 224, 224)) == macs
    assert report.output_shape == (1000,)


@pytest.mark.parametrize("spec", NETWORKS)
def test_timms_state_dict_loads_strictly_and_outputs_are_equal(spec):
    model, params, _, same_order = NETWORKS[spec]
    torch.manual_seed(0)
    theirs = randomise_batchnorm(timm.create_model(model), seed=1).eval()
    ours = build_module(archspec.check(SPECS / spec)).eval()
    assert sum(p.numel() for p in theirs.parameters()) == sum(p.numel() for p in ours.parameters()) == params
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    assert_loads_strictly_with_equal_outputs(ours, theirs, x, same_order)


def test_timm_is_pinned_in_the_test_extra_at_the_version_these_comparisons_ran_with():
    """Issue 13: timm joins the test extra pinned, beside the README's pinned torch: a newer timm may
    rename a module or change a default, and these comparisons would then fail for that alone."""
    (extra,) = re.findall(r"^test = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), flags=re.MULTILINE)
    assert f'"timm=={timm.__version__}"' in extra  # (tomllib would need Python 3.11)
