"""Static twin of `mbconv_layers` (mbconv_layers.yaml), the main path of torchvision's EfficientNet
MBConv; `mbconv` (mbconv.yaml) nests it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archspec.blocks.base import BlockFacts, Shortcut
from archspec.expr_operations import make_divisible
from archspec.library.conv_norm_act import conv_norm_act_figures
from archspec.library.twins import (
    Part,
    chain,
    count,
    gate,
    norm_settings,
    number,
    stage_part,
    twin,
    whole,
)
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage

EXPANDED_DEFAULT = "${divisible(in * expand_ratio, 8)}"


def mbconv_layers_part(x: Shape, width: int, stride: int, expand_ratio: object, expanded: object, kernel: object,
                       eps: object, momentum: object) -> Part | None:
    """The 1x1 expansion (left out where `expanded` equals the input's channels), the k x k depthwise
    convolution, squeeze-and-excitation and the 1x1 projection + BatchNorm on image `x`; None where a
    field is out of what the twin takes, or `requires:` or a layer would refuse it."""
    if not (number(expand_ratio) and norm_settings(eps, momentum) and isinstance(kernel, int)
            and whole(kernel, 1, 4096)):  # kernel: conv_norm_act's `requires:` and a convolution's bound
        return None
    if expanded == EXPANDED_DEFAULT:
        expanded = make_divisible(x[0] * expand_ratio, 8)  # type: ignore[operator]
    if not (isinstance(expanded, int) and count(expanded)):
        return None
    parts: list[Part] = []
    if expanded != x[0]:  # conv_norm_act `0`: 1x1, SiLU
        parts.append(conv_norm_act_figures(x, expanded, 1, 1, 1))
    hidden = parts[-1][0] if parts else x  # `expanded` channels either way: depthwise is one group each
    depthwise = conv_norm_act_figures(hidden, expanded, kernel, stride, expanded)
    hidden = depthwise[0]
    excitation = gate(hidden, max(1, x[0] // 4), "silu", "sigmoid")
    if excitation is None:
        return None
    projection = conv_norm_act_figures(hidden, width, 1, 1, 1)  # `N.0`, `N.1`: 1x1 conv, BatchNorm
    return chain(x, [*parts, depthwise, excitation, projection])


@twin("mbconv_layers")
def mbconv_layers(block: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    return stage_part(mbconv_layers_part, block, index, x, "expand_ratio", "expanded", "kernel", "eps", "momentum")
