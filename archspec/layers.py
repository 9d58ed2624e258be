"""Primitive layers: each kind is one class holding its spec fields, its static rule and its builder.

- `infer(x)` is the static rule: input shape -> output shape, parameters, MACs. Pure, no torch.
- `build(nn, x)` makes the module. `nn` is `archspec.modules`, handed in by the build pass, so that
  this file never imports torch and the static check stays torch-free.
- `working_values(x, out)` is what the module's forward allocates beyond its output while it runs
  (PyTorch's CPU kernels, eval mode, no_grad), for the memory budget; tests/test_memory_bound.py
  measures every kind against it.
- `buffer_bytes(x)`: the bytes of the module's buffers (BatchNorm's running statistics), for the
  memory budget; tests/test_memory_state.py holds it equal to the built module's for every kind.
The rules that blocks' static twins share with these kinds (`conv_facts`, `conv_working`, ...) live in
archspec/layer_rules.py, as plain functions of shapes.
Channel counts and `in_features` are never spec fields: they come from the input shape `x`.
"""

# No `from __future__ import annotations` here or in layers_modern.py: Pydantic would evaluate every
# field's annotation string as each kind's class is made, a third of this module's import time.
import functools
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from archspec.layer_rules import SCALAR_OPERAND, conv_facts, conv_working, norm_working, pool_working, zero_pad_facts
from archspec.registry import Registry
from archspec.shapes import MAX_COUNT, Facts, Pair, Shape, ShapeProblem, expect_flat, expect_image, pair, show, windowed
from archspec.validated import ValidatedCopies

Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Size = Annotated[int, Field(ge=1, le=4_096)]
Offset = Annotated[int, Field(ge=0, le=4_096)]
SizeOrPair = Size | tuple[Size, Size]
OffsetOrPair = Offset | tuple[Offset, Offset]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
# A module name; a dotted one (`conv1.0`, `stages.0.blocks`) nests (archspec/nesting.py): after the
# first, a component may be a number, as in an nn.Sequential.
MODULE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.([A-Za-z_][A-Za-z0-9_]{0,63}|[0-9]{1,6})){0,15}$"
ModuleName = Annotated[str, Field(pattern=MODULE_NAME_PATTERN)]

ZeroPad = Literal["end", "both"]  # where option A puts its zero channels: after the input's, or half each side


class LayerBase(ValidatedCopies):
    # defer_build: a kind's validator is made the first time the kind is used, not when archspec is
    # imported (making all of them took most of `archspec check`'s start-up).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: ModuleName | None = Field(None, description="module name; by default from the kind; a dotted "
                                    "name (conv1.0) nests")
    default_name: ClassVar[str]
    always_numbered: ClassVar[bool] = False  # conv1, bn1 as in torchvision, even when alone

    def infer(self, x: Shape) -> Facts:
        raise NotImplementedError

    def build(self, nn: Any, x: Shape) -> Any:
        raise NotImplementedError

    def working_values(self, x: Shape, out: Shape) -> int:
        """Values (float32) the forward allocates besides its output, at most, while it runs: the
        kernel's temporaries. 0 where PyTorch writes the output directly (or returns a view)."""
        return 0

    def buffer_bytes(self, x: Shape) -> int:
        """Bytes of the buffers (state that is not a parameter) the built module registers."""
        return 0

    # Left out of a block's one-line summary in diagrams: it keeps the shape and carries no choice
    # worth a glance (BatchNorm, activations, dropout, flatten).
    quiet_in_diagram: ClassVar[bool] = False

    def describe(self) -> str:
        """'conv 7x7/2, 64', 'maxpool 3x3/2', 'linear 1000': the layer as a person would write it."""
        text = str(getattr(self, "layer", "")).replace("_", " ")
        kernel = getattr(self, "kernel", None)
        if kernel is not None:
            text += " {}x{}".format(*pair(kernel))
            stride = pair(getattr(self, "stride", None) or 1)
            if stride != (1, 1):
                text += f"/{stride[0]}" if stride[0] == stride[1] else "/{}x{}".format(*stride)
        if getattr(self, "width", None) is not None:
            text += f", {self.width}"  # type: ignore[attr-defined]
        if getattr(self, "groups", 1) != 1:
            text += f", groups {self.groups}"  # type: ignore[attr-defined]
        return text


