"""`--format onnx`: torch's ONNX exporter (the torch.export-based one, `dynamo=True`), with a dynamic
batch dimension, checked with onnx.checker before the file takes its place.

The model is exported in eval mode (BatchNorm uses its running statistics, dropout is off): an ONNX
file is for inference. Its input is named "input" and its output "output"; only the batch size may
vary, since the spec fixes channels and, for most specs, what the layers accept (see `check`).

The program is traced first, and the pooling operators that ONNX has no faithful form of are written
out in ones it has (onnx_decompositions.py) before ONNX sees them.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import torch
from torch import nn

from archspec.export import ExportError
from archspec.export.onnx_decompositions import DECOMPOSITIONS
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
            traced = traced.run_decompositions(DECOMPOSITIONS)
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
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
            raise ExportError(f"internal error: the exported ONNX model fails onnx.checker: {error}") from error
        opset = next((o.version for o in onnx.load(str(temporary), load_external_data=False).opset_import
                      if o.domain in ("", "ai.onnx")), None)
    return f"ONNX opset {opset}, input {INPUT_NAME!r} N x {' x '.join(map(str, input_shape))} (N dynamic)"
