"""The network graph every block lowers to, and its static evaluation: archspec's one IR.

A block is a small graph of named nodes with explicit inputs (`BlockGraph`): each `Node` names an op
(`node.op`, a key of `OPS`) and the earlier nodes it reads (`INPUT` is the block's own input). The op
holds everything about the node kind: its static rule, its module, its runtime join, its Python text
(archspec/ops.py). Containers nest: the network's top-level nodes are stem layers, stages and head
layers; a stage is a block node whose graph chains its blocks; a block's graph chains or joins its
layers and nested blocks. The checker evaluates the graph with the ops' static rules (the table, every
error message); the builder turns the same graph into modules (archspec/build.py). Both read one
structure through one dispatch point, `OPS[node.op]`, so figures and modules cannot drift apart.
(The five built-in block kinds also have a static twin, `BlockStage.facts`, which the check runs
first and which tests/test_block_twins.py holds equal to this graph.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from archspec.errors import SpecPath
from archspec.shapes import Shape

INPUT = "input"  # the name by which a block's nodes read the block's input


class Node(NamedTuple):
    """One node: `op` names its kind in `OPS`; `inputs` are names of earlier nodes of its graph.

    `payload` is the op's settings: a layer (op `layer`), a `BlockGraph` (op `block`), a join's
    wording (op `add`), a channel range (op `slice`). Nodes are named tuples, not frozen
    dataclasses: the check makes every node of every block it lowers, and a tuple is as immutable and
    twice as fast to make. Rename one with `_replace`."""

    name: str
    op: str
    inputs: tuple[str, ...]
    payload: Any = None
    origin: SpecPath = ()  # where the node's settings are written in the spec
    written: bool = True  # False for layers a block made: their fields are not spec keys

    @property
    def kind(self) -> str:
        """The kind a table shows: the layer's kind, the block's kind, or the join's op."""
        return OPS[self.op].kind(self)


class BlockGraph(NamedTuple):
    """A block: its nodes in execution (and module registration) order, and the node it returns.

    `sequential`: the block is a chain of module nodes built as an `nn.Sequential` (a stage, a VGG
    block, torchvision's `downsample`); else it is built as a module whose forward runs the graph.
    `shortcut`: for a residual block, how its input reaches the addition (identity, projection,
    zero-pad or none); None for a block without that notion."""

    kind: str
    nodes: tuple[Node, ...]
    output: str
    sequential: bool = False
    shortcut: str | None = None


class Resolved(NamedTuple):
    """A module node with its static figures at one input shape; `children` are its module nodes, in
    module order (joins make no module: their figures are their inputs', they have no row).

    A named tuple, not a dataclass: the check makes one per node (ResNet-152: 523), and a tuple is
    immutable and about twice as fast to make as a frozen dataclass."""

    node: Node
    qualname: str
    in_shape: Shape
    out_shape: Shape
    params: int
    macs: int
    children: tuple[Resolved, ...] = ()

    @property
    def kind(self) -> str:
        return self.node.kind


@dataclass(frozen=True)
class Problem:
    origin: SpecPath
    message: str
    hint: str | None
    detail: str  # the message without the module name, to recognise the same fault in another copy


class Op:
    """One node kind. Subclasses in archspec/ops.py register an instance in `OPS` under `name`."""

    name: str = ""
    makes_module: bool = False  # a layer or a nested block: a module, a table row, a Resolved child
    arity: tuple[int, int | None] = (1, 1)  # the fewest and the most inputs
    python_chains: bool = True  # the Python export may carry its first input's running variable on

    def kind(self, node: Node) -> str:
        return self.name

    def evaluate(self, evaluator: Evaluator, node: Node, shapes: list[Shape], qualname: str
                 ) -> Resolved | None:
        """The node's figures for its inputs' shapes; None (after `evaluator.problem`) if it fails."""
        raise NotImplementedError

    @staticmethod
    def apply(torch: Any, values: list[Any], payload: Any, inplace: bool) -> Any:
        """A join's computation at run time (ops without a module); `torch` is handed in."""
        raise NotImplementedError

    def python(self, node: Node, arguments: list[str]) -> str:
        """A join as a Python expression of its inputs, for `export --format python`."""
        raise NotImplementedError

    def build(self, nn: Any, resolved: Resolved, built: list[tuple[str, Any]]) -> Any:
        """The module of a node that makes one (`nn` is archspec.modules); `built` its children's."""
        raise NotImplementedError


OPS: dict[str, Op] = {}


def register_op(op: type[Op]) -> type[Op]:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is already registered by {type(OPS[op.name]).__name__}")
    OPS[op.name] = op()
    return op


def chain(nodes: Iterable[Node], first: str = INPUT) -> tuple[Node, ...]:
    """`nodes` as a chain: each reads the one before it, the first reads `first`."""
    chained = []
    for node in nodes:
        chained.append(node._replace(inputs=(first,)))
        first = node.name
    return tuple(chained)


def layer_node(name: str, layer: Any, origin: SpecPath, *inputs: str, written: bool = False) -> Node:
    return Node(name, "layer", inputs, layer, origin, written)


def block_node(name: str, graph: BlockGraph, origin: SpecPath, *inputs: str) -> Node:
    return Node(name, "block", inputs, graph, origin)


def sequence(kind: str, name: str, nodes: Iterable[Node], origin: SpecPath, *inputs: str) -> Node:
    """A block node whose graph chains `nodes` (built as an nn.Sequential)."""
    chained = chain(nodes)
    return block_node(name, BlockGraph(kind, chained, chained[-1].name if chained else INPUT, True),
                      origin, *inputs)


