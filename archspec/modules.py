"""The torch module library the build pass hands to every layer's `build(nn, x)`.

It re-exports the torch.nn classes the layers use (and torchvision's LayerNorm2d and StochasticDepth,
the very types of its ConvNeXt and EfficientNet) and adds archspec's own modules. With
`archspec.build`, this is the only module that imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence

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


_OUTPUT_NOT_SAVED_FOR_BACKWARD = (Conv2d, BatchNorm1d, BatchNorm2d, Linear)


class Residual(Module):
    """post(main(x) + shortcut(x)). The main path's layers are this module's own children (conv1,
    bn1, ...), then `downsample`, then the post layers: torchvision's names and parameter order."""

    def __init__(self, main: Sequence[tuple[str, Module]], shortcut: Module | None,
                 post: Sequence[tuple[str, Module]], add: bool = True):
        super().__init__()
        for name, module in main:
            self.add_module(name, module)
        self.downsample = shortcut
        for name, module in post:
            self.add_module(name, module)
        self.main_names = tuple(name for name, _ in main)
        self.post_names = tuple(name for name, _ in post)
        self.add = add
        # Add into the main path's output, as torchvision's blocks do (`out += identity`): no new
        # tensor per block (1-2% of a CPU forward). Only after a layer whose backward does not read
        # its own output (a ReLU's does), and never into the block's input (an empty main path).
        self.add_in_place = bool(main) and isinstance(main[-1][1], _OUTPUT_NOT_SAVED_FOR_BACKWARD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for name in self.main_names:
            out = getattr(self, name)(out)
        if self.add:  # shapes proven equal by the static check
            identity = x if self.downsample is None else self.downsample(x)
            if self.add_in_place:
                out += identity
            else:
                out = out + identity
        for name in self.post_names:
            out = getattr(self, name)(out)
        return out


class Concat(Module):
    """Applies each branch to the same input and concatenates the results on channels."""

    def __init__(self, branches: Sequence[tuple[str, Module]]):
        super().__init__()
        for name, module in branches:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.children()], dim=1)


class Network(Sequential):
    """A compiled spec: its top-level modules (stem layers, stages, head layers) in order."""

    def __init__(self, name: str, modules: Sequence[tuple[str, Module]]):
        super().__init__()
        for child_name, module in modules:
            self.add_module(child_name, module)
        self.spec_name = name

    def extra_repr(self) -> str:
        return f"spec={self.spec_name!r}"