LAYERS: Registry[type[LayerBase]] = Registry("layer")


@functools.lru_cache(maxsize=4096, typed=True)
def derived(kind: type[LayerBase], **fields: Any) -> LayerBase:
    """A layer that a block makes, validated like a written one (so a block cannot derive, say, a
    convolution with 2^20 channels: `ValidationError`). Layers are frozen values, so equal settings
    share one object: ResNet-152's 151 ReLUs are one, and a check validates each distinct layer once
    per process instead of once per block (pydantic validation was a third of the check's time).
    `typed`: `bias=1` and `bias=True` stay apart, as validation treats them differently."""
    return kind(**fields)


@LAYERS.register
class Conv(LayerBase):
    """2-d convolution. `width` is the number of output channels."""

    layer: Literal["conv"]
    width: Count
    kernel: SizeOrPair = 3
    stride: SizeOrPair = 1
    padding: OffsetOrPair = 0
    dilation: SizeOrPair = 1
    groups: Count | Literal["depthwise"] = Field(
        1, description="a number, or `depthwise`: one group per input channel (groups = input channels)")
    bias: bool = True
    default_name: ClassVar[str] = "conv"
    always_numbered: ClassVar[bool] = True

    def group_count(self, x: Shape) -> int:
        return x[0] if self.groups == "depthwise" else self.groups  # type: ignore[return-value]

    def infer(self, x: Shape) -> Facts:
        if self.groups == "depthwise" and len(x) == 3 and self.width % x[0]:
            raise ShapeProblem(
                f"a depthwise convolution's width must be a multiple of its {x[0]} input channels, "
                f"found width {self.width}",
                f"write `width: {x[0]}` (or {2 * x[0]}, {3 * x[0]}, ...: a channel multiplier)", "width")
        return conv_facts(x, self.width, pair(self.kernel), pair(self.stride), pair(self.padding),
                          pair(self.dilation), self.group_count(x), self.bias)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.Conv2d(x[0], self.width, pair(self.kernel), pair(self.stride), pair(self.padding),
                         pair(self.dilation), self.group_count(x), self.bias)

    def working_values(self, x: Shape, out: Shape) -> int:
        return conv_working(x, out, pair(self.kernel), pair(self.stride), self.group_count(x))


@LAYERS.register
class BatchNorm(LayerBase):
    """Batch normalisation over channels (on images) or features (on flat vectors: BatchNorm1d)."""
    quiet_in_diagram: ClassVar[bool] = True

    layer: Literal["batchnorm"]
    eps: Annotated[float, Field(gt=0.0, le=1.0)] = 1e-5
    momentum: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    default_name: ClassVar[str] = "bn"
    always_numbered: ClassVar[bool] = True

    def infer(self, x: Shape) -> Facts:
        return (x, 2 * x[0], 0)

    def build(self, nn: Any, x: Shape) -> Any:
        norm = nn.BatchNorm2d if len(x) == 3 else nn.BatchNorm1d
        return norm(x[0], eps=self.eps, momentum=self.momentum)

    def working_values(self, x: Shape, out: Shape) -> int:
        return norm_working(x)

    def buffer_bytes(self, x: Shape) -> int:
        return self.running_stats_bytes(x[0])

    @staticmethod
    def running_stats_bytes(channels: int) -> int:
        """running_mean and running_var (float32 per channel), num_batches_tracked (one int64); the
        blocks' static twins count their BatchNorms through this too."""
        return 2 * 4 * channels + 8


