"""Static twin of `inverted_residual` (inverted_residual.yaml), torchvision's MobileNetV2 block."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.library.twins import Part, batchnorm, chain, conv, count, elementwise, twin, whole
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage


def _conv_bn_relu6(x: Shape, width: int, kernel: int, stride: int, groups: int) -> Part:
    convolved = conv(x, width, kernel, stride, kernel // 2, groups, bias=False)
    out = convolved[0]
    return chain(x, [convolved, batchnorm(out), elementwise(out)])


@twin("inverted_residual")
def inverted_residual(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    ratio, width, stride = block.expand_ratio, block.width, block.block_stride(index)  # type: ignore[attr-defined]
    if len(x) != 3 or not whole(ratio):
        return None
    hidden = x[0] * ratio  # round(in * expand_ratio) of whole numbers
    if not count(hidden):
        return None
    # Module `conv`, an nn.Sequential: [expansion (a Sequential)], depthwise (a Sequential), projection, BatchNorm.
    parts = [_conv_bn_relu6(x, hidden, 1, 1, 1)] if ratio != 1 else []
    expanded = parts[0][0] if parts else x
    parts.append(_conv_bn_relu6(expanded, hidden, 3, stride, expanded[0]))
    projected = conv(parts[-1][0], width, 1, bias=False)
    out, params, macs, peak = chain(x, [*parts, projected, batchnorm(projected[0])])
    if stride == 1 and x[0] == width:  # the residual addition: input, the path's output and the sum
        peak = max(peak, prod(x) + 2 * prod(out))
    return out, params, macs, peak
