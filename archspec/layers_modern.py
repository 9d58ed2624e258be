"""The layer kinds of the modern CNN zoo (MobileNet, EfficientNet, RegNet, ShuffleNet, ConvNeXt).

Same contract as archspec/layers.py (imported from there, so that LAYERS holds these kinds before
archspec.spec builds its union): `infer` is the static rule, `build(nn, x)` makes the module from
`archspec.modules`, `working_values` is the forward's temporaries for the memory budget. Each builds
the module type torchvision's networks use, so state_dicts load strictly and train mode behaves
the same. Counting follows torchvision's `_ops` and layers.py: activations, norms, pooling,
shuffles and scales have 0 MACs (FlopCounterMode counts none of their ops either).
"""

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from archspec.layer_rules import pool_working
from archspec.layers import LAYERS, Count, LayerBase, Probability, SizeOrPair, _Elementwise
from archspec.shapes import Facts, Shape, ShapeProblem, expect_image, pair


@LAYERS.register
class ReLU6(_Elementwise):
    """min(max(x, 0), 6): MobileNetV2's activation."""

    layer: Literal["relu6"]
    inplace: bool = Field(True, description="overwrite the input, as torchvision's MobileNetV2 does")
    default_name: ClassVar[str] = "relu6"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.ReLU6(inplace=self.inplace)


@LAYERS.register
class Hardswish(_Elementwise):
    """x * relu6(x + 3) / 6: MobileNetV3's activation."""

    layer: Literal["hardswish"]
    inplace: bool = Field(True, description="overwrite the input, as torchvision's MobileNetV3 does")
    default_name: ClassVar[str] = "hardswish"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.Hardswish(inplace=self.inplace)


@LAYERS.register
class Hardsigmoid(_Elementwise):
    """relu6(x + 3) / 6: the gate of MobileNetV3's squeeze-and-excitation."""

    layer: Literal["hardsigmoid"]
    inplace: bool = Field(False, description="overwrite the input (torchvision's MobileNetV3 does not)")
    default_name: ClassVar[str] = "hardsigmoid"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.Hardsigmoid(inplace=self.inplace)


@LAYERS.register
class Identity(_Elementwise):
    """Passes its input on unchanged (nn.Identity): a placeholder that keeps a module name."""

    layer: Literal["identity"]
    default_name: ClassVar[str] = "identity"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.Identity()


@LAYERS.register
class StochasticDepth(_Elementwise):
    """torchvision.ops.StochasticDepth: in training, zeroes the whole input of a sample (`row`) or of
    the batch (`batch`) with probability `p` and scales the rest by 1 / (1 - p); identity in eval."""
    quiet_in_diagram: ClassVar[bool] = False

    def describe(self) -> str:
        return f"stochastic depth {self.p}"


    layer: Literal["stochastic_depth"]
    p: Probability = Field(description="the probability of dropping")
    mode: Literal["row", "batch"] = Field("row", description="row: per sample (ConvNeXt, EfficientNet); "
                                          "batch: the whole batch at once")
    default_name: ClassVar[str] = "stochastic_depth"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.StochasticDepth(self.p, self.mode)


@LAYERS.register
class ChannelShuffle(LayerBase):
    """ShuffleNet's channel shuffle: channels as `groups` x (C / groups), transposed. No parameters."""

    layer: Literal["channel_shuffle"]
    groups: Count
    default_name: ClassVar[str] = "shuffle"

    def infer(self, x: Shape) -> Facts:
        channels, _, _ = expect_image(x, "channel_shuffle")
        if channels % self.groups:
            divisors = [d for d in range(2, min(channels, 64) + 1) if channels % d == 0][:4]
            raise ShapeProblem(
                f"channel_shuffle groups {self.groups} must divide the {channels} input channels",
                (f"use groups {', '.join(map(str, divisors))}" if divisors else
                 f"{channels} channels only split into groups of 1 or {channels}") + " (divisors of "
                f"{channels}), or change the width of the layer before", "groups")
        return (x, 0, 0)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.ChannelShuffle(self.groups)


