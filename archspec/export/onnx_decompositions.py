"""Pooling operators written in operators whose ONNX form computes what PyTorch computes, for the
ONNX export (onnx.py). Each is exact for the input's fixed height and width (only the batch varies).

- adaptive max pooling whose output size does not divide the input size (`adaptive_maxpool`, size 5
  on a 13 x 13 map): torch's exporter has no ONNX form of it and failed.
- max and average pooling with `ceil_mode: true`: PyTorch drops a last window that would start in the
  right padding, ONNX keeps it (5 wide, kernel 2, stride 2, padding 1: PyTorch 3 outputs, ONNX 4), so
  the exported model failed onnx.checker. They are written as explicit padding and ceil_mode off.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from archspec.shapes import window_out

aten = torch.ops.aten


def adaptive_max_pool2d(x: torch.Tensor, output_size: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """aten.adaptive_max_pool2d in operators ONNX has, for the input's fixed height and width: a
    rectangle's maximum is the maximum over its columns of the maxima over its rows. The indices (flat,
    row x width + column, as torch's) come along because the operator returns them."""
    (height, width), (rows_out, columns_out) = x.shape[-2:], output_size
    if height % rows_out == 0 and width % columns_out == 0:  # even windows: plain max pooling has an ONNX form
        return aten.max_pool2d_with_indices(x, [height // rows_out, width // columns_out])
    rows, row_at = _window_maxima(x, -2, height, rows_out)
    values, column_at = _window_maxima(rows, -1, width, columns_out)
    return values, torch.gather(row_at, -1, column_at) * width + column_at


def _window_maxima(x: torch.Tensor, dim: int, size: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The maximum and its position along `dim` over each of adaptive pooling's `count` windows:
    window i covers floor(i * size / count) up to ceil((i + 1) * size / count)."""
    starts = [i * size // count for i in range(count)]
    ends = [-(-(i + 1) * size // count) for i in range(count)]
    maxima = [x.narrow(dim, start, end - start).max(dim=dim, keepdim=True) for start, end in zip(starts, ends)]
    return (torch.cat([m.values for m in maxima], dim=dim),
            torch.cat([m.indices + start for m, start in zip(maxima, starts)], dim=dim))


def max_pool2d(x: torch.Tensor, kernel_size: Sequence[int], stride: Sequence[int] = (),
               padding: Sequence[int] = (0,), dilation: Sequence[int] = (1,), ceil_mode: bool = False):
    """With ceil_mode: the same windows over the input padded with -inf to the last window PyTorch keeps."""
    if not ceil_mode:
        return NotImplemented  # ONNX's MaxPool computes it as PyTorch does
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(kernel_size), _pair(stride or kernel_size), _pair(padding),
                                              _pair(dilation))
    eh, ew = _extra(x.shape[-2], kh, sh, ph, dh), _extra(x.shape[-1], kw, sw, pw, dw)
    padded = F.pad(x, (pw, pw + ew, ph, ph + eh), value=float("-inf"))
    return aten.max_pool2d(padded, [kh, kw], [sh, sw], [0, 0], [dh, dw], False)


def avg_pool2d(x: torch.Tensor, kernel_size: Sequence[int], stride: Sequence[int] = (),
               padding: Sequence[int] = (0,), ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None):
    """With ceil_mode: each window's sum over the zero-padded input divided by the count PyTorch
    divides by, the same window's sum over a mask of ones: the input (with its padding where
    count_include_pad), not the extra padding that reaches the last window."""
    if not ceil_mode or divisor_override is not None:
        return NotImplemented
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel_size), _pair(stride or kernel_size), _pair(padding)
    height, width = x.shape[-2], x.shape[-1]
    eh, ew = _extra(height, kh, sh, ph), _extra(width, kw, sw, pw)
    pads = (pw, pw + ew, ph, ph + eh)
    counted = torch.ones(1, 1, height, width, dtype=x.dtype, device=x.device)
    if count_include_pad:
        counted = F.pad(F.pad(counted, (pw, pw, ph, ph), value=1.0), (0, ew, 0, eh))
    else:
        counted = F.pad(counted, pads)
    window = ([kh, kw], [sh, sw], [0, 0], False, True)
    return aten.avg_pool2d(F.pad(x, pads), *window) / aten.avg_pool2d(counted, *window)


def _pair(values: Sequence[int]) -> tuple[int, int]:
    first, *rest = values
    return first, rest[0] if rest else first


def _extra(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """The padding past the right one that ceil_mode's last window reaches, as PyTorch counts windows."""
    span = dilation * (kernel - 1) + 1
    count = window_out(size, kernel, stride, padding, dilation, ceil_mode=True)  # PyTorch's count of windows
    return max(0, (count - 1) * stride + span - (size + 2 * padding))


DECOMPOSITIONS = {aten.adaptive_max_pool2d.default: adaptive_max_pool2d, aten.max_pool2d.default: max_pool2d,
                  aten.avg_pool2d.default: avg_pool2d}
