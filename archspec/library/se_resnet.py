"""Static twins of `se_basic` and `se_bottleneck` (se_resnet.yaml), timm's SE-ResNet blocks: the
main path, the nested squeeze_excite gate, the stage's shortcut option, the addition and the ReLU."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut, elementwise_moment, shortcut_facts
from archspec.budget import Moment, residual_peak
from archspec.library.squeeze_excite import squeeze_excite_part
from archspec.library.twins import Part, batchnorm, conv, count, elementwise, twin, whole
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage


def _residual(x: Shape, stride: int, main: list[Part], width: int, reduction: object,
              shortcut: Shortcut) -> BlockFacts | None:
    """The main path's layers, then squeeze_excite (its divisor the default, 8), the shortcut toward
    `width` at `stride` (the stage's option: no bias, BatchNorm), their addition and the last ReLU."""
    out = main[-1][0]
    se = squeeze_excite_part(out, reduction, 8)
    if se is None:
        return None
    branch = shortcut_facts(x, out, width, stride, shortcut)
    if branch is None:
        return None
    branch_params, branch_macs, branch_buffers, branch_peak, branch_out = branch
    parts = [*main, se]
    peak = residual_peak(prod(x), [Moment(part[3]) for part in parts], prod(out), branch_peak, branch_out,
                         shortcut != "none", (elementwise_moment(out),))
    return (out, sum(part[1] for part in parts) + branch_params, sum(part[2] for part in parts) + branch_macs,
            peak.values, sum(part[4] for part in parts) + branch_buffers)


@twin("se_basic")
def se_basic(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    width, stride = block.width, block.block_stride(index)
    if len(x) != 3 or not whole(block.reduction):  # type: ignore[attr-defined]
        return None
    conv1 = conv(x, width, 3, stride, 1, bias=False)
    conv2 = conv(conv1[0], width, 3, 1, 1, bias=False)
    main = [conv1, batchnorm(conv1[0]), elementwise(conv1[0]), conv2, batchnorm(conv2[0])]
    return _residual(x, stride, main, width, block.reduction, shortcut)  # type: ignore[attr-defined]


@twin("se_bottleneck")
def se_bottleneck(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    width, stride = block.width, block.block_stride(index)
    reduction, expansion, groups, per_group = (block.reduction, block.expansion,  # type: ignore[attr-defined]
                                               block.groups, block.width_per_group)  # type: ignore[attr-defined]
    if len(x) != 3 or not (whole(reduction) and whole(expansion) and whole(groups) and whole(per_group)):
        return None
    inner, out_width = width * per_group // 64 * groups, width * expansion
    if not (count(inner) and count(out_width) and count(groups)):
        return None  # a convolution's validation refuses it
    conv1 = conv(x, inner, 1, bias=False)
    conv2 = conv(conv1[0], inner, 3, stride, 1, groups, bias=False)
    conv3 = conv(conv2[0], out_width, 1, bias=False)
    main = [conv1, batchnorm(conv1[0]), elementwise(conv1[0]), conv2, batchnorm(conv2[0]), elementwise(conv2[0]),
            conv3, batchnorm(conv3[0])]
    return _residual(x, stride, main, out_width, reduction, shortcut)
