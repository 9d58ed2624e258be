"""The torch module library the build pass hands to every layer's `build(nn, x)`.

It re-exports the torch.nn classes the layers use and adds archspec's own modules (the option A
shortcut, the block that runs a graph, the network). With
`archspec.build`, this is the only module that imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch.nn import (  # noqa: F401
    GELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    LocalResponseNorm,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Tanh,
)


class ZeroPadShortcut(Module):
    """He et al.'s option A: an identity that subsamples by the stride and adds zero channels, after
    the input's (`both_sides` False) or half before and half after them (akamaster's CIFAR ResNets)."""

    def __init__(self, stride: int, extra_channels: int, both_sides: bool = False):
        super().__init__()
        self.stride = stride
        self.extra_channels = extra_channels
        self.both_sides = both_sides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # N x C x ceil(H/s) x ceil(W/s)
        before = self.extra_channels // 2 if self.both_sides else 0
        return F.pad(x, (0, 0, 0, 0, before, self.extra_channels - before))  # N x (C + extra) x H' x W'

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra_channels}, both_sides={self.both_sides}"


# (child to call | None, join | None, input indices, join payload, add in place, indices read for the last time)
Step = tuple[str | None, Callable[..., torch.Tensor] | None, tuple[int, ...], object, bool, tuple[int, ...]]


class GraphBlock(Module):
    """A block whose forward runs its graph (archspec.graph.BlockGraph): the modules of its nodes are
    its children, registered in node order (conv1, bn1, ..., downsample, relu: torchvision's names
    and parameter order), and `steps` is the graph precompiled to a straight list: per node, the
    child to call, or the join to apply (an op's `apply`), the indices of its inputs among the
    values so far (0 is the block's input), and the values it reads for the last time (dropped).
    torch.compile unrolls the loop into straight-line code."""

    def __init__(self, kind: str, children: Sequence[tuple[str, Module]], steps: tuple[Step, ...],
                 output: int):
        super().__init__()
        for name, module in children:
            self.add_module(name, module)
        self.block_kind = kind
        self.steps = steps
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: list[torch.Tensor | None] = [x]
        for name, join, inputs, payload, inplace, done in self.steps:
            if join is None:
                values.append(getattr(self, name)(values[inputs[0]]))
            else:
                values.append(join(torch, [values[i] for i in inputs], payload, inplace))
            for i in done:  # read for the last time: let it go
                values[i] = None
        return values[self.output]

    def extra_repr(self) -> str:
        return f"kind={self.block_kind!r}"


class Network(Sequential):
    """A compiled spec: its top-level modules (stem layers, stages, head layers) in order."""

    def __init__(self, name: str, modules: Sequence[tuple[str, Module]]):
        super().__init__()
        for child_name, module in modules:
            self.add_module(child_name, module)
        self.spec_name = name

    def extra_repr(self) -> str:
        return f"spec={self.spec_name!r}"
