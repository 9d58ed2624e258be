"""Shape arithmetic shared by the static rules. Pure integer maths, no torch.

A shape leaves out the batch dimension: (channels, height, width) for an image-like tensor,
(features,) for a flat vector.
"""

from __future__ import annotations

Shape = tuple[int, ...]
Pair = tuple[int, int]

MAX_COUNT = 65_536  # channels, features, groups, an input's side: beyond any real network


class ShapeProblem(Exception):
    """A static rule's refusal: what is wrong, what to do, and which field of the layer is at fault."""

    def __init__(self, message: str, hint: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field


# What a static rule knows about one node: (output shape, parameters, multiply-accumulates of
# convolutions and linear layers, as torchvision's `_ops`). A plain tuple, not a NamedTuple: the check
# makes one per node and a named tuple costs five times as much to make.
Facts = tuple[Shape, int, int]


def input_shape(given: object) -> Shape | None:
    """`given` as an input to check, (channels, height, width) in whole numbers from 1 to MAX_COUNT
    (a tuple or a list); None where it is not one (`--input` and `archspec.check` say so)."""
    if (isinstance(given, (tuple, list)) and len(given) == 3 and all(
            isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_COUNT for n in given)):
        return (given[0], given[1], given[2])
    return None


def show(shape: Shape) -> str:
    """(64, 56, 56) -> '64x56x56', the notation of `--input`."""
    return "x".join(str(d) for d in shape)


def pair(value: int | tuple[int, int] | list[int]) -> Pair:
    if value.__class__ is int:  # the common case first: the check calls this for every window op
        return (value, value)  # type: ignore[return-value]
    first, second = value  # type: ignore[misc]
    return (first, second)


def window_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
               ceil_mode: bool = False) -> int:
    """Output length of a sliding window (convolution or pooling), exactly as PyTorch computes it."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    # `//` floors like PyTorch's div_rtn, so a negative span gives a size < 1 (refused by the caller)
    # except in ceil mode, where a window overhanging the input by less than a stride still counts
    # (a 3x3 max-pool, stride 2, ceil_mode on a 2x2 input gives 1x1: GoogLeNet's minimum of 15).
    if not ceil_mode:
        return max(0, span // stride + 1)
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:  # the last window must start inside the input or left pad
        out -= 1
    return max(0, out)


def expect_image(x: Shape, what: str) -> tuple[int, int, int]:
    if len(x) != 3:
        raise ShapeProblem(
            f"{what} expects an image (channels x height x width), found a flat vector of {x[0]} features",
            "move this layer before `flatten`, or use `linear` on flat vectors")
    return x[0], x[1], x[2]


def expect_flat(x: Shape, what: str) -> int:
    if len(x) != 1:
        raise ShapeProblem(
            f"{what} expects a flat vector, found an image of shape {show(x)}",
            "add `- layer: flatten` (after a `global_avgpool`) before it")
    return x[0]


# The hint of an input too small for a window; the check replaces it with the smallest input the
# network takes, where it finds it (archspec/smallest_input.py).
TOO_SMALL_HINT = "use a larger input size, or less downsampling before this layer"


def windowed(x: Shape, what: str, channels: int, kernel: Pair, stride: Pair, padding: Pair,
             dilation: Pair = (1, 1), ceil_mode: bool = False) -> Shape:
    """Output shape of a 2-d window op; refuses an input too small for the window."""
    if len(x) != 3:
        expect_image(x, what)  # raises
    height, width = x[1], x[2]
    if ceil_mode:
        out_h = window_out(height, kernel[0], stride[0], padding[0], dilation[0], True)
        out_w = window_out(width, kernel[1], stride[1], padding[1], dilation[1], True)
    else:  # window_out's floor case, inlined: this is the check's hottest line
        out_h = (height + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
        out_w = (width + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    if out_h < 1 or out_w < 1:
        raise ShapeProblem(
            f"{what} with kernel {show(kernel)}, stride {show(stride)}, padding {show(padding)} "
            f"does not fit its {height}x{width} input (output would be {max(0, out_h)}x{max(0, out_w)})",
            TOO_SMALL_HINT, "kernel")
    return (channels, out_h, out_w)
