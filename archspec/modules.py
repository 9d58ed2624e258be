"""The torch module library the build pass hands to every layer's `build(nn, x)`.

It re-exports the torch.nn classes the layers use (and torchvision's LayerNorm2d and StochasticDepth,
the very types of its ConvNeXt and EfficientNet) and adds archspec's own modules (the option A
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
    AdaptiveMaxPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Hardsigmoid,
    Hardswish,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    LocalResponseNorm,
    MaxPool2d,
    Module,
    Parameter,
    ReLU,
    ReLU6,
    Sequential,
    Sigmoid,
    SiLU,
    Tanh,
)
from torchvision.models.convnext import LayerNorm2d  # noqa: F401
from torchvision.ops import StochasticDepth  # noqa: F401


class ChannelShuffle(Module):
    """ShuffleNet's channel shuffle (torchvision.models.shufflenetv2.channel_shuffle as a module):
    the channels, seen as `groups` rows of C / groups, are transposed. No parameters."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.size()
        x = x.view(batch, self.groups, channels // self.groups, height, width)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(batch, channels, height, width)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class LayerScale(Module):
    """ConvNeXt's layer scale as a module: x times a learned C x 1 x 1 factor (`weight`), which starts
    at `scale`. ConvNeXt's CNBlock holds the factor as a bare parameter (`<block>.layer_scale`, listed
    before the block's children in its state_dict); a container reproduces that by registering
    `bare_parameter(module)` under the layer's name instead of the module, and multiplying by it."""

    def __init__(self, channels: int, scale: float = 1e-6):
        super().__init__()
        self.channels = channels
        self.scale = scale
        self.weight = Parameter(torch.ones(channels, 1, 1) * scale)  # ConvNeXt's expression, bit for bit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x  # CNBlock's `self.layer_scale * self.block(input)`, in that order

    def extra_repr(self) -> str:
        return f"channels={self.channels}, scale={self.scale}"


class PointwiseLinear(Linear):
    """nn.Linear over the channels of each pixel of an N x C x H x W input (ConvNeXt's pointwise
    layers, torchvision's `Permute` -> `nn.Linear` -> `Permute`): the parameters are nn.Linear's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.permute(0, 2, 3, 1), self.weight, self.bias).permute(0, 3, 1, 2)


def bare_parameter(module: Module) -> Parameter | None:
    """The parameter a container should register under the layer's own name (a bare key, as
    ConvNeXt's `layer_scale`), or None for a module registered as a child as usual."""
    return module.weight if isinstance(module, LayerScale) else None


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
            parameter = bare_parameter(module)
            if parameter is None:
                self.add_module(name, module)
            else:  # ConvNeXt's `layer_scale`: the block's own parameter, listed before its children
                self.register_parameter(name, parameter)
        self.block_kind = kind
        self.steps = steps
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: list[torch.Tensor | None] = [x]
        for name, join, inputs, payload, inplace, done in self.steps:
            if join is None:
                child = getattr(self, name)
                value = values[inputs[0]]
                # A bare parameter (bare_parameter) is a factor: CNBlock's `self.layer_scale * x`.
                values.append(child * value if isinstance(child, Parameter) else child(value))
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