class _Elementwise(LayerBase):
    """A layer that keeps the shape and has no parameters."""
    quiet_in_diagram: ClassVar[bool] = True

    def infer(self, x: Shape) -> Facts:
        return (x, 0, 0)


@LAYERS.register
class ReLU(_Elementwise):
    layer: Literal["relu"]
    inplace: bool = Field(True, description="overwrite the input, as torchvision's networks do")
    default_name: ClassVar[str] = "relu"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.ReLU(inplace=self.inplace)


@LAYERS.register
class Sigmoid(_Elementwise):
    layer: Literal["sigmoid"]
    default_name: ClassVar[str] = "sigmoid"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.Sigmoid()


@LAYERS.register
class Tanh(_Elementwise):
    layer: Literal["tanh"]
    default_name: ClassVar[str] = "tanh"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.Tanh()


@LAYERS.register
class GELU(_Elementwise):
    layer: Literal["gelu"]
    default_name: ClassVar[str] = "gelu"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.GELU()


@LAYERS.register
class SiLU(_Elementwise):
    layer: Literal["silu"]
    default_name: ClassVar[str] = "silu"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.SiLU()


@LAYERS.register
class LeakyReLU(_Elementwise):
    layer: Literal["leaky_relu"]
    negative_slope: Annotated[float, Field(ge=0.0, le=1.0)] = 0.01
    default_name: ClassVar[str] = "leaky_relu"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.LeakyReLU(self.negative_slope)


@LAYERS.register
class Dropout(_Elementwise):

    def describe(self) -> str:
        return f"dropout {self.p}"

    layer: Literal["dropout"]
    p: Probability = 0.5
    default_name: ClassVar[str] = "dropout"

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.Dropout(self.p)


@LAYERS.register
class LocalResponseNorm(_Elementwise):
    """Local response normalisation across channels (AlexNet, GoogLeNet v1)."""

    layer: Literal["local_response_norm"]
    size: Size = 5
    alpha: Annotated[float, Field(ge=0.0)] = 1e-4
    beta: Annotated[float, Field(ge=0.0)] = 0.75
    k: Annotated[float, Field(ge=0.0)] = 1.0
    default_name: ClassVar[str] = "lrn"

    def infer(self, x: Shape) -> Facts:
        expect_image(x, "local_response_norm")
        return (x, 0, 0)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)

    def working_values(self, x: Shape, out: Shape) -> int:
        """F.local_response_norm squares the input, pads the squares with size - 1 zero channels
        (a large `size` costs that many channel planes), averages over `size` channels, then scales
        with three Python numbers, each step a new tensor beside the one before."""
        channels, height, width = x
        return max(channels + self.size - 1, 2 * channels) * height * width + SCALAR_OPERAND


class _Pool(LayerBase):
    kernel: SizeOrPair = 2
    stride: SizeOrPair | None = Field(None, description="defaults to the kernel size, as in PyTorch")
    padding: OffsetOrPair = 0
    ceil_mode: bool = False

    def window(self) -> tuple[Pair, Pair, Pair]:
        kernel = pair(self.kernel)
        stride = pair(self.stride) if self.stride is not None else kernel
        padding = pair(self.padding)
        if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
            raise ShapeProblem(f"padding {show(padding)} is more than half the kernel {show(kernel)}",
                               "PyTorch refuses this: use padding <= kernel // 2", "padding")
        return kernel, stride, padding

    def infer(self, x: Shape) -> Facts:
        kernel, stride, padding = self.window()
        return (windowed(x, self.layer, x[0], kernel, stride, padding,  # type: ignore[attr-defined]
                         ceil_mode=self.ceil_mode), 0, 0)


@LAYERS.register
class MaxPool(_Pool):
    layer: Literal["maxpool"]
    default_name: ClassVar[str] = "maxpool"

    def build(self, nn: Any, x: Shape) -> Any:
        kernel, stride, padding = self.window()
        return nn.MaxPool2d(kernel, stride, padding, ceil_mode=self.ceil_mode)

    def working_values(self, x: Shape, out: Shape) -> int:
        return pool_working(out)


