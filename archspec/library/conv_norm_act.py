"""Static twin of `conv_norm_act` (conv_norm_act.yaml), torchvision's Conv2dNormActivation; the
EfficientNet blocks of mbconv_layers.yaml nest it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.library.twins import (
    ELEMENTWISE,
    Part,
    batchnorm,
    chain,
    conv,
    count,
    elementwise,
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
    convolved = conv(x, width, kernel, stride, (kernel - 1) // 2, split, bias=False)
    out = convolved[0]
    return chain(x, [convolved, batchnorm(out), elementwise(out)])


@twin("conv_norm_act")
def conv_norm_act(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    return stage_part(conv_norm_act_part, block, index, x, "kernel", "groups", "activation", "eps", "momentum")
