"""Static twin of `mbconv` (mbconv.yaml), torchvision's EfficientNet MBConv: its main path
(mbconv_layers), and where the shape is kept stochastic depth and the addition."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.expr_operations import divide
from archspec.library.mbconv_layers import EXPANDED_DEFAULT, mbconv_layers_part
from archspec.library.twins import number, twin, whole
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage


@twin("mbconv")
def mbconv(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    ratio, kernel, rate = block.expand_ratio, block.kernel, block.stochastic_depth_prob  # type: ignore[attr-defined]
    first, total = block.first_block, block.total_blocks  # type: ignore[attr-defined]
    width, stride = block.width, block.block_stride(index)
    # `requires:`, and the stochastic depth's p (a probability) that it bounds.
    if not (len(x) == 3 and number(ratio) and ratio > 0 and whole(kernel) and kernel % 2 == 1 and number(rate)
            and 0 <= rate < 1 and whole(first, 0) and whole(total)):
        return None
    if not 0 <= divide(rate * (first + index), total) < 1:
        return None
    layers = mbconv_layers_part(x, width, stride, ratio, EXPANDED_DEFAULT, kernel, block.eps,  # type: ignore[attr-defined]
                                block.momentum)  # type: ignore[attr-defined]
    if layers is None:
        return None
    out, params, macs, peak, buffers = layers
    if stride == 1 and x[0] == width:  # stochastic depth (input, output), then the addition: the same peak
        peak = max(peak, prod(x) + 2 * prod(out))
    return out, params, macs, peak, buffers
