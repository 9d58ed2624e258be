"""Static twins of `dense_layer` and `transition` (densenet.yaml), torchvision's DenseNet layers."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.library.twins import Part, batchnorm, chain, conv, count, elementwise, number, twin, whole
from archspec.shapes import Shape, windowed

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage


@twin("dense_layer")
def dense_layer(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    growth, size, rate = block.width, block.bn_size, block.drop_rate  # type: ignore[attr-defined]
    if not (len(x) == 3 and whole(size) and number(rate) and 0 <= rate < 1 and count(size * growth)):
        return None
    reduced = conv(x, size * growth, 1, bias=False)
    grown = conv(reduced[0], growth, 3, 1, 1, bias=False)
    parts = [batchnorm(x), elementwise(x), reduced, batchnorm(reduced[0]), elementwise(reduced[0]), grown]
    if rate > 0:
        parts.append(elementwise(grown[0]))  # dropout
    new, params, macs, peak = chain(x, parts)
    out = (x[0] + new[0], *x[1:])  # the input, its new maps concatenated after it
    return out, params, macs, max(peak, prod(x) + prod(new) + prod(out))


@twin("transition")
def transition(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    if len(x) != 3:
        return None
    reduced = conv(x, block.width, 1, bias=False)
    pooled = windowed(reduced[0], "avgpool", block.width, (2, 2), (2, 2), (0, 0))
    pool: Part = (pooled, 0, 0, prod(reduced[0]) + prod(pooled))
    return chain(x, [batchnorm(x), elementwise(x), reduced, pool])