@LAYERS.register
class AvgPool(_Pool):
    layer: Literal["avgpool"]
    count_include_pad: bool = True
    default_name: ClassVar[str] = "avgpool"

    def build(self, nn: Any, x: Shape) -> Any:
        kernel, stride, padding = self.window()
        return nn.AvgPool2d(kernel, stride, padding, self.ceil_mode, self.count_include_pad)


@LAYERS.register
class AdaptiveAvgPool(LayerBase):
    """Average pooling to a fixed output size, whatever the input size."""

    def describe(self) -> str:
        return "adaptive avgpool to {}x{}".format(*pair(self.size))

    layer: Literal["adaptive_avgpool"]
    size: SizeOrPair = 1
    default_name: ClassVar[str] = "avgpool"

    def infer(self, x: Shape) -> Facts:
        channels, _, _ = expect_image(x, "adaptive_avgpool")
        return ((channels, *pair(self.size)), 0, 0)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.AdaptiveAvgPool2d(pair(self.size))

    def working_values(self, x: Shape, out: Shape) -> int:
        return SCALAR_OPERAND if out[1:] == (1, 1) else 0  # to 1x1, PyTorch takes a `mean`


@LAYERS.register
class GlobalAvgPool(LayerBase):
    """Average over the whole feature map: channels x 1 x 1 (follow it with `flatten`)."""

    layer: Literal["global_avgpool"]
    default_name: ClassVar[str] = "avgpool"

    def infer(self, x: Shape) -> Facts:
        channels, _, _ = expect_image(x, "global_avgpool")
        return ((channels, 1, 1), 0, 0)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.AdaptiveAvgPool2d((1, 1))

    def working_values(self, x: Shape, out: Shape) -> int:
        return SCALAR_OPERAND  # a `mean`, which divides by the count as a Python number


@LAYERS.register
class Flatten(LayerBase):
    quiet_in_diagram: ClassVar[bool] = True
    layer: Literal["flatten"]
    default_name: ClassVar[str] = "flatten"

    def infer(self, x: Shape) -> Facts:
        return ((math.prod(x),), 0, 0)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.Flatten(1)


@LAYERS.register
class Linear(LayerBase):
    """Fully connected layer. `width` is the number of output features; `in_features` is inferred."""

    layer: Literal["linear"]
    width: Count
    bias: bool = True
    default_name: ClassVar[str] = "fc"

    def infer(self, x: Shape) -> Facts:
        features = expect_flat(x, "linear")
        weights = features * self.width
        return ((self.width,), weights + (self.width if self.bias else 0), weights)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.Linear(x[0], self.width, self.bias)


class ZeroPadShortcut(LayerBase):
    """Option A shortcut: subsample by `stride`, add zero channels up to `width`. No parameters.

    Internal: blocks create it; a spec cannot name it (it is not registered in LAYERS).
    """

    def describe(self) -> str:
        return f"subsample /{self.stride}, zero-pad to {self.width}"

    layer: Literal["zero_pad_shortcut"] = "zero_pad_shortcut"
    width: Count
    stride: Size = 1
    pad: ZeroPad = "end"
    default_name: ClassVar[str] = "downsample"

    def infer(self, x: Shape) -> Facts:
        return zero_pad_facts(x, self.width, self.stride)

    def build(self, nn: Any, x: Shape) -> Any:
        return nn.ZeroPadShortcut(self.stride, self.width - x[0], both_sides=self.pad == "both")


# The modern kinds (MobileNet, EfficientNet, ShuffleNet, ConvNeXt) live in their own module; importing
# it here registers them before archspec.spec builds the union of every kind from LAYERS.
from archspec import layers_modern  # noqa: E402, F401
