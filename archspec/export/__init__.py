"""Export a checked spec out of archspec: standalone PyTorch source, ONNX, a torch.export program,
and a diagram (SVG or Graphviz DOT).

Each format is one small module. This package itself does not import torch, so that `archspec export
--format svg` works without it; the torch-needing formats import it when they run.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass

from archspec.graph import Node


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str  # the default file suffix; also how `-o PATH` names the format when --format is left out
    needs_module: bool  # False: written from the static report alone, without torch
    help: str


FORMATS = {f.name: f for f in (
    Format("python", ".py", True, "readable standalone PyTorch source (imports only torch)"),
    Format("onnx", ".onnx", True, "ONNX model with a dynamic batch dimension"),
    Format("exported", ".pt2", True, "torch.export program (torch.export.save)"),
    Format("svg", ".svg", False, "diagram: stem, stages, blocks with their shortcuts, shapes"),
    Format("dot", ".dot", False, "the same diagram as Graphviz DOT text"),
)}


class ExportError(Exception):
    """An export that cannot be done (the CLI reports it as a usage error, exit code 2)."""


def camel_case(name: str) -> str:
    """A class name from a spec name: 'resnet50' -> 'Resnet50', 'wide_resnet50_2' -> 'WideResnet50_2'.

    Separators are dropped, except between two digits, where dropping them would merge two numbers.
    """
    parts = [part for part in name.replace("-", "_").replace(".", "_").split("_") if part]
    text = ""
    for part in parts:
        joiner = "_" if text and text[-1].isdigit() and part[0].isdigit() else ""
        text += joiner + part[0].upper() + part[1:]
    if not text or not text[0].isalpha():
        text = "Net" + text
    return text + "Net" if keyword.iskeyword(text) else text  # a spec named `none` -> NoneNet


def shortcut_kind(node: Node) -> str | None:
    """identity, projection, zero-pad or none: how a residual block's input reaches its addition
    (None for a block without a shortcut notion, or a layer)."""
    return node.payload.shortcut if node.op == "block" else None
