"""Check pass: a `Spec` and an input shape -> a `Report`: the output shape, parameters, MACs and
memory verdict, and every error found; the shape, parameters and MACs of every node on demand.

The check runs in two tiers. First the layers' static rules and the blocks' static twins
(`BlockStage.facts`) add up the network's figures without making a node (archspec.twin_check).
Where all of them vouch for the network, that is the report; its graph (every node lowered and
evaluated) is made on first use, for a table, a build or an export. Where anything might be wrong,
the check lowers and evaluates the whole graph, which finds every problem and says where. Pure
Python: this module and everything it imports never import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple

from pydantic import ValidationError

from archspec.budget import DEFAULT_MAX_MEMORY, MemoryEstimate, block_count_problem, estimate_memory, memory_problem
from archspec.errors import Diagnostic, SpecPath, sort_diagnostics
from archspec.graph import INPUT, BlockGraph, Evaluator, Node, Resolved, block_node, layer_node, walk
from archspec.layers import LayerBase
from archspec.names import ModuleNames, layer_places, module_names
from archspec.nesting import nest_figures
from archspec.ranges import InputRange, find_input_range
from archspec.shapes import Facts, Shape, show
from archspec.smallest_input import smallest_input_hint, too_small_only
from archspec.spec import ListStage, Spec
from archspec.twin_check import child_name, twin_figures


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    depth: int
    output_shape: Shape
    params: int
    macs: int


class Lowered(NamedTuple):
    nodes: tuple[Node, ...]  # the lowered network, in module order
    resolved: tuple[Resolved, ...]  # its static figures at the report's input (empty if it failed early)


@dataclass(frozen=True)
class Report:
    spec: Spec
    input_shape: Shape
    errors: tuple[Diagnostic, ...]
    figures: Facts | None = None  # the network's output shape, parameters and MACs, when it checked
    # The lowered graph, when the check made it; otherwise `graph` makes it on first use.
    lowered: Lowered | None = field(default=None, repr=False, compare=False)
    # `memory.total`, when the blocks' static twins gave the figures (no graph made for it)
    twin_memory: int | None = field(default=None, compare=False)

    @cached_property
    def graph(self) -> Lowered:
        """The network lowered to primitive layers, and every node's figures. A check that passed on
        the blocks' static twins makes it only here, for a table, a build or an export."""
        if self.lowered is not None:
            return self.lowered
        lowered, problems, _ = _lower_and_evaluate(self.spec, self.input_shape)
        if problems:  # tests/test_block_twins.py exists so that this never happens
            raise RuntimeError(f"archspec bug: the blocks' static twins passed {self.spec.name!r}, but its "
                               f"graph reports: {problems[0][1]}")
        resolved = lowered.resolved
        graph_figures = (resolved[-1].out_shape if resolved else self.input_shape,
                         sum(r.params for r in resolved), sum(r.macs for r in resolved))
        graph_memory = estimate_memory(resolved, self.input_shape).total if self.twin_memory is not None else None
        if self.figures is not None and (graph_figures != tuple(self.figures[:3])
                                         or graph_memory != self.twin_memory):
            # A Python kind's own `facts` that disagree with its `lower`: the report's figures (its memory
            # budget too: the peak and the buffers) would not be the module's that the build makes.
            raise RuntimeError(_twin_disagreement(self.spec, (*self.figures[:3], self.twin_memory),
                                                  (*graph_figures, graph_memory)))
        return lowered

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self.graph.nodes

    @property
    def resolved(self) -> tuple[Resolved, ...]:
        return self.graph.resolved

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def output_shape(self) -> Shape | None:
        return self.figures[0] if self.figures else None

    @property
    def params(self) -> int:
        return self.figures[1] if self.figures else sum(r.params for r in self.resolved)

    @property
    def macs(self) -> int:
        return self.figures[2] if self.figures else sum(r.macs for r in self.resolved)

    @property
    def memory(self) -> MemoryEstimate:
        """Estimated memory to build and run the network on one image (see `archspec.budget`)."""
        return estimate_memory(self.resolved, self.input_shape)

    @property
    def memory_bytes(self) -> int:
        """`memory.total`, without making the graph where the static twins gave it."""
        return self.twin_memory if self.twin_memory is not None else self.memory.total

    @cached_property
    def input_range(self) -> InputRange | None:
        """Input sizes the compiled module accepts (None if the spec has errors)."""
        return find_input_range(self.nodes, self.resolved, self.input_shape) if self.ok else None

    def rows(self, depth: int | None = 1) -> list[Row]:
        """Table rows, pre-order; depth 0 is the top level (stem layers, stages, head layers)."""
        return [Row(r.qualname, r.kind, d, r.out_shape, r.params, r.macs)
                for top in self.resolved for d, r in walk(top, depth)]

    @cached_property
    def notes(self) -> tuple[str, ...]:
        """What the figures mean beyond themselves: at an input other than the spec's own, a `linear`
        layer after `flatten` can take another number of features than the spec was written for, and
        then its parameters, and the network's, are not the spec's."""
        own = self.spec.input.shape()
        if not self.ok or self.input_shape == own:
            return ()
        at_own = check(self.spec, own, max_memory=None)
        if not at_own.ok:  # the spec's own input fails: there are no figures of the spec's to differ from
            return ()

        def in_features(report: Report) -> dict[str, int]:
            return {r.qualname: r.in_shape[0] for top in report.resolved for _, r in walk(top) if r.kind == "linear"}

        here, there = in_features(self), in_features(at_own)
        differ = f"parameters differ from the spec's ({self.params:,} instead of {at_own.params:,})"
        notes = tuple(f"at input {show(self.input_shape)}, {name}'s in_features is {here[name]:,} instead of "
                      f"{there[name]:,} at the spec's input {show(own)}: {differ}"
                      for name in here if name in there and here[name] != there[name])
        if not notes and self.params != at_own.params:  # e.g. another channel count: the first layer's weights
            notes = (f"at input {show(self.input_shape)} instead of the spec's {show(own)}, {differ}",)
        return notes

    def to_json(self) -> dict[str, object]:
        accepted = self.input_range
        return {
            "ok": self.ok,
            "name": self.spec.name,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "params": self.params if self.ok else None,
            "macs": self.macs if self.ok else None,
            "input_range": accepted.to_json() if accepted else None,
            "memory_bytes": self.memory.total if self.ok else None,
            "errors": [d.to_json() for d in self.errors],
            "notes": list(self.notes),
        }


