"""The ops of the graph IR: everything about one node kind lives on its op.

- `layer`: a primitive layer from the layer registry (its payload); the layer's own rule and builder.
- `block`: a nested block (payload: a `BlockGraph`); a module whose forward runs the graph.
- `add`: inputs of equal shapes, summed (a residual addition).
- `mul`: inputs of equal shapes, or one side C x 1 x 1 broadcast over the other (a channel gate).
- `concat`: inputs concatenated on channels; equal height and width.
- `slice`: channels `start:stop` of one input (ShuffleNet v2's channel split).
- `shortcut`: the stage's shortcut option toward the block's width and stride; a block's lowering
  makes it concrete (`archspec.blocks.base.expand_shortcuts`) before anything evaluates it.

Every join's error names the join, each of its inputs and their shapes. Pure Python: no torch here;
the build hands `torch` to `apply`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

from archspec.graph import (
    INPUT,
    OPS,
    SAFE_BEFORE_INPLACE,
    SAFE_TO_ADD_INTO,
    BlockGraph,
    Evaluator,
    Node,
    Op,
    Resolved,
    may_overwrite,
    register_op,
)
from archspec.shapes import Shape, ShapeProblem, show


class JoinText(NamedTuple):
    """How a join's error speaks of it: 'the residual addition', its inputs 'the main path' and
    'the shortcut', and a hint. Without one, the join and its inputs go by their node names."""

    what: str
    labels: tuple[str, ...]
    hint: str | None = None


def _listing(node: Node, shapes: list[Shape], joiner: str = " and ") -> str:
    labels = node.payload.labels if isinstance(node.payload, JoinText) else [f"`{n}`" for n in node.inputs]
    return joiner.join(f"{label} gives {show(shape)}" for label, shape in zip(labels, shapes))


def _what(node: Node, default: str) -> str:
    return node.payload.what if isinstance(node.payload, JoinText) else f"{default} `{node.name}`"


def _hint(node: Node) -> str | None:
    return node.payload.hint if isinstance(node.payload, JoinText) else None


def _add_hint(shapes: list[Shape]) -> str:
    """What makes the inputs of an addition fit, for a join written without wording of its own (a
    YAML block's `op: add`): which of channels and size differ, and what changes each."""
    first = shapes[0]
    fixes = []
    if any(shape[:1] != first[:1] for shape in shapes):
        fixes.append("the channels with a 1x1 `conv` (`width: N`)")
    if any(shape[1:] != first[1:] for shape in shapes):
        fixes.append("the size with the same `stride` on every path")
    return (f"match {' and '.join(fixes) or 'the shapes'}, or read the block's input through a `shortcut:` "
            "node, which brings it to the block's width and stride")


@register_op
class LayerOp(Op):
    name = "layer"
    makes_module = True

    def kind(self, node: Node) -> str:
        return node.payload.layer

    def evaluate(self, evaluator: Evaluator, node: Node, shapes: list[Shape], qualname: str
                 ) -> Resolved | None:
        x = shapes[0]
        try:
            out, params, macs = node.payload.infer(x)
        except ShapeProblem as problem:
            origin = node.origin + ((problem.field,) if problem.field and node.written else ())
            evaluator.problem(origin, f"{qualname} (input {show(x)})", problem.message, problem.hint)
            return None
        result = Resolved._make((node, qualname, x, out, params, macs, ()))  # _make: the check's hottest line
        evaluator.layers.append(result)
        return result

    def build(self, nn: Any, resolved: Resolved, built: list[tuple[str, Any]]) -> Any:
        return resolved.node.payload.build(nn, resolved.in_shape)


@register_op
class BlockOp(Op):
    name = "block"
    makes_module = True

    def kind(self, node: Node) -> str:
        return node.payload.kind

    def evaluate(self, evaluator: Evaluator, node: Node, shapes: list[Shape], qualname: str
                 ) -> Resolved | None:
        return evaluator.run_graph(node, shapes[0], qualname)

    def build(self, nn: Any, resolved: Resolved, built: list[tuple[str, Any]]) -> Any:
        """An nn.Sequential for a chain (a stage, torchvision's `downsample`), else a module that
        registers the children in node order (the state_dict's order) and runs the graph."""
        graph: BlockGraph = resolved.node.payload
        inplace_only_where_safe(graph, built)
        if graph.sequential:
            return nn.Sequential(OrderedDict(built))
        adds_into = may_overwrite(graph, SAFE_TO_ADD_INTO)
        # Each value is dropped after the last node that reads it, as a hand-written forward's
        # rebinding of `out` drops it: the memory budget (archspec.budget.graph_peak) counts on it.
        last_read = {name: number for number, node in enumerate(graph.nodes) for name in node.inputs}
        last_read.pop(graph.output, None)
        steps = []
        index = {INPUT: 0}
        for number, node in enumerate(graph.nodes):
            op = OPS[node.op]
            inputs = tuple(index[name] for name in node.inputs)
            done = tuple(sorted({index[name] for name in node.inputs if last_read.get(name) == number}))
            if op.makes_module:
                steps.append((node.name, None, inputs, None, False, done))
            else:
                steps.append((None, type(op).apply, inputs, node.payload, node.name in adds_into, done))
            index[node.name] = number + 1
        return nn.GraphBlock(graph.kind, built, tuple(steps), index[graph.output])


def inplace_only_where_safe(graph: BlockGraph, built: list[tuple[str, Any]]) -> None:
    """Turns off `inplace` on the activations whose input must survive (see `SAFE_BEFORE_INPLACE`)."""
    safe = may_overwrite(graph, SAFE_BEFORE_INPLACE)
    for name, module in built:
        if getattr(module, "inplace", False) and name not in safe:
            module.inplace = False


@register_op
class AddOp(Op):
    name = "add"
    arity = (2, None)

    def evaluate(self, evaluator: Evaluator, node: Node, shapes: list[Shape], qualname: str
                 ) -> Resolved | None:
        if any(shape != shapes[0] for shape in shapes):
            evaluator.problem(node.origin, qualname,
                              f"{_what(node, 'the addition')} needs equal shapes, but {_listing(node, shapes)}",
                              _hint(node) or _add_hint(shapes))
            # Go on with the first input's shape so that later, independent errors are found too.
        return Resolved(node, qualname, shapes[0], shapes[0], 0, 0)

    @staticmethod
    def apply(torch: Any, values: list[Any], payload: Any, inplace: bool) -> Any:
        out = values[0]
        for value in values[1:]:
            if inplace:  # the builder proved nothing else reads the first input (see build.py)
                out += value
            else:
                out = out + value
        return out

    def python(self, node: Node, arguments: list[str]) -> str:
        return " + ".join(arguments)


@register_op
class MulOp(Op):
    name = "mul"
    arity = (2, 2)

    def evaluate(self, evaluator: Evaluator, node: Node, shapes: list[Shape], qualname: str
                 ) -> Resolved | None:
        a, b = shapes
        gate = (len(a) == len(b) == 3 and a[0] == b[0]
                and (a[1:] == (1, 1) or b[1:] == (1, 1)))
        if a != b and not gate:
            evaluator.problem(node.origin, qualname,
                              f"{_what(node, 'the multiplication')} needs equal shapes, or one side "
                              f"C x 1 x 1 with the other's channels, but {_listing(node, shapes)}",
                              _hint(node) or "make both sides the same shape, or pool one to C x 1 x 1")
            return None
        out = b if a[1:] == (1, 1) and a != b else a
        return Resolved(node, qualname, a, out, 0, 0)

    @staticmethod
    def apply(torch: Any, values: list[Any], payload: Any, inplace: bool) -> Any:
        return values[0] * values[1]

    def python(self, node: Node, arguments: list[str]) -> str:
        return " * ".join(arguments)


@register_op
class ConcatOp(Op):
    name = "concat"
    arity = (1, None)
    python_chains = False  # its inputs are branches: each gets a variable of its own

    def evaluate(self, evaluator: Evaluator, node: Node, shapes: list[Shape], qualname: str
                 ) -> Resolved | None:
        if any(len(shape) != 3 for shape in shapes) or len({shape[1:] for shape in shapes}) != 1:
            listing = ", ".join(f"{name} {show(shape)}" for name, shape in zip(node.inputs, shapes))
            evaluator.problem(node.origin, qualname,
                              f"branches concatenated on channels must share their spatial size; "
                              f"found {listing}",
                              _hint(node) or "give every branch the same stride and an odd kernel with "
                              "'same' padding (padding = kernel // 2; an even kernel so padded grows the "
                              "map by one)")
            return None
        out = (sum(shape[0] for shape in shapes), *shapes[0][1:])
        return Resolved(node, qualname, shapes[0], out, 0, 0)

    @staticmethod
    def apply(torch: Any, values: list[Any], payload: Any, inplace: bool) -> Any:
        return torch.cat(values, dim=1)

    def python(self, node: Node, arguments: list[str]) -> str:
        return f"torch.cat([{', '.join(arguments)}], dim=1)"


class ChannelRange(NamedTuple):
    start: int
    stop: int


@register_op
class SliceOp(Op):
    name = "slice"

    def evaluate(self, evaluator: Evaluator, node: Node, shapes: list[Shape], qualname: str
                 ) -> Resolved | None:
        (x,) = shapes
        start, stop = node.payload
        if not x or not 0 <= start < stop <= x[0]:
            evaluator.problem(node.origin, qualname,
                              f"the channel slice `{node.name}` takes channels {start}:{stop} of "
                              f"`{node.inputs[0]}`, which gives {show(x)}",
                              f"slice within the input's {x[0] if x else 0} channels")
            return None
        return Resolved(node, qualname, x, (stop - start, *x[1:]), 0, 0)

    @staticmethod
    def apply(torch: Any, values: list[Any], payload: Any, inplace: bool) -> Any:
        return values[0][:, payload[0]:payload[1]]

    def python(self, node: Node, arguments: list[str]) -> str:
        start, stop = node.payload
        return f"{arguments[0]}[:, {start}:{stop}]"


@register_op
class ShortcutOp(Op):
    name = "shortcut"

    def evaluate(self, evaluator: Evaluator, node: Node, shapes: list[Shape], qualname: str
                 ) -> Resolved | None:
        raise AssertionError(f"archspec bug: the shortcut node {qualname} was not expanded by its block")
