"""Resource budget: refuse, before anything is allocated, a spec too big to build or to run.

The estimate is static and deliberately simple, so a user can redo it by hand:

    memory = 4 bytes x (parameters + the input and output of the layer whose input + output is largest)

that is float32 weights plus the two largest activations alive at once during a forward pass of one
image (batch 1, inference). Training needs more (gradients, optimizer state, every activation kept
for the backward pass): the budget guards against specs that cannot even be built or run, such as a
typo that asks for a 65536-channel convolution on a 4096x4096 input, not against tight training runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from archspec.errors import SpecPath
from archspec.graph import Resolved, walk
from archspec.layers import LayerBase
from archspec.shapes import Shape
from archspec.spec import ListStage, Spec

BYTES_PER_VALUE = 4  # float32
DEFAULT_MAX_MEMORY = 4 * 1024**3  # 4 GiB: any real network at batch 1 fits; a typo'd giant does not
MAX_BLOCKS = 10_000  # ResNet-1202, the deepest published ResNet, has 600 blocks


@dataclass(frozen=True)
class MemoryEstimate:
    parameter_bytes: int
    activation_bytes: int  # input + output of `largest`
    largest: Resolved | None  # the layer with the largest input + output
    heaviest: Resolved | None = None  # the layer with the most parameters

    @property
    def total(self) -> int:
        return self.parameter_bytes + self.activation_bytes

    def describe(self) -> str:
        text = f"about {format_bytes(self.total)}: {format_bytes(self.parameter_bytes)} of parameters"
        if self.heaviest is not None and self.heaviest.params:
            text += f" (the most, {self.heaviest.params:,}, in {self.heaviest.qualname})"
        if self.largest is not None:
            text += (f" + {format_bytes(self.activation_bytes)} for the input and output of "
                     f"{self.largest.qualname}")
        return text + " (float32, one image)"


def estimate_memory(resolved: Sequence[Resolved], layers: Iterable[Resolved] | None = None) -> MemoryEstimate:
    """The estimate for a checked network: `resolved` its top-level nodes, `layers` its layers in
    order (by default found by walking `resolved`; the checker hands in the ones it evaluated)."""
    params = sum(r.params for r in resolved)
    if layers is None:
        layers = (node for top in resolved for _, node in walk(top) if node.node.op == "layer")
    sizes: dict[Shape, int] = {}  # a network has few distinct shapes: one product per shape

    def size(shape: Shape) -> int:
        if shape not in sizes:
            sizes[shape] = math.prod(shape)
        return sizes[shape]

    largest = heaviest = None
    most_values = most_params = -1
    for layer in layers:
        values = size(layer.in_shape) + size(layer.out_shape)
        if values > most_values:  # strict: the first of equals, as max() would pick
            largest, most_values = layer, values
        if layer.params > most_params:
            heaviest, most_params = layer, layer.params
    if largest is None:
        return MemoryEstimate(params * BYTES_PER_VALUE, 0, None)
    return MemoryEstimate(params * BYTES_PER_VALUE, most_values * BYTES_PER_VALUE, largest, heaviest)


def memory_problem(estimate: MemoryEstimate, budget: int | None
                   ) -> tuple[SpecPath, str, str | None] | None:
    """The budget error, placed where the memory goes: at the layer with the largest activations,
    or at the one with the most parameters when parameters dominate."""
    if budget is None or estimate.total <= budget:
        return None
    culprit = (estimate.largest if estimate.activation_bytes >= estimate.parameter_bytes
               else estimate.heaviest)
    origin: SpecPath = culprit.node.origin if culprit is not None else ("input",)
    return (origin,
            (f"expected at most {format_bytes(budget)} of memory (the budget), found that the network "
             f"needs {estimate.describe()}"),
            ("use a smaller input, fewer or narrower layers, or raise the budget with "
             "`--max-memory` (Python: `max_memory=`)"))


def block_count_problem(spec: Spec) -> tuple[SpecPath, str, str] | None:
    """Refuses absurd depth before lowering, so that the check itself stays fast."""
    block_counts: list[tuple[SpecPath, int]] = []
    for i, stage in enumerate(spec.stages):
        entries = stage.blocks if isinstance(stage, ListStage) else (stage,)
        block_counts.append((("stages", i), sum(1 if isinstance(entry, LayerBase) else entry.copies()
                                                for entry in entries)))
    total = sum(count for _, count in block_counts)
    if total <= MAX_BLOCKS:
        return None
    where, _ = max(block_counts, key=lambda item: item[1])  # the stage that contributes most
    return (where, f"expected at most {MAX_BLOCKS:,} blocks in a network, found {total:,}",
            "lower `repeats`, or split the network into several specs")


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2, "gib": 1024**3,
          "tib": 1024**4}


def parse_bytes(text: str) -> int:
    """'4GiB' -> 4294967296, '512MB' -> 512000000, '1e9' -> 1000000000; ValueError if unreadable."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError(f"expected a size such as 4GiB, 512MiB or 2GB; found {text!r}")
    value = float(match.group(1)) * _UNITS[unit]
    if not 0 < value < 2**63:
        raise ValueError(f"expected a positive size below 8 EiB; found {text!r}")
    return int(value)


def format_bytes(count: int) -> str:
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"
