"""Residual blocks: `basic` (two 3x3 convolutions) and `bottleneck` (1x1 -> 3x3 -> 1x1).

Layer names and their order follow torchvision's `BasicBlock` and `Bottleneck` (conv1, bn1, conv2, bn2,
conv3, bn3, downsample.0, downsample.1), so a compiled network has the same state_dict keys and
parameter order as torchvision's.
"""

from __future__ import annotations

from math import prod
from typing import Annotated, Literal

from pydantic import Field, model_validator

from archspec.blocks.base import (
    BLOCKS,
    BlockFacts,
    BlockStage,
    Shortcut,
    ShortcutOptions,
    conv_moment,
    elementwise_moment,
    expand_shortcuts,
    mismatch_hint,
    norm_moment,
    shortcut_facts,
)
from archspec.budget import Moment, residual_peak
from archspec.errors import SpecPath
from archspec.graph import INPUT, BlockGraph, Node, block_node, chain, layer_node
from archspec.layer_rules import conv_facts
from archspec.layers import MAX_COUNT, BatchNorm, Conv, Count, ReLU, ZeroPad, derived
from archspec.ops import JoinText
from archspec.shapes import Shape


class ResidualStage(BlockStage):
    bias: bool = Field(False, description="bias on the block's convolutions (torchvision: none)")
    norm_eps: Annotated[float, Field(gt=0.0, le=1.0)] = Field(1e-5, description="BatchNorm eps")
    projection_norm: bool = Field(True, description="BatchNorm after the 1x1 projection shortcut "
                                  "(false: a plain 1x1 convolution, as in the d2l tutorials)")
    projection_bias: bool = Field(False, description="bias on the 1x1 projection convolution")
    activation_before_add: bool = Field(
        False, description="also apply ReLU to the main path before the addition (some tutorials do)")
    zero_pad: ZeroPad = Field("end", description="where shortcut A puts its zero channels: after the "
                              "input's (end), or half before and half after them (both: akamaster's "
                              "CIFAR ResNets)")

    def alike_key(self, index: int) -> object | None:
        return self.block_stride(index)  # `lower` uses the index only through the stride (and names)

    def alike_run(self, index: int, key: object) -> int:
        # Every copy but the first has stride 1; the first too where the stage's stride is 1.
        return 1 if index == 0 and self.stride != 1 else self.copies() - index

    def out_width(self) -> int:
        return self.width

    def conv(self, name: str, width: int, kernel: int, stride: int, origin: SpecPath,
             groups: int = 1) -> Node:
        layer = derived(Conv, layer="conv", width=width, kernel=kernel, stride=stride,
                        padding=kernel // 2, groups=groups, bias=self.bias)
        return layer_node(name, layer, origin)

    def norm_layer(self) -> BatchNorm:
        return derived(BatchNorm, layer="batchnorm", eps=self.norm_eps)  # type: ignore[return-value]

    @staticmethod
    def relu_layer() -> ReLU:
        return derived(ReLU, layer="relu")  # type: ignore[return-value]

    def residual(self, index: int, x: Shape, main: tuple[Node, ...], shortcut: Shortcut,
                 origin: SpecPath) -> Node:
        """The block's graph: the main path from the input, the shortcut beside it, their addition
        (none for shortcut `none`), then ReLU: torchvision's module names and parameter order."""
        stride = self.block_stride(index)
        width = self.out_width()
        if self.activation_before_add:
            relus = sum(1 for node in main if node.kind == "relu")
            main = (*main, layer_node(f"relu{relus + 1}", self.relu_layer(), origin))
        text = JoinText("the residual addition", ("the main path", "the shortcut"),
                        mismatch_hint(x, width, stride, shortcut))
        nodes = (*chain(main), Node("downsample", "shortcut", (INPUT,), None, origin),
                 Node("add", "add", (main[-1].name, "downsample"), text, (*origin, "shortcut")),
                 layer_node("relu", self.relu_layer(), origin, "add"))
        options = ShortcutOptions(self.projection_bias, self.projection_norm, self.norm_eps, self.zero_pad)
        nodes, label = expand_shortcuts(nodes, x, width, stride, shortcut, origin, options)
        graph = BlockGraph(self.block, nodes, "relu", shortcut=label)  # type: ignore[attr-defined]
        return block_node(str(index), graph, (*origin, "shortcut"))

    def residual_facts(self, index: int, x: Shape, main: tuple[Shape, int, int, int, list[Moment]],
                       shortcut: Shortcut) -> BlockFacts | None:
        """The twin of `residual`: the main path's (output, parameters, MACs, buffer bytes, layer
        peaks) plus the shortcut, the addition and the ReLU after it (and the one before it, if asked
        for)."""
        out, params, macs, buffers, layers = main
        if self.activation_before_add:
            layers.append(elementwise_moment(out))
        branch = shortcut_facts(x, out, self.out_width(), self.block_stride(index), shortcut,
                                bias=self.projection_bias, norm=self.projection_norm)
        if branch is None:
            return None
        branch_params, branch_macs, branch_buffers, branch_peak, branch_out = branch
        peak = residual_peak(prod(x), layers, prod(out), branch_peak, branch_out, shortcut != "none",
                             (elementwise_moment(out),))
        return (out, params + branch_params, macs + branch_macs, peak.values, buffers + branch_buffers)


@BLOCKS.register
class BasicStage(ResidualStage):
    """Two 3x3 convolutions with BatchNorm and ReLU, plus the shortcut (ResNet-18/34)."""

    block: Literal["basic"]

    def lower(self, index: int, x: Shape, shortcut: Shortcut, origin: SpecPath) -> Node:
        stride = self.block_stride(index)
        norm, relu = self.norm_layer(), self.relu_layer()
        main = (
            self.conv("conv1", self.width, 3, stride, origin),
            layer_node("bn1", norm, origin),
            layer_node("relu1", relu, origin),
            self.conv("conv2", self.width, 3, 1, origin),
            layer_node("bn2", norm, origin),
        )
        return self.residual(index, x, main, shortcut, origin)

    def facts(self, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
        stride, width, bias = self.block_stride(index), self.width, self.bias
        mid, params1, macs1 = conv_facts(x, width, (3, 3), (stride, stride), (1, 1), bias=bias)
        out, params2, macs2 = conv_facts(mid, width, (3, 3), (1, 1), (1, 1), bias=bias)
        norms = 2 * (2 * width)  # bn1, bn2: a weight and a bias per channel
        layers = [conv_moment(x, mid, (3, 3), (stride, stride)), norm_moment(mid), elementwise_moment(mid),
                  conv_moment(mid, out, (3, 3)), norm_moment(out)]
        buffers = 2 * BatchNorm.running_stats_bytes(width)  # bn1, bn2
        return self.residual_facts(index, x, (out, params1 + params2 + norms, macs1 + macs2, buffers, layers),
                                   shortcut)


@BLOCKS.register
class BottleneckStage(ResidualStage):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand, plus the shortcut (ResNet-50 and deeper).

    As in torchvision, the 3x3 convolution has `int(width * width_per_group / 64) * groups` channels
    and the block outputs `width * expansion`. `stride_on: 3x3` is torchvision's ResNet V1.5;
    `stride_on: 1x1` puts the stride on the first convolution as in the original paper (V1).
    """

    block: Literal["bottleneck"]
    expansion: Count = 4  # any whole ratio: a RegNet X block of width 8 * 83 needs 83 (archspec.regnet)
    groups: Count = 1
    width_per_group: Count = 64
    stride_on: Literal["3x3", "1x1"] = "3x3"

    @model_validator(mode="after")
    def _inner_width_is_positive(self) -> BottleneckStage:
        if self.inner_width() < 1:
            raise ValueError(f"width {self.width} with width_per_group {self.width_per_group} gives a "
                             "3x3 convolution with no channels (width * width_per_group must be >= 64)")
        return self

    def inner_width(self) -> int:
        return int(self.width * (self.width_per_group / 64.0)) * self.groups

    def out_width(self) -> int:
        return self.width * self.expansion

    def lower(self, index: int, x: Shape, shortcut: Shortcut, origin: SpecPath) -> Node:
        stride = self.block_stride(index)
        stride_1x1, stride_3x3 = (stride, 1) if self.stride_on == "1x1" else (1, stride)
        inner = self.inner_width()
        norm, relu = self.norm_layer(), self.relu_layer()
        main = (
            self.conv("conv1", inner, 1, stride_1x1, origin),
            layer_node("bn1", norm, origin),
            layer_node("relu1", relu, origin),
            self.conv("conv2", inner, 3, stride_3x3, origin, groups=self.groups),
            layer_node("bn2", norm, origin),
            layer_node("relu2", relu, origin),
            self.conv("conv3", self.out_width(), 1, 1, origin),
            layer_node("bn3", norm, origin),
        )
        return self.residual(index, x, main, shortcut, origin)

    def facts(self, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
        inner, out_width, bias = self.inner_width(), self.out_width(), self.bias
        if inner > MAX_COUNT or out_width > MAX_COUNT:
            return None  # `derived` refuses such convolutions; lowering reports it
        stride = self.block_stride(index)
        stride_1x1, stride_3x3 = (stride, 1) if self.stride_on == "1x1" else (1, stride)
        reduced, params1, macs1 = conv_facts(x, inner, (1, 1), (stride_1x1, stride_1x1), (0, 0), bias=bias)
        mid, params2, macs2 = conv_facts(reduced, inner, (3, 3), (stride_3x3, stride_3x3), (1, 1),
                                         groups=self.groups, bias=bias)
        out, params3, macs3 = conv_facts(mid, out_width, (1, 1), (1, 1), (0, 0), bias=bias)
        norms = 2 * (2 * inner + out_width)  # bn1, bn2, bn3
        layers = [conv_moment(x, reduced, (1, 1), (stride_1x1, stride_1x1)), norm_moment(reduced),
                  elementwise_moment(reduced),
                  conv_moment(reduced, mid, (3, 3), (stride_3x3, stride_3x3), self.groups), norm_moment(mid),
                  elementwise_moment(mid), conv_moment(mid, out, (1, 1)), norm_moment(out)]
        buffers = 2 * BatchNorm.running_stats_bytes(inner) + BatchNorm.running_stats_bytes(out_width)
        return self.residual_facts(index, x, (out, params1 + params2 + params3 + norms,
                                              macs1 + macs2 + macs3, buffers, layers), shortcut)