def consumers(graph: BlockGraph) -> dict[str, int]:
    """How many times each value is read, the block's output counting as one read (by the caller)."""
    counts: dict[str, int] = {graph.output: 1}
    for node in graph.nodes:
        for name in node.inputs:
            counts[name] = counts.get(name, 0) + 1
    return counts


def graph_problems(graph: BlockGraph) -> list[str]:
    """Structural faults: a repeated name, an input that is not an earlier node, a wrong arity."""
    problems, seen = [], {INPUT}
    for node in graph.nodes:
        op = OPS.get(node.op)
        if op is None:
            problems.append(f"node `{node.name}` has the unknown op `{node.op}`; known: {', '.join(OPS)}")
        elif not op.arity[0] <= len(node.inputs) <= (op.arity[1] or len(node.inputs)):
            problems.append(f"node `{node.name}` ({node.op}) has {len(node.inputs)} inputs")
        for name in node.inputs:
            if name not in seen:
                problems.append(f"node `{node.name}` reads `{name}`, which is not an earlier node or `{INPUT}`")
        if node.name in seen:
            problems.append(f"node name `{node.name}` is used twice")
        seen.add(node.name)
    if graph.output not in seen:
        problems.append(f"the output `{graph.output}` is not a node")
    return problems


# Kinds whose backward does not read their own output: a ReLU straight after one may overwrite it in
# place (torchvision's conv-bn-relu). After an activation, autograd still needs that activation's
# output. An addition may add into its first input only where that came from a layer whose module
# does not keep its output for the backward (torchvision's `out += identity`).
SAFE_BEFORE_INPLACE = frozenset({"conv", "batchnorm", "linear", "maxpool", "avgpool", "adaptive_avgpool",
                                 "global_avgpool", "add", "mul", "concat"})
SAFE_TO_ADD_INTO = frozenset({"conv", "batchnorm", "linear"})


def may_overwrite(graph: BlockGraph, safe_kinds: frozenset[str]) -> set[str]:
    """The nodes that may overwrite their first input: nothing else reads it (not a sibling branch,
    not a shortcut, not the caller: never the block's own input) and its producer is of a kind in
    `safe_kinds`."""
    reads = consumers(graph)
    kinds = {node.name: node.kind for node in graph.nodes}
    return {node.name for node in graph.nodes
            if node.inputs and node.inputs[0] != INPUT and reads[node.inputs[0]] == 1
            and kinds.get(node.inputs[0]) in safe_kinds}


class Evaluator:
    """Evaluates nodes statically, collecting every problem instead of stopping at the first.

    This is the hot loop of `archspec check` (about 1 us per node): dispatch is one dict lookup on
    the node's op, and sums are plain loops."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.layers: list[Resolved] = []  # every evaluated layer, in order: the memory budget reads them

    def problem(self, origin: SpecPath, where: str, message: str, hint: str | None) -> None:
        # Repeated blocks share their spec origin: report a fault once, at the first copy that shows it.
        if all((p.origin, p.detail) != (origin, message) for p in self.problems):
            self.problems.append(Problem(origin, f"{where}: {message}", hint, message))

    def run(self, node: Node, x: Shape, prefix: str = "") -> Resolved | None:
        """One node of a chain (the network's top level), on input shape `x`."""
        return OPS[node.op].evaluate(self, node, [x], f"{prefix}.{node.name}" if prefix else node.name)

    def run_all(self, nodes: tuple[Node, ...], x: Shape, prefix: str) -> list[Resolved] | None:
        """Evaluates a chain of nodes; None once a node's output shape is unknown."""
        resolved = []
        for node in nodes:
            result = OPS[node.op].evaluate(self, node, [x], f"{prefix}.{node.name}" if prefix else node.name)
            if result is None:
                return None
            resolved.append(result)
            x = result.out_shape
        return resolved

    def run_graph(self, block: Node, x: Shape, qualname: str) -> Resolved | None:
        """A block node: every node of its graph in order. A node whose input failed is skipped, but
        independent nodes still run, so that every problem of the block is found at once."""
        graph: BlockGraph = block.payload
        shapes: dict[str, Shape | None] = {INPUT: x}
        children: list[Resolved] = []
        params = macs = 0
        failed = False
        for node in graph.nodes:
            op = OPS[node.op]
            names = node.inputs
            inputs = [shapes[names[0]]] if len(names) == 1 else [shapes[name] for name in names]
            result = None
            if None not in inputs:
                result = op.evaluate(self, node, inputs, f"{qualname}.{node.name}")  # type: ignore[arg-type]
            if result is None:
                shapes[node.name], failed = None, True
                continue
            shapes[node.name] = result.out_shape
            if op.makes_module:
                children.append(result)
                params += result.params
                macs += result.macs
        out = shapes[graph.output]
        if out is None or failed:
            return None
        return Resolved(block, qualname, x, out, params, macs, tuple(children))


def walk(resolved: Resolved, max_depth: int | None = None, depth: int = 0):
    """Pre-order traversal with depth: (depth, resolved)."""
    yield depth, resolved
    if max_depth is None or depth < max_depth:
        for child in resolved.children:
            yield from walk(child, max_depth, depth + 1)


import archspec.ops  # noqa: E402, F401  (registers the ops; it imports this module's types)
