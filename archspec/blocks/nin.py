"""The `nin` block (Network in Network, Lin et al. 2013): a k x k convolution, then two 1x1
convolutions, each followed by ReLU; the 1x1 convolutions act as a small MLP at every pixel.

Layer order (conv1, relu1, conv2, relu2, conv3, relu3) equals the d2l tutorial's `nin_block`.
`stride` (of the first copy, as for every block) and `padding` apply to the k x k convolution.
"""

from __future__ import annotations

from math import prod
from typing import Literal

from pydantic import Field

from archspec.blocks.base import BLOCKS, BlockFacts, Shortcut
from archspec.blocks.plain import PlainBlockStage, conv_unit, unit_facts
from archspec.budget import sequence_peak
from archspec.errors import SpecPath
from archspec.graph import Node, sequence
from archspec.layers import OffsetOrPair, SizeOrPair
from archspec.shapes import Shape


@BLOCKS.register
class NiNStage(PlainBlockStage):
    """k x k conv -> ReLU -> 1x1 conv -> ReLU -> 1x1 conv -> ReLU, all with `width` channels."""

    block: Literal["nin"]
    kernel: SizeOrPair = Field(description="kernel of the first convolution (the 1x1 ones follow)")
    padding: OffsetOrPair = Field(0, description="padding of the first convolution")
    bias: bool = Field(True, description="bias on the three convolutions")

    def lower(self, index: int, x: Shape, shortcut: Shortcut, origin: SpecPath) -> Node:
        layers = (
            *conv_unit(1, self.width, self.kernel, origin, stride=self.block_stride(index),
                       padding=self.padding, bias=self.bias),
            *conv_unit(2, self.width, 1, origin, bias=self.bias),
            *conv_unit(3, self.width, 1, origin, bias=self.bias),
        )
        return sequence("nin", str(index), layers, origin)

    def facts(self, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
        first, params1, macs1, _, layers1 = unit_facts(x, self.width, self.kernel, stride=self.block_stride(index),
                                                    padding=self.padding, bias=self.bias)
        out, params2, macs2, _, layers2 = unit_facts(first, self.width, 1, bias=self.bias)  # twice: conv2, conv3
        peak = sequence_peak(prod(x), (*layers1, *layers2, *layers2))
        return out, params1 + 2 * params2, macs1 + 2 * macs2, peak.values, 0  # no BatchNorm: no buffers
