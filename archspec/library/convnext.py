"""Static twin of `convnext_block` (convnext.yaml), torchvision's ConvNeXt CNBlock."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.expr_operations import divide
from archspec.library.twins import Part, chain, conv, count, elementwise, number, twin, whole
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage


def _pointwise_linear(x: Shape, width: int) -> Part:
    """nn.Linear over each pixel's channels (with bias); it copies its channels-last input contiguous."""
    weights, out = x[0] * width, (width, *x[1:])
    return out, weights + width, weights * x[1] * x[2], 2 * prod(x) + prod(out), 0


@twin("convnext_block")
def convnext_block(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    # The stage's width and stride are read by no node: the block keeps its input's shape.
    expansion, scale, rate = block.expansion, block.scale, block.drop_rate  # type: ignore[attr-defined]
    first, total, eps = block.first, block.total, block.eps  # type: ignore[attr-defined]
    if not (len(x) == 3 and whole(expansion) and number(scale) and number(rate) and 0 <= rate < 1
            and whole(first, 0) and whole(total, 2) and first + index <= total - 1 and number(eps) and 0 < eps <= 1
            and count(expansion * x[0])):
        return None
    if not 0 <= divide(rate * (first + index), total - 1) < 1:  # stochastic depth's p
        return None
    values = prod(x)
    # LayerNorm over each pixel's channels: a contiguous copy, and a mean and a deviation per pixel.
    norm: Part = (x, 2 * x[0], 0, 3 * values + 2 * x[1] * x[2], 0)
    widened = _pointwise_linear(x, expansion * x[0])
    path = chain(x, [conv(x, x[0], 7, 1, 3, x[0]), norm, widened, elementwise(widened[0]),
                     _pointwise_linear(widened[0], x[0])])  # module `block`, an nn.Sequential
    scaled: Part = (x, x[0], 0, 2 * values, 0)  # layer_scale: a factor per channel (a parameter)
    out, params, macs, peak, buffers = chain(x, [path, scaled, elementwise(x)])  # then stochastic depth
    return out, params, macs, max(peak, 3 * values), buffers  # the addition: input, path, sum; no BatchNorm
