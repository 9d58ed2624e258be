"""Static twins of `dense_layer` and `transition` (densenet.yaml), torchvision's DenseNet layers."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.layer_rules import conv_working, norm_working
from archspec.layers import BatchNorm
from archspec.library.twins import Part, batchnorm, chain, conv, count, elementwise, number, twin, whole
from archspec.shapes import Shape, windowed

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage


@twin("dense_layer")
def dense_layer(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    # Written out in plain ints (not `conv` and `chain`): densenet121's first check runs it 58 times.
    growth, size, rate = block.width, block.bn_size, block.drop_rate  # type: ignore[attr-defined]
    inner = size * growth
    if not (len(x) == 3 and whole(size) and number(rate) and 0 <= rate < 1 and count(inner)):
        return None
    channels, height, width = x
    area = height * width
    values, reduced, grown = channels * area, inner * area, growth * area
    reduced_shape, grown_shape = (inner, height, width), (growth, height, width)  # 1x1; 3x3 padded by 1
    weights1, weights2 = inner * channels, growth * inner * 9
    # norm1 (on the input), then with the input held: relu1, conv1, norm2, relu2, conv2, dropout.
    after = max(2 * values,
                values + reduced + conv_working(x, reduced_shape, (1, 1), (1, 1)),
                2 * reduced + norm_working(reduced_shape),
                reduced + grown + conv_working(reduced_shape, grown_shape, (3, 3), (1, 1)),
                2 * grown if rate > 0 else 0)
    peak = max(2 * values + norm_working(x), values + after)
    out = (channels + growth, height, width)  # the input, its new maps concatenated after it
    return (out, 2 * channels + weights1 + 2 * inner + weights2, (weights1 + weights2) * area,
            max(peak, values + grown + (channels + growth) * area),
            BatchNorm.running_stats_bytes(channels) + BatchNorm.running_stats_bytes(inner))  # norm1, norm2


@twin("transition")
def transition(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    if len(x) != 3:
        return None
    reduced = conv(x, block.width, 1, bias=False)
    pooled = windowed(reduced[0], "avgpool", block.width, (2, 2), (2, 2), (0, 0))
    pool: Part = (pooled, 0, 0, prod(reduced[0]) + prod(pooled), 0)
    return chain(x, [batchnorm(x), elementwise(x), reduced, pool])
