"""Static twin of `inverted_residual` (inverted_residual.yaml), torchvision's MobileNetV2 block."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.library.conv_norm_act import conv_norm_act_figures
from archspec.library.twins import chain, count, twin, whole
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage


@twin("inverted_residual")
def inverted_residual(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    ratio, width, stride = block.expand_ratio, block.width, block.block_stride(index)  # type: ignore[attr-defined]
    if len(x) != 3 or not whole(ratio):
        return None
    hidden = x[0] * ratio  # round(in * expand_ratio) of whole numbers
    if not count(hidden):
        return None
    # Module `conv`, an nn.Sequential: [expansion (a Sequential)], depthwise (a Sequential), projection, BatchNorm.
    # (conv, BatchNorm, ReLU6 as torchvision's Conv2dNormActivation: conv_norm_act's figures)
    parts = [conv_norm_act_figures(x, hidden, 1, 1, 1)] if ratio != 1 else []
    expanded = parts[0][0] if parts else x
    parts.append(conv_norm_act_figures(expanded, hidden, 3, stride, expanded[0]))
    parts.append(conv_norm_act_figures(parts[-1][0], width, 1, 1, 1))  # the projection and its BatchNorm
    out, params, macs, peak, buffers = chain(x, parts)
    if stride == 1 and x[0] == width:  # the residual addition: input, the path's output and the sum
        peak = max(peak, prod(x) + 2 * prod(out))
    return out, params, macs, peak, buffers
