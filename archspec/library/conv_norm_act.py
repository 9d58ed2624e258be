"""Static twin of `conv_norm_act` (conv_norm_act.yaml), torchvision's Conv2dNormActivation; the
EfficientNet blocks of mbconv_layers.yaml nest it."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.layer_rules import conv_facts, conv_working, norm_working
from archspec.layers import BatchNorm
from archspec.library.twins import (
    ELEMENTWISE,
    Part,
    count,
    norm_settings,
    stage_part,
    twin,
    whole,
)
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage

GROUPS_DEFAULT = "${1}"  # the field's default, an expression: one group


def conv_norm_act_part(x: Shape, width: int, stride: int, kernel: object, groups: object, activation: object,
                       eps: object, momentum: object) -> Part | None:
    """The k x k convolution (no bias, padding (k - 1) // 2), BatchNorm and activation on image `x`;
    None where a field is out of what the twin takes, or `requires:` or a layer would refuse it."""
    if not (isinstance(kernel, int) and whole(kernel, 1, 4096) and count(width) and norm_settings(eps, momentum)
            and activation in ELEMENTWISE):
        return None
    if groups == GROUPS_DEFAULT:
        split = 1
    elif groups == "depthwise":  # one group per input channel, and a width that is a multiple of them
        if width % x[0]:
            return None
        split = x[0]
    elif isinstance(groups, int) and count(groups):
        split = groups
    else:
        return None
    return conv_norm_act_figures(x, width, kernel, stride, split)


def conv_norm_act_figures(x: Shape, width: int, kernel: int, stride: int, groups: int) -> Part:
    """`conv_norm_act_part` of fields checked already (raises ShapeProblem where the convolution does
    not fit): a chain of the convolution, BatchNorm (2 values a channel) and an elementwise activation.
    The activation holds less than the BatchNorm before it (no working values), so these are also the
    figures of the convolution and BatchNorm alone (a projection without activation)."""
    kernels, strides = (kernel, kernel), (stride, stride)
    padding = (kernel - 1) // 2
    out, params, macs = conv_facts(x, width, kernels, strides, (padding, padding), groups=groups, bias=False)
    values, out_values = prod(x), prod(out)
    return out, params + 2 * width, macs, max(values + out_values + conv_working(x, out, kernels, strides, groups),
                                              values + 2 * out_values + norm_working(out)), \
        BatchNorm.running_stats_bytes(width)


@twin("conv_norm_act")
def conv_norm_act(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    return stage_part(conv_norm_act_part, block, index, x, "kernel", "groups", "activation", "eps", "momentum")
