"""The zoo's initialisation: which `init:` gives a zoo spec torchvision's own initial weights.

torchvision's MobileNet v2 and v3 initialise as its VGG does (conv kaiming_normal_ fan_out with zero
bias, BatchNorm weight 1 and bias 0, linear normal(0, 0.01) with zero bias), module for module, so
`init: vgg` gives the compiled spec the very weights torchvision's constructor draws under the same
seed: not only the same distributions, the same values.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

import archspec
from conftest import SPECS


def _with_init(spec: str, init: str) -> str:
    text = (SPECS / f"{spec}.yaml").read_text(encoding="utf-8")
    marker = f"\nname: {spec}\n"
    assert marker in text and "\ninit:" not in text
    return text.replace(marker, f"{marker}init: {init}\n", 1)


@pytest.mark.parametrize("spec", ["mobilenet_v2", "mobilenet_v3_small"])
def test_init_vgg_gives_a_mobilenet_spec_torchvisions_initial_weights(spec: str):
    torch.manual_seed(0)
    ours = archspec.compile(archspec.load(_with_init(spec, "vgg")))
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, spec)()
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(reference)
    different = [key for key in mine if not torch.equal(mine[key], reference[key])]
    assert different == []
    # and not by chance of an init that draws nothing: the linear layers are normal(0, 0.01)
    linear = [module.weight for module in ours.modules() if isinstance(module, torch.nn.Linear)]
    assert linear and all(abs(weight.std().item() - 0.01) < 0.002 for weight in linear)