def check(spec: Spec, input_shape: Shape | None = None,
          max_memory: int | None = DEFAULT_MAX_MEMORY) -> Report:
    """Statically check `spec` for `input_shape` (by default the spec's own `input`).

    `max_memory` (bytes, None for no limit) refuses a network whose estimated memory exceeds it
    (see `archspec.budget`)."""
    x = input_shape or spec.input.shape()
    report = check_plain(spec, x, max_memory)
    problems = [(d.path, d.message, d.hint) for d in report.errors]
    if not too_small_only(problems):
        return report
    hint = smallest_input_hint(x, lambda shape, budget: check_plain(spec, shape, budget), spec.input.shape(),
                               max_memory)
    if hint is None:
        return report
    return replace(report, errors=tuple(replace(d, hint=hint) for d in report.errors))


def check_plain(spec: Spec, x: Shape, max_memory: int | None) -> Report:
    """`check`, without looking for the smallest input where the input is too small: for callers that
    read the verdict alone (`archspec sample` rejects such a network, whatever the hint)."""
    too_deep = block_count_problem(spec)
    if too_deep:
        return Report(spec, x, tuple(_place(spec, [too_deep])), None, Lowered((), ()))
    twin = twin_figures(spec, x, max_memory)
    if twin is not None:
        return Report(spec, x, (), twin[0], twin_memory=twin[1])
    lowered, problems, layers = _lower_and_evaluate(spec, x)
    too_big = (memory_problem(estimate_memory(lowered.resolved, x, layers), max_memory)
               if not problems and max_memory is not None else None)
    problems += [too_big] if too_big else []
    if problems:
        return Report(spec, x, tuple(_place(spec, problems)), None, lowered)
    resolved = lowered.resolved  # a block kind without a static twin: the graph's figures
    return Report(spec, x, (), (resolved[-1].out_shape if resolved else x, sum(r.params for r in resolved),
                                sum(r.macs for r in resolved)), lowered)


