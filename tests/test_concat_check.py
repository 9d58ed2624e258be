"""The inception block's concatenation is checked statically: a branch that changes the spatial size
is reported with every branch's name and shape, and PyTorch really fails on the same network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from tests.seed_networks import Inception

SPEC = """\
name: badcat
input: {channels: 3, size: 28}
stages:
  - {block: inception, c1: 8, c2: [4, 8], c3: [4, 8], c4: 8, c3_kernel: 4}
"""


def test_mismatched_branch_is_reported_with_every_branch_shape() -> None:
    report = archspec.check(archspec.load(SPEC))
    assert not report.ok
    (error,) = report.errors
    assert error.path_text == "stages[0]"
    assert (error.line, error.column) == (4, 5)
    # a 4x4 kernel with padding 2 turns 28 into 29; the other branches keep 28
    assert "branch1 8x28x28, branch2 8x28x28, branch3 8x29x29, branch4 8x28x28" in error.message
    assert "an odd kernel" in (error.hint or "") and "padding = kernel // 2" in (error.hint or "")


def test_pytorch_fails_on_the_same_network() -> None:
    block = Inception(3, 8, (4, 8), (4, 8), 8)
    block.p3_2 = nn.Conv2d(4, 8, kernel_size=4, padding=2)  # what `c3_kernel: 4` lowers to
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        block(torch.zeros(1, 3, 28, 28))


def test_odd_kernels_keep_the_concatenation_valid() -> None:
    for kernel in (1, 3, 5, 7):
        text = SPEC.replace("c3_kernel: 4", f"c3_kernel: {kernel}")
        assert archspec.check(archspec.load(text)).output_shape == (32, 28, 28)
