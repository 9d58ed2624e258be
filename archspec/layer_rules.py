"""The static rules that the layer kinds share with the blocks' static twins (archspec/blocks/base.py).

- Facts: a convolution's and option A shortcut's output shape, parameters and MACs (`conv_facts`,
  `zero_pad_facts`), computed from plain numbers, so that a twin needs no layer object.
- Working memory: what PyTorch's CPU kernels allocate beside a layer's output while it runs
  (`conv_working`, `norm_working`, `pool_working`), for the memory budget; tests/test_memory_bound.py
  measures them against real forwards.
Pure functions of shapes, no torch, no Pydantic: the check calls them tens of thousands of times a
second while sampling, so they take plain tuples and ints.
"""

from __future__ import annotations

import math

from archspec.shapes import Facts, Pair, Shape, ShapeProblem, expect_image, windowed


def conv_facts(x: Shape, width: int, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair = (1, 1),
               groups: int = 1, bias: bool = True) -> Facts:
    """The static rule of a convolution, shared by `Conv` and the blocks' static twins."""
    if len(x) != 3:
        expect_image(x, "conv")  # raises
    channels = x[0]
    if channels % groups or width % groups:
        raise ShapeProblem(
            f"groups {groups} must divide both the {channels} input channels and the "
            f"{width} output channels", "choose groups that divide both", "groups")
    out = windowed(x, "conv", width, kernel, stride, padding, dilation)
    weights = width * (channels // groups) * kernel[0] * kernel[1]
    return (out, weights + width if bias else weights, weights * out[1] * out[2])


def zero_pad_facts(x: Shape, width: int, stride: int) -> Facts:
    """The static rule of option A's shortcut, shared by `ZeroPadShortcut` and the blocks' twins."""
    channels, height, map_width = expect_image(x, "shortcut A")
    if width < channels:
        raise ShapeProblem(
            f"shortcut A zero-pads channels, it cannot reduce {channels} channels to {width}",
            "use shortcut B (1x1 projection) where the width shrinks", "shortcut")
    return ((width, -(-height // stride), -(-map_width // stride)), 0, 0)


# A Python number used as an operand (`x.mul(alpha)`, `mean`'s division) becomes a one-element double
# tensor and its float32 copy while the operation runs: 12 bytes, 3 values.
SCALAR_OPERAND = 3
# oneDNN, PyTorch's CPU convolution library, copies tensors into layouts that hold channels in blocks
# of up to 16 (nChw16c), padding the last block.
CHANNEL_BLOCK = 16
# oneDNN gives each intra-op thread its own strided copy of a strided 1x1 convolution's input. The
# estimate counts this many threads (torch.get_num_threads(); by default one per physical core).
ONEDNN_THREADS = 16


def blocked(channels: int) -> int:
    """`channels` rounded up to whole oneDNN channel blocks."""
    return -(-channels // CHANNEL_BLOCK) * CHANNEL_BLOCK


def conv_working(x: Shape, out: Shape, kernel: Pair, stride: Pair, groups: int = 1) -> int:
    """A convolution's temporaries on CPU, on whichever path PyTorch takes (shared with the twins):
    - its own kernel (slow_conv2d; for a small input, or with oneDNN off): one group's unfolded
      input (im2col) at a time, and for a grouped convolution every group's output, concatenated;
      on a channels-last input (after `pointwise_linear`, which permutes) also the weights, copied;
    - oneDNN: the input, output and weights copied into channel-blocked layouts; a strided 1x1
      convolution also gives each thread a strided copy of the input (ONEDNN_THREADS threads);
    - oneDNN's gemm kernel, which it takes for groups whose channels do not fill its blocks (e.g.
      3 per group): each thread unfolds one group's input on its own, and the weights are copied.
      Measured here with 6 channels in 2 groups at 8x27: 2 threads held two unfolded groups, more
      than the blocked layouts; 8 threads on 2 groups held four (oneDNN splits more than groups)."""
    channels, height, width = x
    out_channels, out_height, out_width = out
    kernel_area, out_area = kernel[0] * kernel[1], out_height * out_width
    in_per_group, out_per_group = channels // groups, out_channels // groups
    unfolded = in_per_group * kernel_area * out_area  # one group's input, unfolded (im2col)
    weights = out_channels * in_per_group * kernel_area  # copied where the input is channels-last
    own = unfolded + weights + (out_channels * out_area if groups > 1 else 0)
    onednn = (blocked(channels) * height * width + blocked(out_channels) * out_area
              + groups * blocked(out_per_group) * blocked(in_per_group) * kernel_area)
    if kernel_area == 1 and stride != (1, 1):
        onednn += ONEDNN_THREADS * blocked(channels) * out_area
    gemm = 0
    if groups > 1 and (in_per_group % CHANNEL_BLOCK or out_per_group % CHANNEL_BLOCK):
        gemm = ONEDNN_THREADS * unfolded + weights
    return max(own, onednn, gemm)


def norm_working(x: Shape) -> int:
    """BatchNorm in eval mode first folds its statistics into a scale and a shift per channel."""
    return 2 * x[0]


def pool_working(out: Shape) -> int:
    """MaxPool2d on CPU computes the indices of the maxima too (int64: two values per output value)."""
    return 2 * math.prod(out)
