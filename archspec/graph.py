"""The network graph that blocks lower to, and its static evaluation.

A block does not make modules itself: it lowers to a small tree of primitive layers joined by three
composites (a sequence, a residual addition, a channel concatenation). The checker evaluates that
tree with the layers' static rules, node by node (the table, every error message); the builder turns
the same tree into modules. Both read one structure, so a block's per-node figures and its module
cannot drift apart. (A block's totals also have a static twin, `BlockStage.facts`, which the check
runs first and which tests/test_block_twins.py holds equal to this graph.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from archspec.errors import SpecPath
from archspec.layers import LayerBase
from archspec.shapes import Shape, ShapeProblem, show


class LayerNode(NamedTuple):
    """One primitive layer.

    Nodes are named tuples, not frozen dataclasses: the check makes every node of every block it
    lowers, and a tuple is as immutable and twice as fast to make. Rename one with `_replace`."""

    name: str
    layer: LayerBase
    origin: SpecPath  # where the layer's settings are written in the spec
    written: bool = True  # False for layers a block made: their fields are not spec keys

    @property
    def kind(self) -> str:
        return self.layer.layer  # type: ignore[attr-defined]


class SequenceNode(NamedTuple):
    name: str
    children: tuple[Node, ...]
    origin: SpecPath
    kind: str = "sequence"


class ResidualNode(NamedTuple):
    """main(x) + shortcut(x), then `post`. `shortcut` None is the identity; `add` False is a plain block."""

    name: str
    main: tuple[Node, ...]
    shortcut: Node | None
    post: tuple[Node, ...]
    origin: SpecPath
    kind: str
    add: bool = True
    mismatch_hint: str | None = None


class ConcatNode(NamedTuple):
    """Branches applied to the same input, concatenated on channels (an Inception block)."""

    name: str
    branches: tuple[SequenceNode, ...]
    origin: SpecPath
    kind: str = "concat"


Node = LayerNode | SequenceNode | ResidualNode | ConcatNode


class Resolved(NamedTuple):
    """A node with its static figures at one input shape; `children` in module order.

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


class Evaluator:
    """Evaluates nodes statically, collecting every problem instead of stopping at the first.

    This is the hot loop of `archspec check` (about 1 us per node): dispatch is one dict lookup on the
    node's type, and sums are plain loops."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.layers: list[Resolved] = []  # every evaluated layer, in order: the memory budget reads them

    def problem(self, origin: SpecPath, where: str, message: str, hint: str | None) -> None:
        # Repeated blocks share their spec origin: report a fault once, at the first copy that shows it.
        if all((p.origin, p.detail) != (origin, message) for p in self.problems):
            self.problems.append(Problem(origin, f"{where}: {message}", hint, message))

    def run(self, node: Node, x: Shape, prefix: str = "") -> Resolved | None:
        qualname = f"{prefix}.{node.name}" if prefix else node.name
        return _EVALUATE[type(node)](self, node, x, qualname)

    def run_all(self, nodes: tuple[Node, ...], x: Shape, prefix: str) -> list[Resolved] | None:
        """Evaluates nodes in sequence; None once a node's output shape is unknown."""
        resolved = []
        for node in nodes:
            result = _EVALUATE[type(node)](self, node, x, f"{prefix}.{node.name}" if prefix else node.name)
            if result is None:
                return None
            resolved.append(result)
            x = result.out_shape
        return resolved

    def _layer(self, node: LayerNode, x: Shape, qualname: str) -> Resolved | None:
        try:
            out, params, macs = node.layer.infer(x)
        except ShapeProblem as problem:
            origin = node.origin + ((problem.field,) if problem.field and node.written else ())
            self.problem(origin, f"{qualname} (input {show(x)})", problem.message, problem.hint)
            return None
        result = Resolved(node, qualname, x, out, params, macs)
        self.layers.append(result)
        return result

    def _sequence(self, node: SequenceNode, x: Shape, qualname: str) -> Resolved | None:
        children = self.run_all(node.children, x, qualname)
        return None if children is None else _combine(node, qualname, x, children)

    def _residual(self, node: ResidualNode, x: Shape, qualname: str) -> Resolved | None:
        main = self.run_all(node.main, x, qualname)
        shortcut = None
        if node.shortcut is not None:
            shortcut = self.run(node.shortcut, x, qualname)
            if shortcut is None:
                return None
        if main is None:
            return None
        main_out = main[-1].out_shape if main else x
        if node.add:
            identity_out = shortcut.out_shape if shortcut else x
            if identity_out != main_out:
                self.problem(
                    node.origin, qualname,
                    f"the residual addition needs equal shapes, but the main path gives "
                    f"{show(main_out)} and the shortcut gives {show(identity_out)}",
                    node.mismatch_hint)
                # Go on with the main path's shape so that later, independent errors are found too.
        post = self.run_all(node.post, main_out, qualname)
        if post is None:
            return None
        if shortcut is not None:
            main.append(shortcut)
        main += post
        return _combine(node, qualname, x, main, out=post[-1].out_shape if post else main_out)

    def _concat(self, node: ConcatNode, x: Shape, qualname: str) -> Resolved | None:
        branches = [self.run(branch, x, qualname) for branch in node.branches]
        if any(branch is None for branch in branches):
            return None
        outs = [(branch.node.name, branch.out_shape) for branch in branches if branch]
        if any(len(shape) != 3 for _, shape in outs) or len({shape[1:] for _, shape in outs}) != 1:
            listing = ", ".join(f"{name} {show(shape)}" for name, shape in outs)
            self.problem(node.origin, qualname,
                         f"branches concatenated on channels must share their spatial size; "
                         f"found {listing}",
                         "give every branch the same stride and an odd kernel with 'same' padding "
                         "(padding = kernel // 2; an even kernel so padded grows the map by one)")
            return None
        out = (sum(shape[0] for _, shape in outs), *outs[0][1][1:])
        return _combine(node, qualname, x, [b for b in branches if b], out=out)


_EVALUATE = {LayerNode: Evaluator._layer, SequenceNode: Evaluator._sequence,
             ResidualNode: Evaluator._residual, ConcatNode: Evaluator._concat}


def _combine(node: Node, qualname: str, x: Shape, children: list[Resolved],
             out: Shape | None = None) -> Resolved:
    params = macs = 0
    for child in children:
        params += child.params
        macs += child.macs
    out_shape = out if out is not None else (children[-1].out_shape if children else x)
    return Resolved(node, qualname, x, out_shape, params, macs, tuple(children))


def walk(resolved: Resolved, max_depth: int | None = None, depth: int = 0):
    """Pre-order traversal with depth: (depth, resolved)."""
    yield depth, resolved
    if max_depth is None or depth < max_depth:
        for child in resolved.children:
            yield from walk(child, max_depth, depth + 1)

