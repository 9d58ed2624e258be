"""The zoo's initialisation: each zoo spec names the `init:` of its torchvision family and so gets,
under the same seed, the very weights torchvision's constructor draws: not only the same
distributions, the same values (the modules are made in torchvision's order, and each family's init
visits them as torchvision's does)."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archspec
from conftest import SPECS

# spec -> the init it names, and the statistic that shows the init ran (not the modules' defaults).
FAMILIES = {
    "mobilenet_v2": "mobilenet", "mobilenet_v3_small": "mobilenet", "mobilenet_v3_large": "mobilenet",
    "densenet121": "densenet", "efficientnet_b0": "efficientnet", "convnext_tiny": "convnext",
    "regnet_x_400mf": "regnet", "regnet_y_400mf": "regnet", "squeezenet1_1": "squeezenet",
}


@pytest.mark.parametrize(("spec", "init"), FAMILIES.items())
def test_a_zoo_spec_gets_torchvisions_initial_weights_under_the_same_seed(spec: str, init: str):
    loaded = archspec.load(SPECS / f"{spec}.yaml")
    assert loaded.init == init
    torch.manual_seed(0)
    ours = archspec.compile(loaded)
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, spec)()
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(reference)
    assert [key for key in mine if not torch.equal(mine[key], reference[key])] == []


def _default_init_differs(spec: str) -> bool:
    torch.manual_seed(0)
    plain = archspec.compile(archspec.load(SPECS / f"{spec}.yaml", overrides=["init=pytorch"]))
    torch.manual_seed(0)
    reference = getattr(torchvision.models, spec)()
    return any(not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), reference.state_dict().values()))


@pytest.mark.parametrize("spec", ["mobilenet_v2", "densenet121", "efficientnet_b0", "convnext_tiny", "regnet_x_400mf",
                                  "squeezenet1_1"])
def test_the_modules_defaults_would_not_give_them(spec: str):
    """The equality above is the init's doing: with `init: pytorch` the weights differ."""
    assert _default_init_differs(spec)


def test_convnext_init_reaches_the_pointwise_linears():
    torch.manual_seed(0)
    network = archspec.compile(archspec.load(SPECS / "convnext_tiny.yaml", overrides=["input.size=32"]))
    linears = [m for m in network.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) > 10
    assert all(abs(m.weight.std().item() - 0.02) < 0.004 and not m.bias.any() for m in linears)


def test_shufflenet_needs_no_init_its_modules_defaults_are_torchvisions():
    """torchvision's ShuffleNet v2 constructor initialises nothing itself: the spec names no init."""
    loaded = archspec.load(SPECS / "shufflenet_v2_x1_0.yaml")
    assert loaded.init == "pytorch"
    torch.manual_seed(0)
    mine = archspec.compile(loaded).state_dict()
    torch.manual_seed(0)
    reference = torchvision.models.shufflenet_v2_x1_0().state_dict()
    assert [key for key, a, b in zip(mine, mine.values(), reference.values()) if not torch.equal(a, b)] == []


SMALL_SQUEEZE = """
name: small-squeeze
init: squeezenet
input: {channels: 3, size: 16}
stem:
  - {layer: conv, width: 64, kernel: 3}
  - {layer: relu}
stages:
  - blocks: [{block: fire, squeeze: 16, width: 128}]
head:
  - {name: logits, layer: conv, width: 600, kernel: 1}
  - {layer: global_avgpool}
  - {layer: flatten}
  - {layer: linear, width: 10}
"""


def test_squeezenet_init_takes_the_last_convolution_whatever_its_name(tmp_path):
    """The classifier conv is found by its place (the last Conv2d), not by torchvision's name; a Linear
    after it keeps its default, as torchvision's init touches only convolutions."""
    (tmp_path / "small.yaml").write_text(SMALL_SQUEEZE)
    torch.manual_seed(0)
    network = archspec.compile(tmp_path / "small.yaml")
    convolutions = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)]
    *earlier, last = convolutions
    assert abs(last.weight.std().item() - 0.01) < 0.001
    assert all(m.weight.std().item() > 0.05 for m in earlier)  # kaiming_uniform_ (gain sqrt(2), a=0)
    assert not any(m.bias.any() for m in convolutions)
    assert next(m for m in network.modules() if isinstance(m, torch.nn.Linear)).bias.any()
