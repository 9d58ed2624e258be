"""Block kinds defined in YAML, lowered to the graph IR when a stage uses them.

`DefinedStage` is the base of every defined kind's stage model (made per definition by
`stage_model`): a stage entry `{block: se_basic, width: 32, reduction: 8}` validates against it like
against a built-in kind. Lowering is lazy: `lower` returns a `defined` node, and the `defined` op,
when the check evaluates it on an input shape, evaluates the definition's expressions (`in` is that
shape's channels), makes the concrete graph (layers validated as written ones, joins, the stage's
shortcut option, nested blocks as `defined` nodes again) and evaluates it through the common
`Evaluator.run_graph`. The `Resolved` it returns holds the concrete `block` node, which build,
export and every other consumer read like any block's. Errors are located at the node's key in the
definition and name the stage and copy that used it: `stages[1] (se_basic, copy 0) > nodes[7] (add)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, SerializerFunctionWrapHandler, ValidationError, create_model, model_serializer

from archspec.blocks.base import BlockStage, Shortcut
from archspec.blocks.defined_lowering import NestedUse, Use, lower_use
from archspec.blocks.defined_plans import NodePlan, node_plans, requirement_functions
from archspec.blocks.defined_settings import bool_problem, misplaced_bools, root_field, settings_problems
from archspec.definitions import MAX_NESTING, BlockDefinition, field_read, is_expression, reads_index
from archspec.errors import SpecPath, format_path
from archspec.expr import Compiled
from archspec.graph import OPS, BlockGraph, Evaluator, Node, Op, Problem, Resolved, register_op
from archspec.names import GRAPH_BLOCK_ATTRIBUTES, sibling_problems
from archspec.process_memo import forgettable
from archspec.shapes import Shape, show

_COMPONENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}|[0-9]{1,6}")  # a dotted name's parts, as a stage's


def capped_node_count(nodes: Sequence[Any], nested_nodes: Callable[[str], int | None]) -> int:
    """How many nodes `nodes` expand to: a node nesting a kind counts `nested_nodes(kind)` (None: one node,
    as a layer, a join or a built-in kind's block), capped at 10**9 (nesting multiplies)."""
    known = 0
    for node in nodes:
        nested = nested_nodes(node.block) if node.block is not None else None
        known = min(known + (1 if nested is None else nested), 10**9)
    return known


class DefinedStage(BlockStage):
    """A stage of a kind defined in YAML; `stage_model` makes one subclass per definition."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    definition: ClassVar[BlockDefinition]
    origin_prefix: ClassVar[SpecPath] = ()  # where the definition is written: ("blocks", kind) ...
    reads_index: ClassVar[bool] = False  # an expression reads the copy's `index`: copies may differ
    visible: ClassVar[Mapping[str, type[BlockStage]]] = {}  # the kinds its nodes may nest

    @property
    def kind_name(self) -> str:
        return str(self.block)

    def field_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.definition.fields}

    @model_serializer(mode="wrap")
    def _without_block_expressions(self, handler: SerializerFunctionWrapHandler) -> Any:
        """A field left at a default written as an expression over the block's names (`${in // 4}`) is
        not written: in a stage, `${...}` is a spec-level expression, so the dump would not load."""
        data = handler(self)
        if isinstance(data, dict):
            for name, default in self.definition.fields.items():
                if is_expression(default) and data.get(name) == default:
                    del data[name]
        return data

    @classmethod
    def nodes_per_copy(cls) -> int:
        """How many nodes one copy expands to, nested blocks' included (capped): what the check
        bounds before evaluating anything, since nesting multiplies (`archspec.budget`)."""
        known = cls.__dict__.get("_expanded")
        if known is None:
            # The library counts its kinds' nodes from their definitions (`LibraryKinds.expanded_nodes`):
            # making a nested kind's stage model (Pydantic) only to count would be most of a first check.
            count = getattr(cls.visible, "expanded_nodes", None)

            def nested_nodes(kind: str) -> int | None:
                if count is not None and kind in cls.visible:
                    return count(kind)
                nested = cls.visible.get(kind)
                return nested.nodes_per_copy() if isinstance(nested, type) and issubclass(nested, DefinedStage) \
                    else None

            known = cls._expanded = capped_node_count(cls.definition.nodes, nested_nodes)  # type: ignore[attr-defined]
        return known

    @classmethod
    def plans(cls) -> tuple[tuple[NodePlan, SpecPath], ...]:
        """Each node's plan and where it is written: made once per definition, not per copy."""
        known = cls.__dict__.get("_plans")
        if known is None:
            known = tuple((plan, (*cls.origin_prefix, "nodes", index))
                          for index, plan in enumerate(node_plans(cls.definition)))
            cls._plans = known  # type: ignore[attr-defined]
        return known

    @classmethod
    def requirements(cls) -> tuple[Compiled, ...] | None:
        """The functions of the definition's `requires:`: made once per definition, not per copy."""
        if "_requirements" not in cls.__dict__:
            cls._requirements = requirement_functions(cls.definition.requires)  # type: ignore[attr-defined]
        return cls.__dict__["_requirements"]  # type: ignore[no-any-return]

    @classmethod
    def name_problems(cls, slots: tuple[tuple[str, int], ...]) -> list[tuple[SpecPath, str, str | None]]:
        """The problems of these module names ((name, node index) of each module a use made), once per
        distinct set: the copies of a block mostly make the same names."""
        known: dict[tuple[tuple[str, int], ...], list[tuple[SpecPath, str, str | None]]] = \
            cls.__dict__.get("_name_problems") or {}
        if not known:
            cls._name_problems = known  # type: ignore[attr-defined]
        problems = known.get(slots)
        if problems is None:
            if len(known) > 1024:
                known.clear()
            problems = known[slots] = _name_problems(cls, slots)
        return problems

    def alike_key(self, index: int) -> object | None:
        if self.reads_index:
            return None  # a definition that reads `index` (a per-copy rate) may differ in every copy
        return index > 0  # every copy after the first has stride 1 and the same fields

    def lower(self, index: int, x: Shape, shortcut: Shortcut, origin: SpecPath) -> Node:
        trace = f"{format_path(origin)} ({self.kind_name}, copy {index})"
        written = tuple((name, getattr(self, name)) for name in self.model_fields_set
                        if name in self.definition.fields or name == "width")  # type: ignore[attr-defined]
        use = Use(self, self.width, self.block_stride(index), shortcut, trace, 0, origin, index, (origin, written))
        return Node(str(index), "defined", ("input",), use, origin)


# What a kind's class works out once and keeps on itself (above), emptied by `_forget_made_once`.
_MADE_ONCE = ("_plans", "_requirements", "_expanded", "_name_problems")


def _forget_made_once() -> None:
    kinds: list[type] = [DefinedStage]
    while kinds:
        kind = kinds.pop()
        kinds += kind.__subclasses__()
        for name in _MADE_ONCE:
            if name in kind.__dict__:
                delattr(kind, name)


forgettable(_forget_made_once)


def stage_model(kind: str, definition: BlockDefinition, origin_prefix: SpecPath,
                visible: Mapping[str, type[BlockStage]]) -> type[DefinedStage]:
    """The stage model of a defined kind: `block: <kind>`, the stage fields, and the definition's
    fields with their defaults (typed by the default: an integer field takes integers, and so on;
    a field whose default is an expression takes numbers)."""
    fields: dict[str, Any] = {"block": (Literal[kind], Field(description=definition.description or None))}
    for name, default in definition.fields.items():
        if is_expression(default):
            fields[name] = (int | float | str, default)
        else:
            fields[name] = (type(default) if not isinstance(default, float) else int | float, default)
    model = create_model(f"Defined_{kind}", __base__=DefinedStage, **fields)  # type: ignore[call-overload]
    model.definition = definition
    model.origin_prefix = origin_prefix
    model.reads_index = reads_index(definition)
    model.visible = visible
    model.__doc__ = definition.description or f"the block kind `{kind}`"
    return model


@register_op
class DefinedOp(Op):
    """A block used in a spec, lowered when its input shape is known (see the module's docstring)."""

    name = "defined"
    makes_module = True

    def kind(self, node: Node) -> str:
        payload = node.payload
        return str(getattr(payload.stage, "block", "block")) if isinstance(payload, Use) else payload.kind

    def evaluate(self, evaluator: Evaluator, node: Node, shapes: list[Shape], qualname: str
                 ) -> Resolved | None:
        use = node.payload
        x = shapes[0]
        if isinstance(use, NestedUse):
            use = _made(evaluator, use, x)
            if use is None:
                return None
        if use.depth > MAX_NESTING:
            evaluator.problem(use.origin, use.trace, f"blocks nest more than {MAX_NESTING} levels deep",
                              "nest fewer blocks inside blocks")
            return None
        stage = use.stage
        if not isinstance(stage, DefinedStage):  # a Python kind nested in a definition
            inner = stage.lower(0, x, use.shortcut, use.origin)
            return OPS[inner.op].evaluate(evaluator, inner._replace(name=node.name, inputs=node.inputs),
                                            [x], qualname)
        before = len(evaluator.problems)
        graph = lower_use(evaluator, use, x, qualname)
        result = None
        if graph is not None:
            block = Node(node.name, "block", node.inputs, graph, node.origin)
            result = evaluator.run_graph(block, x, qualname)
        _name_the_use(evaluator, before, use)
        if result is None:
            return None
        concrete = _concrete(result.node, result)
        return result if concrete is result.node else result._replace(node=concrete)


def _made(evaluator: Evaluator, use: NestedUse, x: Shape) -> Use | None:
    """The nested block's stage, validated now that its input's channels (its default width) are known."""
    values = dict(use.values)
    width = values.pop("width", None)
    data = {"block": use.kind, "width": x[0] if width is None else width, "stride": use.stride, **values}
    written = dict(use.written)
    bools = misplaced_bools(use.model, data)
    for key in bools:  # Python's validation would read true as 1: a condition is no count
        evaluator.problem((*use.origin, key), use.trace, *bool_problem(key, data[key], written.get(key)))
    if bools:
        return None
    try:
        stage = use.model.model_validate(data)
    except ValidationError as error:
        for key, message, hint in settings_problems(error, data, written):
            at = root_field(use.root, written.get(key[0]), data[key[0]]) if key else None
            evaluator.problem(at or (*use.origin, *key), use.trace, message, hint)
        return None
    return Use(stage, stage.width, use.stride, use.shortcut, use.trace, use.depth, use.origin, 0, use.root,
               use.written)


def _name_the_use(evaluator: Evaluator, before: int, use: Use) -> None:
    """Prefixes the problems found while evaluating this use with the place that used the block."""
    if len(evaluator.problems) == before:
        return  # none: the common case
    prefix = (*type(use.stage).origin_prefix, "nodes")  # type: ignore[attr-defined]
    for number in range(before, len(evaluator.problems)):
        problem = evaluator.problems[number]
        if problem.message.startswith(use.trace):
            continue  # a nested block's problem, already named from further in
        origin = problem.origin
        index = origin[len(prefix)] if origin[:len(prefix)] == prefix and len(origin) > len(prefix) else None
        node_text = ""
        if isinstance(index, int):
            spec_node = use.stage.definition.nodes[index]  # type: ignore[attr-defined]
            node_text = f" > nodes[{index}] ({getattr(spec_node, spec_node.kind_key)})"
            origin = _user_field(use, spec_node, origin[len(prefix) + 1:]) or origin
        evaluator.problems[number] = Problem(origin, f"{use.trace}{node_text}: {problem.message}",
                                             problem.hint, problem.detail)


def _user_field(use: Use, spec_node: Any, within: SpecPath) -> SpecPath | None:
    """Where the spec's stage wrote the value of a node's setting or layer kind that failed (`groups:
    "${groups}"` and the stage's `groups: 5`; `layer: "${activation}"` and `activation: conv`): the
    user's mistake is there, not in the definition (a library file)."""
    if len(within) != 1 or not isinstance(within[0], str):
        return None
    written = spec_node.layer if within[0] == "layer" else spec_node.settings.get(within[0])
    field = field_read(written)
    return None if field is None else root_field(use.root, written, getattr(use.stage, field, None))


def _concrete(block: Node, resolved: Resolved) -> Node:
    """`block` with every lazy `defined` node inside replaced by the concrete node it evaluated to
    (`block` itself where it holds none)."""
    graph: BlockGraph = block.payload
    children = iter(resolved.children)
    nodes = []
    changed = False
    for lazy in graph.nodes:
        node = lazy
        if OPS[lazy.op].makes_module:
            child = next(children)
            if lazy.op == "defined":
                node = child.node
                if (node.name, node.inputs, node.origin) != (lazy.name, lazy.inputs, lazy.origin):
                    node = node._replace(name=lazy.name, inputs=lazy.inputs, origin=lazy.origin)
                changed = True
            elif lazy.op == "block":
                node = _concrete(lazy, child)
                changed = changed or node is not lazy
        nodes.append(node)
    return block._replace(payload=graph._replace(nodes=tuple(nodes))) if changed else block


def _name_problems(model: type[DefinedStage], slots: tuple[tuple[str, int], ...]
                   ) -> list[tuple[SpecPath, str, str | None]]:
    """Repeated and reserved module names among a use's modules ((name, node index) each), at the
    written `name:` where there is one, else at the node."""
    nodes = model.definition.nodes
    places = [((*model.origin_prefix, "nodes", index), nodes[index].name is not None) for _, index in slots]
    problems = sibling_problems([(name, origin, written) for (name, _), (origin, written) in zip(slots, places)])
    for (name, _), (origin, written) in zip(slots, places):
        if not all(_COMPONENT.fullmatch(part) for part in name.split(".")):
            problems.append(((*origin, "name") if written else origin,
                             (f"expected a module name of letters, digits and `_` (dotted parts may be "
                             f"numbers: conv.0.1), found `{name}`"), "rename the node"))
    for (name, _), (origin, written) in zip(slots, places):
        if name.split(".")[0] in GRAPH_BLOCK_ATTRIBUTES:
            problems.append(((*origin, "name") if written else origin,
                             (f"module name `{name}` is reserved: archspec's GraphBlock, which holds "
                             "this block's modules, has an attribute of that name"),
                             f"use another name, e.g. `name: {name}_`"))
    return problems


def describe(model: type[BlockStage]) -> str:
    """One line for `archspec blocks`."""
    definition = getattr(model, "definition", None)
    text = (definition.description if definition is not None else (model.__doc__ or "").strip().split("\n")[0])
    return text or "(no description)"


__all__ = ["DefinedStage", "show", "stage_model"]
