"""`--format onnx`: torch's ONNX exporter (the torch.export-based one, `dynamo=True`), with a dynamic
batch dimension, checked with onnx.checker before the file takes its place.

The model is exported in eval mode (BatchNorm uses its running statistics, dropout is off): an ONNX
file is for inference. Its input is named "input" and its output "output"; only the batch size may
vary, since the spec fixes channels and, for most specs, what the layers accept (see `check`).

torch's exporter has no ONNX form of adaptive max pooling whose output size does not divide its input
size (`adaptive_maxpool`, size 5 on a 13 x 13 map): it fails on such a spec that `check` accepts. The
program is traced first and that operator written out as row and column maxima before ONNX sees it.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import torch
from torch import nn

from archspec.export import ExportError
from archspec.export.output import staged
from archspec.shapes import Shape

INPUT_NAME, OUTPUT_NAME = "input", "output"


def export_onnx(network: nn.Module, input_shape: Shape, path: Path) -> str:
    """Writes the ONNX model to `path`; returns a one-line description of what was written."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (the exporter needs it; say so here rather than deep inside)
    except ImportError as error:
        raise ExportError(f"--format onnx needs the `{error.name}` package: "
                          "pip install 'archspec[export]'") from error
    network.eval()
    example = torch.randn(2, *input_shape)  # 2, not 1: a size-1 dimension would be fixed at 1
    batch = torch.export.Dim("batch")
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            traced = torch.export.export(network, (example,), dynamic_shapes=({0: batch},))
            traced = traced.run_decompositions({torch.ops.aten.adaptive_max_pool2d.default: _adaptive_max_pool2d})
            program = torch.onnx.export(traced, (example,), dynamo=True, input_names=[INPUT_NAME],
                                        output_names=[OUTPUT_NAME], optimize=True, verbose=False)
    except Exception as error:  # the exporter raises many kinds; all mean the same to the user
        raise ExportError(f"torch.onnx.export failed: {error}\n{log.getvalue()[-2000:]}") from error
    if program is None:
        raise ExportError("torch.onnx.export returned no program")
    with staged(path) as temporary:
        program.save(str(temporary), external_data=False)
        try:
            onnx.checker.check_model(str(temporary), full_check=True)
        except onnx.checker.ValidationError as error:
            raise ExportError(f"internal error: the exported ONNX model fails onnx.checker: {error}") from error
        opset = next((o.version for o in onnx.load(str(temporary), load_external_data=False).opset_import
                      if o.domain in ("", "ai.onnx")), None)
    return f"ONNX opset {opset}, input {INPUT_NAME!r} N x {' x '.join(map(str, input_shape))} (N dynamic)"


def _adaptive_max_pool2d(x: torch.Tensor, output_size: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """aten.adaptive_max_pool2d in operators ONNX has, for the input's fixed height and width: a
    rectangle's maximum is the maximum over its columns of the maxima over its rows. The indices (flat,
    row x width + column, as torch's) come along because the operator returns them."""
    (height, width), (rows_out, columns_out) = x.shape[-2:], output_size
    if height % rows_out == 0 and width % columns_out == 0:  # even windows: plain max pooling has an ONNX form
        return torch.ops.aten.max_pool2d_with_indices(x, [height // rows_out, width // columns_out])
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