def _twin_disagreement(spec: Spec, twin: tuple[object, ...], graph: tuple[object, ...]) -> str:
    """What to say where the static twins' figures differ from the graph's: the kinds registered from
    Python with their own `facts`, else an archspec bug (tests/test_block_twins.py holds archspec's)."""
    def figures(found: tuple[object, ...]) -> str:
        memory = f", a memory budget of {found[3]:,} bytes" if found[3] is not None else ""
        return f"output {show(found[0])}, {found[1]:,} parameters, {found[2]:,} MACs{memory}"

    from archspec.blocks.base import BLOCKS, BlockStage

    own = [f"`{name}` ({kind.__qualname__})" for name, kind in BLOCKS.items()
           if kind.facts is not BlockStage.facts and not kind.__module__.startswith("archspec.")]
    which = (f"a kind's `facts` disagree with its `lower` ({', '.join(own)}): make them agree, or leave "
             "`facts` out (the graph's figures are then used)") if own else (
             "archspec bug: a block's static twin is wrong")
    return (f"{spec.name!r}: the blocks' static figures ({figures(twin)}) differ from its graph's, which the "
            f"module is built from ({figures(graph)}): {which}")


def _lower_and_evaluate(spec: Spec, x: Shape
                        ) -> tuple[Lowered, list[tuple[SpecPath, str, str | None]], list[Resolved]]:
    """Lowers every stage and evaluates the whole graph: the nodes and their figures, every problem
    found, and the evaluated layers in order (for the memory budget)."""
    evaluator = Evaluator()
    names = module_names(spec)
    problems = list(names.problems)
    lowered: list[Node] = []
    resolved: list[Resolved] = []
    shape: Shape | None = x
    previous = INPUT  # the network is a chain: each top-level node reads the one before it
    for item in _top_level_nodes(spec, names):
        if shape is None:
            break  # an earlier node failed: its output shape, and so everything after it, is unknown
        if isinstance(item, _StageToLower):
            node, result = _lower_stage(item, shape, evaluator, previous)
        else:
            node = item._replace(inputs=(previous,))
            result = evaluator.run(node, shape)
        lowered.append(node)
        previous = node.name
        if result is not None:
            resolved.append(result)
        shape = result.out_shape if result else None
    problems += [(p.origin, p.message, p.hint) for p in evaluator.problems]
    nodes, figures = tuple(lowered), tuple(resolved)
    if names.nested and not names.problems:  # `name: conv1.0`: module `0` of a container `conv1`
        nodes, figures, nesting = nest_figures(nodes, figures)
        problems += nesting
    return Lowered(nodes, figures), problems, evaluator.layers


@dataclass(frozen=True)
class _StageToLower:
    """A stage whose blocks can only be lowered once its input shape is known."""

    index: int
    name: str
    spec: Spec


def _top_level_nodes(spec: Spec, names: ModuleNames) -> list[Node | _StageToLower]:
    layers = (*spec.stem, *spec.head)
    nodes = [layer_node(name, layer, place, written=True)
             for name, layer, place in zip(names.layers, layers, layer_places(spec))]
    stages = [_StageToLower(i, name, spec) for i, name in enumerate(names.stages)]
    return [*nodes[:len(spec.stem)], *stages, *nodes[len(spec.stem):]]


