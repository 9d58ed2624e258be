"""`--format exported`: a torch.export program (an ExportedProgram saved with torch.export.save),
with a dynamic batch dimension. Load it with torch.export.load(path).module() and call it; no
archspec and no Python class of the network are needed.

The program is traced in eval mode (BatchNorm uses its running statistics, dropout is off).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from archspec.export import ExportError
from archspec.export.output import staged
from archspec.shapes import Shape


def export_program(network: nn.Module, input_shape: Shape, path: Path) -> str:
    """Writes the program to `path`; returns a one-line description of what was written."""
    network.eval()
    example = torch.randn(2, *input_shape)  # 2, not 1: a size-1 dimension would be fixed at 1
    try:
        program = torch.export.export(network, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as error:  # torch.export raises many kinds; all mean the same to the user
        raise ExportError(f"torch.export.export failed: {error}") from error
    with staged(path) as temporary:
        torch.export.save(program, str(temporary))
    return f"torch.export program, input N x {' x '.join(map(str, input_shape))} (N dynamic)"
