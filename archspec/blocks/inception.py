"""The `inception` block (GoogLeNet, Szegedy et al. 2014): four branches on the same input,
concatenated on channels.

    branch1: 1x1 conv (c1)
    branch2: 1x1 conv (c2[0]) -> 3x3 conv (c2[1])
    branch3: 1x1 conv (c3[0]) -> 5x5 conv (c3[1])       (`c3_kernel: 3` for torchvision's)
    branch4: 3x3 max-pool, stride 1 -> 1x1 conv (c4)

Field names follow the d2l tutorial's `Inception(in_channels, c1, c2, c3, c4)`. Every convolution is
followed by ReLU, with BatchNorm between them when `batchnorm: true`. torchvision's GoogLeNet is
`batchnorm: true, bias: false, norm_eps: 0.001, c3_kernel: 3, pool_ceil_mode: true`: its
BasicConv2d is conv (no bias) + BatchNorm(eps=0.001) + ReLU, and its "5x5" branch really uses a
3x3 kernel (a known quirk kept for its pretrained weights). Branch and layer order equal both
torchvision's and d2l's, so their weights copy over by position.
"""

from __future__ import annotations

from math import prod
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from archspec.blocks.base import BLOCKS, BlockFacts, Shortcut
from archspec.blocks.plain import NormEps, PlainBlockStage, conv_unit, unit_facts
from archspec.budget import Moment, concat_peak, sequence_peak
from archspec.errors import SpecPath
from archspec.graph import INPUT, BlockGraph, Node, block_node, layer_node, sequence
from archspec.layer_rules import pool_working
from archspec.layers import Count, MaxPool, derived
from archspec.shapes import Shape, windowed

ReduceThenOut = tuple[Count, Count]


@BLOCKS.register
class InceptionStage(PlainBlockStage):
    """Four parallel branches (1x1; 1x1->3x3; 1x1->5x5; max-pool->1x1) concatenated on channels."""

    block: Literal["inception"]
    width: Count | None = Field(  # type: ignore[assignment]
        None, description="output channels; optional, and if given it must equal c1 + c2[1] + c3[1] + c4")
    c1: Count = Field(description="branch 1: channels of its 1x1 convolution")
    c2: ReduceThenOut = Field(description="branch 2: [reduce, out], a 1x1 convolution to `reduce` "
                              "channels, then a 3x3 convolution to `out` channels")
    c3: ReduceThenOut = Field(description="branch 3: [reduce, out], a 1x1 convolution to `reduce` "
                              "channels, then a c3_kernel x c3_kernel convolution to `out` channels")
    c4: Count = Field(description="branch 4: channels of the 1x1 convolution after the 3x3 max-pool")
    c3_kernel: Annotated[int, Field(ge=1, le=31)] = Field(
        5, description="kernel of branch 3's second convolution: 5 as in the paper, 3 in torchvision "
        "(odd: an even kernel changes the size, which the checker reports as a concatenation mismatch)")
    batchnorm: bool = Field(False, description="BatchNorm after every convolution (torchvision's "
                            "BasicConv2d)")
    bias: bool = Field(True, description="bias on the convolutions (torchvision: false)")
    norm_eps: NormEps = Field(1e-5, description="BatchNorm eps (torchvision: 0.001)")
    pool_ceil_mode: bool = Field(False, description="ceil_mode of branch 4's max-pool (torchvision: true)")

    channel_fields: ClassVar[tuple[str, ...]] = ("c1", "c2", "c3", "c4")  # `width` is their total
    fixed_stride_reason: ClassVar[str | None] = (
        "an inception block keeps the size; downsample with a `maxpool` entry between blocks")

    @model_validator(mode="after")
    def _width_is_the_sum(self) -> InceptionStage:
        if self.width is not None and self.width != self.out_width():
            raise ValueError(f"`width` {self.width} must equal c1 + c2[1] + c3[1] + c4 = "
                             f"{self.out_width()} (or leave `width` out)")
        return self

    def out_width(self) -> int:
        return self.c1 + self.c2[1] + self.c3[1] + self.c4

    def lower(self, index: int, x: Shape, shortcut: Shortcut, origin: SpecPath) -> Node:
        norm_eps = self.norm_eps if self.batchnorm else None

        def unit(number: int, width: int, kernel: int) -> tuple[Node, ...]:
            return conv_unit(number, width, kernel, origin, padding=kernel // 2, bias=self.bias,
                             norm_eps=norm_eps)

        pool = derived(MaxPool, layer="maxpool", kernel=3, stride=1, padding=1, ceil_mode=self.pool_ceil_mode)
        branches = (
            unit(1, self.c1, 1),
            (*unit(1, self.c2[0], 1), *unit(2, self.c2[1], 3)),
            (*unit(1, self.c3[0], 1), *unit(2, self.c3[1], self.c3_kernel)),
            (layer_node("maxpool", pool, origin), *unit(1, self.c4, 1)),
        )
        nodes = [sequence("branch", f"branch{number}", layers, origin, INPUT)
                 for number, layers in enumerate(branches, start=1)]
        concat = Node("concat", "concat", tuple(node.name for node in nodes), None, origin)
        return block_node(str(index), BlockGraph("inception", (*nodes, concat), "concat"), origin)

    def facts(self, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
        bias, norm = self.bias, self.batchnorm

        def unit(shape: Shape, width: int, kernel: int) -> tuple[Shape, int, int, int, list[Moment]]:
            return unit_facts(shape, width, kernel, padding=kernel // 2, bias=bias, norm=norm)

        pooled = windowed(x, "maxpool", x[0], (3, 3), (1, 1), (1, 1), ceil_mode=self.pool_ceil_mode)
        out1, params1, macs1, buffers1, layers1 = unit(x, self.c1, 1)
        reduce2, params2a, macs2a, buffers2a, layers2a = unit(x, self.c2[0], 1)
        out2, params2b, macs2b, buffers2b, layers2b = unit(reduce2, self.c2[1], 3)
        reduce3, params3a, macs3a, buffers3a, layers3a = unit(x, self.c3[0], 1)
        out3, params3b, macs3b, buffers3b, layers3b = unit(reduce3, self.c3[1], self.c3_kernel)
        out4, params4, macs4, buffers4, layers4 = unit(pooled, self.c4, 1)
        if not out1[1:] == out2[1:] == out3[1:] == out4[1:]:
            return None  # the concatenation needs one spatial size: lowering reports which branch differs
        out = (out1[0] + out2[0] + out3[0] + out4[0], *out1[1:])
        values = prod(x)
        pool = Moment(values + prod(pooled) + pool_working(pooled))
        branches = ((sequence_peak(values, layers1), prod(out1)),
                    (sequence_peak(values, (*layers2a, *layers2b)), prod(out2)),
                    (sequence_peak(values, (*layers3a, *layers3b)), prod(out3)),
                    (sequence_peak(values, (pool, *layers4)), prod(out4)))
        return (out, params1 + params2a + params2b + params3a + params3b + params4,
                macs1 + macs2a + macs2b + macs3a + macs3b + macs4, concat_peak(values, branches, prod(out)).values,
                buffers1 + buffers2a + buffers2b + buffers3a + buffers3b + buffers4)