@LAYERS.register
class LayerNorm(LayerBase):
    """Layer normalisation over channels: on images ConvNeXt's LayerNorm2d (each pixel's channels
    normalised), on flat vectors nn.LayerNorm over the features."""
    quiet_in_diagram: ClassVar[bool] = True

    layer: Literal["layernorm"]
    eps: Annotated[float, Field(gt=0.0, le=1.0)] = Field(1e-5, description="1e-6 in ConvNeXt")
    default_name: ClassVar[str] = "norm"

    def infer(self, x: Shape) -> Facts:
        return (x, 2 * x[0], 0)

    def build(self, nn: Any, x: Shape) -> Any:
        norm = nn.LayerNorm2d if len(x) == 3 else nn.LayerNorm
        return norm(x[0], eps=self.eps)

    def working_values(self, x: Shape, out: Shape) -> int:
        """On an image the channels-last view is copied contiguous for the kernel; the kernel keeps
        a mean and an inverse deviation per normalised row (per pixel)."""
        rows = math.prod(x[1:])
        return (math.prod(x) if len(x) == 3 else 0) + 2 * rows


@LAYERS.register
class LayerScale(LayerBase):
    """ConvNeXt's layer scale: multiplies each channel by a learned factor (a C x 1 x 1 parameter
    that starts at `scale`). Alone it builds modules.LayerScale (its key `<name>.weight`); a block
    registers the parameter bare (`<name>`), as ConvNeXt's CNBlock does: see modules.LayerScale."""

    layer: Literal["layer_scale"]
    scale: Annotated[float, Field(allow_inf_nan=False)] = Field(
        1e-6, description="the initial factor of every channel (ConvNeXt's layer_scale, 1e-6)")
    default_name: ClassVar[str] = "layer_scale"

    def infer(self, x: Shape) -> Facts:
        channels, _, _ = expect_image(x, "layer_scale")
        return (x, channels, 0)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.LayerScale(x[0], self.scale)


@LAYERS.register
class AdaptiveMaxPool(LayerBase):
    """Max pooling to a fixed output size, whatever the input size."""

    def describe(self) -> str:
        return "adaptive maxpool to {}x{}".format(*pair(self.size))


    layer: Literal["adaptive_maxpool"]
    size: SizeOrPair = 1
    default_name: ClassVar[str] = "maxpool"

    def infer(self, x: Shape) -> Facts:
        channels, _, _ = expect_image(x, "adaptive_maxpool")
        return ((channels, *pair(self.size)), 0, 0)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.AdaptiveMaxPool2d(pair(self.size))

    def working_values(self, x: Shape, out: Shape) -> int:
        return pool_working(out)  # the maxima's indices, as MaxPool2d


@LAYERS.register
class GlobalMaxPool(LayerBase):
    """The maximum over the whole feature map: channels x 1 x 1 (follow it with `flatten`)."""

    layer: Literal["global_maxpool"]
    default_name: ClassVar[str] = "maxpool"

    def infer(self, x: Shape) -> Facts:
        channels, _, _ = expect_image(x, "global_maxpool")
        return ((channels, 1, 1), 0, 0)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.AdaptiveMaxPool2d((1, 1))

    def working_values(self, x: Shape, out: Shape) -> int:
        return pool_working(out)


@LAYERS.register
class PointwiseLinear(LayerBase):
    """nn.Linear over each pixel's channels: ConvNeXt's pointwise layers, which torchvision's CNBlock
    runs as nn.Linear on a channels-last view. Computes what a 1x1 convolution computes, with
    nn.Linear's parameters (weight `width x C`, where a 1x1 conv's is `width x C x 1 x 1`), so that
    ConvNeXt's state_dict loads; MACs as the 1x1 convolution's (FlopCounterMode counts its matmul)."""

    layer: Literal["pointwise_linear"]
    width: Count
    bias: bool = True
    default_name: ClassVar[str] = "fc"

    def infer(self, x: Shape) -> Facts:
        channels, height, width = expect_image(x, "pointwise_linear")
        weights = channels * self.width
        return ((self.width, height, width), weights + (self.width if self.bias else 0), weights * height * width)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.PointwiseLinear(x[0], self.width, self.bias)

    def working_values(self, x: Shape, out: Shape) -> int:
        """The channels-last view of the input is copied contiguous for the matrix product (where the
        input is not channels-last in memory already: the output of a pointwise_linear is)."""
        return math.prod(x)
