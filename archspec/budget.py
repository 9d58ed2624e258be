"""Resource budget: refuse, before anything is allocated, a spec too big to build or to run.

    memory = 4 bytes x (parameters + the most activation values alive at once) + buffers

The last term is what the built modules hold beside their parameters, at its real size
(`LayerBase.buffer_bytes`): BatchNorm's running statistics, running_mean and running_var (float32,
one a channel) and num_batches_tracked (one int64). tests/test_memory_bound.py holds parameters plus
buffers equal to the built module's, in bytes, for every layer and block kind and the shipped specs.

The activation term follows the forward pass of one image (batch 1, eval mode, no_grad, PyTorch's CPU
kernels) as the built modules run it, and is an upper bound of what they allocate:
- a layer holds its input, its output and its kernel's temporaries (`LayerBase.working_values`:
  im2col or oneDNN's blocked copies for a convolution, the padded squares of local response
  normalisation, a max-pool's indices, ...);
- a block runs its graph node by node (archspec.modules.GraphBlock, or an nn.Sequential for a
  chain), and a value stays alive from the node that makes it to the last node that reads it; the
  block's input stays alive throughout (its caller still holds it). So a sequence's input is alive
  while its later children run, a residual block's through its main path, shortcut, addition and
  final ReLU (the shortcut's output until the addition), an inception block's through its branches,
  with every finished branch's output kept for the concatenation; a join (addition,
  concatenation, ...) holds its inputs and its output;
- the network's input is the first layer's input and stays alive to the end.
tests/test_memory_bound.py measures, for every layer and block kind, the allocator's real peak of
such a forward and holds it at most this estimate. Not covered: training (gradients, optimizer
state, every activation kept for the backward pass), batches (activations scale with the batch),
GPUs (cuDNN picks its own workspace), oneDNN's scratch past `layer_rules.ONEDNN_THREADS` threads. A
convolution counts the larger of its two CPU paths' temporaries, so large 3x3 convolutions, which
oneDNN runs without unfolding the input, are over-estimated (VGG-16 at 224x224: 135 MiB estimated,
38 MiB measured). The budget guards against specs that cannot even be built or run, such as a typo
that asks for a 65536-channel convolution on a 4096x4096 input, not against tight training runs.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from archspec.errors import SpecPath
from archspec.graph import INPUT, OPS, Evaluator, Resolved, walk
from archspec.layers import LayerBase
from archspec.shapes import Shape

if TYPE_CHECKING:  # archspec.spec imports the blocks, whose static twins use the rules below
    from archspec.spec import Spec

BYTES_PER_VALUE = 4  # float32
DEFAULT_MAX_MEMORY = 4 * 1024**3  # 4 GiB: any real network at batch 1 fits; a typo'd giant does not
MAX_BLOCKS = 10_000  # ResNet-1202, the deepest published ResNet, has 600 blocks
# Nodes of blocks defined in YAML, nested ones expanded: DenseNet-264 has about 1,000; a definition
# that nests 4 copies of a block 16 levels deep would ask for 4^16.
MAX_DEFINED_NODES = 100_000


class Moment(NamedTuple):
    """Activation values alive at once, and the node running then (None in the blocks' twins)."""

    values: int
    during: Resolved | None = None


def layer_moment(layer: LayerBase, x: Shape, out: Shape, during: Resolved | None = None) -> Moment:
    return Moment(math.prod(x) + math.prod(out) + layer.working_values(x, out), during)


def sequence_peak(x: int, children: Iterable[Moment]) -> Moment:
    """Children run one after another on `x` values; the caller holds them while the later
    children run (the first child's input is `x` itself)."""
    # Plain ints in the loop, one Moment at the end: the static check runs this ~20 times per network.
    iterator = iter(children)
    first = next(iterator, None)
    if first is None:
        return Moment(x)
    most, during = first
    for values, child_during in iterator:
        if values + x > most:  # strict: the first of equals
            most, during = values + x, child_during
    return Moment(most, during)


def residual_peak(x: int, main: Iterable[Moment], main_out: int, shortcut: Moment | None,
                  shortcut_out: int, add: bool, post: Iterable[Moment],
                  during: Resolved | None = None) -> Moment:
    """A residual block's graph (`graph_peak` of it, for the blocks' twins): the main path on the
    input; then the shortcut beside the main path's output; the addition (its sum counted apart,
    though it may be written in place); then the post layers, with the input still held."""
    most, most_during = sequence_peak(x, main)
    identity = 0
    if shortcut is not None:  # every comparison strict: the first of equals, as max() keeps
        if main_out + shortcut.values > most:
            most, most_during = main_out + shortcut.values, shortcut.during
        identity = shortcut_out
    if add and x + main_out + identity + main_out > most:
        most, most_during = x + main_out + identity + main_out, during
    for values, post_during in post:
        if x + values > most:
            most, most_during = x + values, post_during
    return Moment(most, most_during)


def concat_peak(x: int, branches: Iterable[tuple[Moment, int]], out: int,
                during: Resolved | None = None) -> Moment:
    """An inception block's graph (for the twins): each branch (its peak, its output values) runs on
    the input while the outputs of the branches before it wait; then torch.cat copies them all."""
    moments, finished = [], 0
    for branch, branch_out in branches:
        moments.append(Moment(finished + branch.values, branch.during))
        finished += branch_out
    moments.append(Moment(x + finished + out, during))
    return max(moments, key=lambda moment: moment.values)


def node_peak(resolved: Resolved) -> Moment:
    """The most activation values alive at once while an evaluated node runs, its input included."""
    node = resolved.node
    if node.op == "layer":
        return layer_moment(node.payload, resolved.in_shape, resolved.out_shape, resolved)
    return graph_peak(resolved)


# Joins of an evaluated graph evaluate again, for their output shapes, on this one scratch evaluator.
_SCRATCH = Evaluator()


def graph_peak(resolved: Resolved) -> Moment:
    """A block as its module runs it: node by node, each value alive from the node that makes it to
    the last node that reads it (the block's output: to the end), the block's input throughout."""
    # Plain ints in the loop, one Moment at the end: the first check of a network runs this once per
    # block it evaluates, nested blocks included.
    graph = resolved.node.payload
    nodes = graph.nodes
    x = math.prod(resolved.in_shape)
    children = {child.node.name: child for child in resolved.children}
    last_read = {}
    for index, node in enumerate(nodes):
        for name in node.inputs:
            last_read[name] = index
    last_read[graph.output] = len(nodes)
    shapes = {INPUT: resolved.in_shape}
    sizes = {INPUT: x}
    live: dict[str, int] = {}  # values made by earlier nodes and still to be read: their sizes
    alive = 0  # their sum
    most, during = -1, None
    for index, node in enumerate(nodes):
        inputs = node.inputs
        if len(inputs) == 1:  # most nodes: no set to make
            only = inputs[0]
            others = alive - live.get(only, 0) + (0 if only == INPUT else x)
        else:
            others = alive - sum(live[name] for name in set(inputs) if name in live) + (0 if INPUT in inputs else x)
        child = children.get(node.name)
        if child is None:  # a join: its inputs and its output
            joined = OPS[node.op].evaluate(_SCRATCH, node, [shapes[name] for name in inputs], "")
            _SCRATCH.problems.clear()  # an addition of unequal shapes still has one (reported by the check)
            out = joined.out_shape if joined is not None else shapes[inputs[0]]
            own, own_during = sum(sizes[name] for name in set(inputs)) + math.prod(out), resolved
        else:
            out = child.out_shape
            own, own_during = node_peak(child)
        if others + own > most:  # strict: the first of equals
            most, during = others + own, own_during
        shapes[node.name] = out
        size = sizes[node.name] = math.prod(out)
        for name in inputs:  # values this node reads for the last time
            if name in live and last_read[name] == index:
                alive -= live.pop(name)
        if last_read.get(node.name, -1) > index:
            live[node.name] = size
            alive += size
    return Moment(most, during) if nodes else Moment(x)


def buffer_bytes(resolved: Resolved) -> int:
    """Bytes of the buffers (BatchNorm's running statistics) of an evaluated node's layers."""
    return sum(node.node.payload.buffer_bytes(node.in_shape)
               for _, node in walk(resolved) if node.node.op == "layer")


@dataclass(frozen=True)
class MemoryEstimate:
    parameter_bytes: int
    activation_bytes: int  # the most activations alive at once
    largest: Resolved | None  # the node running then (a layer, or a block adding or concatenating)
    heaviest: Resolved | None = None  # the layer with the most parameters
    buffer_bytes: int = 0  # the modules' buffers: BatchNorm's running statistics

    @property
    def total(self) -> int:
        return self.parameter_bytes + self.buffer_bytes + self.activation_bytes

    def describe(self) -> str:
        text = f"about {format_bytes(self.total)}: {format_bytes(self.parameter_bytes)} of parameters"
        if self.heaviest is not None and self.heaviest.params:
            text += f" (the most, {self.heaviest.params:,}, in {self.heaviest.qualname})"
        if self.buffer_bytes:
            text += f" + {format_bytes(self.buffer_bytes)} of buffers (running statistics)"
        if self.largest is not None:
            text += (f" + {format_bytes(self.activation_bytes)} of activations at once (the most, "
                     f"while {self.largest.qualname} runs)")
        return text + " (float32, one image)"


def estimate_memory(resolved: Sequence[Resolved], x: Shape, layers: Iterable[Resolved] | None = None
                    ) -> MemoryEstimate:
    """The estimate for a checked network: `resolved` its top-level nodes (in order, on the
    network's input `x`), `layers` its layers (by default found by walking `resolved`)."""
    params = sum(r.params for r in resolved)
    if not resolved:  # no layer: no buffers either, and the input alone is alive (as the twins count it)
        return MemoryEstimate(params * BYTES_PER_VALUE, math.prod(x) * BYTES_PER_VALUE, None)
    if layers is None:
        layers = (node for top in resolved for _, node in walk(top) if node.node.op == "layer")
    heaviest, most_params = None, -1
    for layer in layers:
        if layer.params > most_params:  # strict: the first of equals, as max() would pick
            heaviest, most_params = layer, layer.params
    # From the tree, not `layers`: the evaluator lists each alike copy's layers once (archspec.check
    # reuses the figures of copies that lower alike), but each copy builds its own modules.
    buffers = sum(map(buffer_bytes, resolved))
    peak = sequence_peak(math.prod(resolved[0].in_shape), map(node_peak, resolved))
    return MemoryEstimate(params * BYTES_PER_VALUE, peak.values * BYTES_PER_VALUE, peak.during, heaviest,
                          buffers)


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
    """Refuses absurd depth before lowering, so that the check itself stays fast: too many blocks, or
    blocks defined in YAML that expand (nested blocks multiply) to too many nodes."""
    from archspec.spec import ListStage  # here: archspec.spec imports the blocks, which import this

    block_counts: list[tuple[SpecPath, int]] = []
    expanded: list[tuple[SpecPath, int]] = []  # (where, nodes) of each entry of a kind defined in YAML
    for i, stage in enumerate(spec.stages):
        entries = ([(("stages", i, "blocks", j), entry) for j, entry in enumerate(stage.blocks)]
                   if isinstance(stage, ListStage) else ((("stages", i), stage),))
        count = 0
        for where, entry in entries:
            copies = 1 if isinstance(entry, LayerBase) else entry.copies()
            count += copies
            if _expands(type(entry)):
                expanded.append((where, copies * entry.nodes_per_copy()))
        block_counts.append((("stages", i), count))
    nodes = sum(count for _, count in expanded)
    if nodes > MAX_DEFINED_NODES:
        where, _ = max(expanded, key=lambda item: item[1])
        return (where, (f"expected at most {MAX_DEFINED_NODES:,} nodes in the blocks defined in YAML, found that "
                f"the stages expand to {nodes:,} (blocks nested in blocks multiply)"),
                "nest fewer blocks inside blocks, or lower `repeats`")
    total = sum(count for _, count in block_counts)
    if total <= MAX_BLOCKS:
        return None
    where, _ = max(block_counts, key=lambda item: item[1])  # the stage that contributes most
    return (where, f"expected at most {MAX_BLOCKS:,} blocks in a network, found {total:,}",
            "lower `repeats`, or split the network into several specs")


@functools.cache
def _expands(kind: type) -> bool:
    """Whether a kind's blocks expand to nested nodes (a kind defined in YAML). Asked of the class,
    once: `hasattr` on a model asks Pydantic's slow `__getattr__` each time it is not there."""
    return hasattr(kind, "nodes_per_copy")


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