def _lower_stage(stage: _StageToLower, x: Shape, evaluator: Evaluator, previous: str
                 ) -> tuple[Node, Resolved | None]:
    """Lowers a stage block by block: each block's structure depends on its input channels. The
    stage is a block node (reading `previous`) whose graph chains its blocks: an nn.Sequential."""
    spec_stage = stage.spec.stages[stage.index]
    origin: SpecPath = ("stages", stage.index)
    is_list = isinstance(spec_stage, ListStage)
    entries = ([(item, (*origin, "blocks", j)) for j, item in enumerate(spec_stage.blocks)]
               if is_list else [(spec_stage, origin)])
    children: list[Node] = []
    resolved: list[Resolved] = []
    shape: Shape | None = x
    for entry, entry_origin in entries:
        copies = 1 if isinstance(entry, LayerBase) else entry.copies()
        alike: dict[object, Resolved] = {}  # copies of `entry` that later copies can reuse, by alike_key
        for copy in range(copies):
            if shape is None:
                break
            name = child_name(entry, copy, len(children), is_list)
            reads = (children[-1].name if children else INPUT,)
            key = None if isinstance(entry, LayerBase) else entry.alike_key(copy)
            template = alike.get(key) if key is not None else None
            if template is not None and template.in_shape == shape:
                node = template.node._replace(name=name, inputs=reads)
                children.append(node)
                resolved.append(_relabeled(template, node, f"{stage.name}.{name}"))
                shape = template.out_shape
                continue
            if isinstance(entry, LayerBase):
                node = layer_node(name, entry, entry_origin, *reads, written=True)
            else:
                shortcut = entry.shortcut or stage.spec.shortcut
                try:
                    node = entry.lower(copy, shape, shortcut, entry_origin)
                except ValidationError as error:  # a derived layer outside the language's limits
                    _out_of_limits(evaluator, entry_origin, f"{stage.name}.{name}", error)
                    shape = None
                    break
                # A block names its copy by index; a list stage numbers all entries.
                node = node._replace(name=name, inputs=reads)
            children.append(node)
            problems_before = len(evaluator.problems)
            result = evaluator.run(node, shape, stage.name)
            if result is not None:
                resolved.append(result)
                if key is not None and len(evaluator.problems) == problems_before:
                    alike[key] = result  # only a copy without problems: a faulty one reports them itself
            shape = result.out_shape if result else None
    nodes, figures, nesting = nest_figures(children, resolved)  # a list stage's dotted layer names
    for problem in nesting:
        evaluator.problem(problem.origin, stage.name, problem.message, problem.hint)
    graph = BlockGraph("stage", nodes, nodes[-1].name if nodes else INPUT, sequential=True)
    node = block_node(stage.name, graph, origin, previous)
    if shape is None:
        return node, None
    return node, Resolved(node, stage.name, x, shape, sum(r.params for r in resolved),
                          sum(r.macs for r in resolved), figures)


def _out_of_limits(evaluator: Evaluator, origin: SpecPath, where: str, error: ValidationError) -> None:
    """A block whose own fields are valid can still derive a layer that is not, e.g. a bottleneck
    with width_per_group 4096 asks for a 3x3 convolution with 2^20 channels."""
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"])
    limit = first["msg"].replace("Input should be ", "").replace("less than or equal to", "<=")
    evaluator.problem(origin, where, f"expected the {error.title.lower()} layers this block makes to have "
                      f"{field} {limit}, found {first['input']:,}" if isinstance(first["input"], int)
                      else f"the {error.title.lower()} layers this block makes are invalid: {first['msg']}",
                      "use smaller widths or multipliers (width_per_group, expansion)")


def _relabeled(template: Resolved, node: Node, qualname: str) -> Resolved:
    """`template`'s figures for an alike copy `node` named `qualname`: the same shapes and counts."""
    cut = len(template.qualname)

    def renamed(r: Resolved) -> Resolved:  # list comprehensions, and none for leaves: 30% faster
        children = tuple([renamed(child) for child in r.children]) if r.children else ()
        return Resolved(r.node, qualname + r.qualname[cut:], r.in_shape, r.out_shape, r.params, r.macs,
                        children)

    return Resolved(node, qualname, template.in_shape, template.out_shape, template.params,
                    template.macs, tuple([renamed(child) for child in template.children]))


def _place(spec: Spec, problems: list[tuple[SpecPath, str, str | None]]) -> list[Diagnostic]:
    """Diagnostics at their file:line:col; one per place and message (repeated blocks share one)."""
    document = spec.document
    placed = [document.diagnostic(origin, message, hint) if document
              else Diagnostic(origin, message, hint) for origin, message, hint in problems]
    return sort_diagnostics(placed)

