"""The `vgg` block: `repeats` 3x3 convolutions, each followed by ReLU, then a 2x2 max-pool.

One `vgg` entry is one block whose `repeats` counts its convolutions, as in the d2l tutorial's
`vgg_block(num_convs, in_channels, out_channels)`; a VGG network is one such block per resolution.
With `batchnorm: true` each convolution is followed by BatchNorm, as in torchvision's `vgg*_bn`.
Layer order (conv1, [bn1], relu1, conv2, ..., maxpool) equals torchvision's `features` and d2l's.
"""

from __future__ import annotations

from math import prod
from typing import ClassVar, Literal

from pydantic import Field

from archspec.blocks.base import BLOCKS, BlockFacts, Shortcut
from archspec.blocks.plain import NormEps, PlainBlockStage, conv_unit, unit_facts
from archspec.budget import Moment, sequence_peak
from archspec.errors import SpecPath
from archspec.graph import Node, layer_node, sequence
from archspec.layer_rules import pool_working
from archspec.layers import MaxPool, derived
from archspec.shapes import Shape, windowed


@BLOCKS.register
class VGGStage(PlainBlockStage):
    """`repeats` x (3x3 conv, padding 1 [-> BatchNorm] -> ReLU), then a 2x2 max-pool, stride 2."""

    block: Literal["vgg"]
    batchnorm: bool = Field(False, description="BatchNorm after every convolution (torchvision's vgg*_bn)")
    bias: bool = Field(True, description="bias on the convolutions (VGG has one, with or without "
                       "BatchNorm)")
    norm_eps: NormEps = Field(1e-5, description="BatchNorm eps (with batchnorm: true)")

    fixed_stride_reason: ClassVar[str | None] = (
        "a vgg block halves the size with its 2x2 max-pool, its convolutions keep it")

    def copies(self) -> int:
        return 1  # `repeats` counts this block's convolutions, not copies of the block

    def lower(self, index: int, x: Shape, shortcut: Shortcut, origin: SpecPath) -> Node:
        norm_eps = self.norm_eps if self.batchnorm else None
        layers = [node for number in range(1, self.repeats + 1)
                  for node in conv_unit(number, self.width, 3, origin, padding=1, bias=self.bias,
                                        norm_eps=norm_eps)]
        pool = layer_node("maxpool", derived(MaxPool, layer="maxpool", kernel=2, stride=2), origin)
        return sequence("vgg", str(index), (*layers, pool), origin)

    def facts(self, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
        out, params, macs, buffers, layers = x, 0, 0, 0, []
        for _ in range(self.repeats):
            out, unit_params, unit_macs, unit_buffers, unit_layers = unit_facts(
                out, self.width, 3, padding=1, bias=self.bias, norm=self.batchnorm)
            params, macs, buffers = params + unit_params, macs + unit_macs, buffers + unit_buffers
            layers += unit_layers
        pooled = windowed(out, "maxpool", out[0], (2, 2), (2, 2), (0, 0))
        layers.append(Moment(prod(out) + prod(pooled) + pool_working(pooled)))
        return pooled, params, macs, sequence_peak(prod(x), layers).values, buffers
