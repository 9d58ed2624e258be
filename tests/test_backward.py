"""Compiled networks train: backward works and the caller's input is never modified.

An in-place ReLU is only safe where nothing else reads its input: the build pass keeps torchvision's
in-place conv-bn-relu and turns in-place off after an activation (whose backward reads its output)
and at the start of a container (whose input a shortcut or a sibling branch still reads).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

import archspec
from archspec.testing import to_spec, valid_specs

CASES = {
    "relu after relu": "stem:\n  - {layer: conv, width: 4}\n  - {layer: relu}\n  - {layer: relu}\n",
    "relu after sigmoid": "stem:\n  - {layer: conv, width: 4}\n  - {layer: sigmoid}\n  - {layer: relu}\n",
    "relu first": "stem:\n  - {layer: relu}\n  - {layer: conv, width: 4}\n",
    "plain block with relu before the (absent) add":
        "stages:\n  - {block: basic, width: 3, shortcut: none, activation_before_add: true}\n",
    "relu before an identity shortcut":
        "stages:\n  - blocks:\n    - {layer: relu}\n    - {block: basic, width: 3, shortcut: identity}\n",
}


def _train_step(network: torch.nn.Module, input_shape: tuple[int, ...]) -> None:
    x = torch.randn(2, *input_shape, requires_grad=True)
    original = x.detach().clone()
    network(x).sum().backward()
    assert torch.equal(x.detach(), original), "the forward pass modified its input"
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in network.parameters())


@pytest.mark.parametrize("body", CASES.values(), ids=list(CASES))
def test_activations_after_activations_train(body: str) -> None:
    spec = archspec.load(f"name: net\ninput: {{channels: 3, size: 8}}\n{body}")
    _train_step(archspec.compile(spec), archspec.check(spec).input_shape)


def test_torchvision_style_relus_stay_in_place() -> None:
    network = archspec.compile("specs/resnet18.yaml")
    relus = [m for m in network.modules() if isinstance(m, torch.nn.ReLU)]
    assert relus and all(m.inplace for m in relus)


@settings(max_examples=25, deadline=None)
@given(valid_specs(max_stages=2, max_width=8))
def test_every_valid_spec_trains(document: dict) -> None:
    spec = to_spec(document)
    network = archspec.compile(spec).train()
    _train_step(network, archspec.check(spec).input_shape)
