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
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import ConfigDict, Field, SerializerFunctionWrapHandler, ValidationError, create_model, model_serializer

from archspec.blocks.base import BLOCKS, BlockStage, Shortcut, shortcut_node
from archspec.definitions import INPUT, MAX_NESTING, BlockDefinition, NodePlan, is_expression, node_plans, reads_index
from archspec.errors import SpecPath, did_you_mean, format_path
from archspec.expr import ExprError, interpolate
from archspec.graph import OPS, BlockGraph, Evaluator, Node, Op, Problem, Resolved, layer_node, register_op
from archspec.layers import LAYERS, derived
from archspec.names import GRAPH_BLOCK_ATTRIBUTES, sibling_problems
from archspec.nesting import DottedNameError, nest_dotted
from archspec.ops import ChannelRange
from archspec.requirements import use_problems
from archspec.shapes import Shape, show

_COMPONENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}|[0-9]{1,6}")  # a dotted name's parts, as a stage's


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
            known = 0
            for node in cls.definition.nodes:
                nested = cls.visible.get(node.block) if node.block is not None else None
                known += nested.nodes_per_copy() if isinstance(nested, type) and issubclass(nested, DefinedStage) \
                    else 1
                known = min(known, 10**9)
            cls._expanded = known  # type: ignore[attr-defined]
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
        use = Use(self, self.width, self.block_stride(index), shortcut, trace, 0, origin, index)
        return Node(str(index), "defined", ("input",), use, origin)


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


class Use(NamedTuple):
    """A block used at one place: a validated stage (or nested block) with this copy's settings."""

    stage: BlockStage
    width: int | None  # None: the input's channels (a nested block without `width`)
    stride: int
    shortcut: Shortcut
    trace: str  # how errors name the place: stages[1] (se_basic, copy 0) > nodes[5] (se)
    depth: int
    origin: SpecPath  # where the use is written (a stage, or a node of an enclosing definition)
    index: int = 0  # the copy's index in its stage (0 for a nested block)


class NestedUse(NamedTuple):
    """A block node inside a definition, before its input shape (and so its default width) is known."""

    kind: str
    model: type[BlockStage]
    values: tuple[tuple[str, Any], ...]
    stride: int
    shortcut: Shortcut
    trace: str
    depth: int
    origin: SpecPath


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
        graph = _lower(evaluator, use, x, qualname)
        result = None
        if graph is not None:
            block = Node(node.name, "block", node.inputs, graph, node.origin)
            result = evaluator.run_graph(block, x, qualname)
        _name_the_use(evaluator, before, use)
        if result is None:
            return None
        return result._replace(node=_concrete(result.node, result))


def _made(evaluator: Evaluator, use: NestedUse, x: Shape) -> Use | None:
    """The nested block's stage, validated now that its input's channels (its default width) are known."""
    values = dict(use.values)
    width = values.pop("width", None)
    try:
        stage = use.model.model_validate({"block": use.kind, "width": x[0] if width is None else width,
                                          "stride": use.stride, **values})
    except ValidationError as error:
        for item in error.errors(include_url=False):
            field = item["loc"][0] if item["loc"] else None
            evaluator.problem((*use.origin, field) if isinstance(field, str) else use.origin, use.trace,
                              f"{field}: {item['msg']}", None)
        return None
    return Use(stage, stage.width, use.stride, use.shortcut, use.trace, use.depth, use.origin)


def _name_the_use(evaluator: Evaluator, before: int, use: Use) -> None:
    """Prefixes the problems found while evaluating this use with the place that used the block."""
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
        evaluator.problems[number] = Problem(origin, f"{use.trace}{node_text}: {problem.message}",
                                             problem.hint, problem.detail)


def _concrete(block: Node, resolved: Resolved) -> Node:
    """`block` with every lazy `defined` node inside replaced by the concrete node it evaluated to."""
    graph: BlockGraph = block.payload
    children = iter(resolved.children)
    nodes = []
    for lazy in graph.nodes:
        node = lazy
        if OPS[lazy.op].makes_module:
            child = next(children)
            if lazy.op == "defined":
                node = child.node._replace(name=lazy.name, inputs=lazy.inputs, origin=lazy.origin)
            elif lazy.op == "block":
                node = _concrete(lazy, child)
        nodes.append(node)
    return block._replace(payload=graph._replace(nodes=tuple(nodes)))


class _Lowering:
    """One use of a definition made concrete at input shape `x`."""

    def __init__(self, evaluator: Evaluator, use: Use, x: Shape, qualname: str):
        stage = use.stage
        assert isinstance(stage, DefinedStage)
        self.evaluator, self.use, self.x, self.stage, self.qualname = evaluator, use, x, stage, qualname
        self.definition = stage.definition
        self.base = stage.origin_prefix
        self.failed = False
        self.environment: dict[str, object] = {"width": use.width if use.width is not None else x[0],
                                               "stride": use.stride, "in": x[0], "index": use.index}
        for name, value in stage.field_values().items():
            self.environment[name] = (self.value(value, (*self.base, "fields", name), f"{qualname} field `{name}`")
                                      if is_expression(value) else value)
        if self.definition.requires and not self.failed:
            self.require()

    def require(self) -> None:
        """The definition's `requires:`, each unmet one an error at the use, before any node is made."""
        settable = {*self.definition.fields, "width", "stride"}  # what a use writes, where it does
        written = {name for name in self.stage.model_fields_set if name in settable}
        for where, message, hint in use_problems(self.stage.kind_name, self.definition.fields,
                                                 self.definition.requires, self.environment, written,
                                                 self.use.origin):
            # A nested use's trace ends with its module name already (`... > layer2.0.se`).
            self.problem(where, self.use.trace if self.use.depth > 0 else self.qualname, message, hint)

    def problem(self, where: SpecPath, what: str, message: str, hint: str | None = None) -> None:
        self.failed = True
        self.evaluator.problem(where, what, message, hint)

    def value(self, value: Any, where: SpecPath, what: str) -> Any:
        if isinstance(value, list):
            return tuple(self.value(item, where, what) for item in value)
        if not is_expression(value):
            return value
        try:
            return interpolate(value, self.environment)
        except ExprError as error:
            self.problem(where, what, error.message, error.hint)
            return None

    def graph(self) -> BlockGraph | None:
        actual: dict[str, str | None] = {INPUT: INPUT}  # a definition's node name -> the value it stands for
        nodes: list[Node] = []
        plans = self.stage.plans()
        for plan, where in plans:
            spec_node, name = plan.node, plan.name
            what = f"{self.qualname}.{plan.shown}"
            inputs = [actual.get(read) for read in plan.reads]
            if spec_node.when is not None:
                keep = self.value(spec_node.when, (*where, "when"), what)
                if keep is None:
                    actual[name] = None
                    continue
                if not keep:
                    actual[name] = actual.get(spec_node.otherwise) if spec_node.otherwise else inputs[0]
                    continue
            module_name = self.value(plan.shown, (*where, "name"), what) if is_expression(plan.shown) else plan.shown
            if isinstance(module_name, int) and not isinstance(module_name, bool) and module_name >= 0:
                module_name = str(module_name)  # `name: "${shift + 1}"`: a position, as in nn.Sequential
            if not isinstance(module_name, str) or not module_name:
                self.problem((*where, "name"), what, f"expected a name, found {module_name!r}")
                actual[name] = None
                continue
            what = f"{self.qualname}.{module_name}"  # the evaluated name (`block.1`), not `${...}`
            made = self.node(plan, module_name, [i for i in inputs if i is not None] if
                             spec_node.op == "add" else inputs, where, what, nodes)
            if made is None or isinstance(made, str):
                actual[name] = made
                continue
            nodes.append(made)
            actual[name] = module_name
        output = actual.get(self.definition.output or plans[-1][0].name)
        if self.failed or output is None or not nodes:
            if not self.failed and not nodes:
                self.problem(self.base, self.use.trace, "every node of the block is left out here",
                             "keep at least one node for these fields (`when:`)")
            return None
        if not self.names_hold(nodes):
            return None
        try:
            nested, output = nest_dotted(nodes, output)
        except DottedNameError as error:
            for problem in error.problems:
                self.problem(problem.origin, self.qualname, problem.message, problem.hint)
            return None
        chain = all(node.inputs == ((nested[i - 1].name if i else INPUT),) and OPS[node.op].makes_module
                    for i, node in enumerate(nested)) and output == nested[-1].name
        return BlockGraph(self.stage.kind_name, nested, output, sequential=chain)

    def names_hold(self, nodes: list[Node]) -> bool:
        """The module names (after `${...}` in names) keep the rules every module name keeps, and
        none is an attribute of the GraphBlock that holds them."""
        index = len(self.base) + 1  # a node's origin: (*base, "nodes", index, ...)
        problems = self.stage.name_problems(tuple((node.name, int(node.origin[index])) for node in nodes
                                                  if OPS[node.op].makes_module))
        for origin, message, hint in problems:
            self.problem(origin, self.qualname, message, hint)
        return not problems

    def node(self, plan: NodePlan, name: str, inputs: list[str | None], where: SpecPath, what: str,
             nodes: list[Node]) -> Node | str | None:
        """The concrete node; or the name of the value it stands for (an identity shortcut, an
        addition left with one input); or None where it failed or was removed."""
        spec_node = plan.node
        settings = {key: self.value(value, (*where, key), what) if variable else value
                    for key, value, variable in plan.settings}
        if None in settings.values():
            return None
        if spec_node.layer is not None:
            kind = plan.layer or self.layer_kind(spec_node.layer, where, what)
            if kind is None:
                return None
            try:
                layer = derived(LAYERS[kind], layer=kind, **settings)
            except ValidationError as error:
                for item in error.errors(include_url=False):
                    key = item["loc"][0] if item["loc"] else None
                    shown = settings.get(key) if isinstance(key, str) else None
                    written = spec_node.settings.get(key) if isinstance(key, str) else None
                    hint = f"`{written}` gives {shown!r}" if is_expression(written) else None
                    self.problem((*where, key) if isinstance(key, str) else where, what,
                                 f"{key}: {item['msg']}" if key else item["msg"], hint)
                return None
            except TypeError:  # an unhashable value (a list within a list): refused by the layer's rule
                self.problem(where, what, "expected numbers or pairs of numbers as values")
                return None
            if None in inputs or not inputs:
                return None  # it reads a failed value
            return layer_node(name, layer, where, *inputs, written=True)  # type: ignore[arg-type]
        if None in inputs or not inputs:
            return None  # it reads a removed shortcut or a failed value: nothing more to say
        if spec_node.op is not None:
            if spec_node.op == "add" and len(inputs) == 1:
                return inputs[0]  # the stage's shortcut option `none` removed the other side
            payload = None
            if spec_node.op == "slice":
                bounds = {key: settings.get(key, 0) for key in ("start", "stop")}
                wrong = [key for key, value in bounds.items() if isinstance(value, bool) or not isinstance(value, int)]
                for key in wrong:
                    self.problem((*where, key), what, f"{key}: expected a whole number of channels, found "
                                 f"{bounds[key]!r}", f"`{spec_node.settings[key]}` gives {bounds[key]!r}"
                                 if is_expression(spec_node.settings[key]) else None)
                if wrong:
                    return None
                payload = ChannelRange(bounds["start"], bounds["stop"])
            return Node(name, spec_node.op, tuple(inputs), payload, where)  # type: ignore[arg-type]
        if spec_node.shortcut is not None:
            return self.shortcut(spec_node, name, inputs[0], settings, where, what, nodes)  # type: ignore[arg-type]
        return self.nested(spec_node, name, inputs, settings, where, what)

    def layer_kind(self, written: str, where: SpecPath, what: str) -> str | None:
        """The layer kind of a node: as written, or the value of its `${...}` (a field naming an
        activation, as torchvision's `activation_layer`), which must name a layer kind."""
        kind = self.value(written, (*where, "layer"), what)
        if kind is None:
            return None
        if not isinstance(kind, str) or kind not in LAYERS:
            self.problem((*where, "layer"), what, (f"`{written}` gives {kind!r}, which is not a layer kind; "
                         f"expected one of: {', '.join(LAYERS.names())}"),
                         did_you_mean(str(kind), LAYERS.names()) or "give the field a layer kind, e.g. `relu`")
            return None
        return kind

    def shortcut(self, spec_node: Any, name: str, source: str, settings: dict[str, Any], where: SpecPath,
                 what: str, nodes: list[Node]) -> Node | str | None:
        option = self.use.shortcut if spec_node.shortcut == "stage" else spec_node.shortcut
        if option == "none":
            return None
        width = settings.get("width", self.environment["width"])
        stride = settings.get("stride", self.environment["stride"])
        for key, value in (("width", width), ("stride", stride)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self.problem((*where, key), what, f"{key}: expected a whole number of at least 1, found {value!r}",
                             f"`{spec_node.settings[key]}` gives {value!r}" if key in spec_node.settings else None)
                return None
        x = self.x if source == INPUT else _shape_of(source, nodes, self.x)
        if x is None:
            return None
        try:
            branch = shortcut_node(x, width, stride, option, where, name=name)
        except ValidationError as error:  # beyond a layer's bounds (a stride above 4096, ...)
            item = error.errors(include_url=False)[0]  # one per value: not each member of a union
            key = item["loc"][0] if item["loc"] and item["loc"][0] in ("width", "stride") else None
            self.problem((*where, key) if isinstance(key, str) else where, what, f"{key}: {item['msg']}")
            return None
        return source if branch is None else branch._replace(inputs=(source,))

    def nested(self, spec_node: Any, name: str, inputs: list[str | None], settings: dict[str, Any],
               where: SpecPath, what: str) -> Node:
        kind = spec_node.block
        model = self.stage.visible.get(kind) or BLOCKS[kind]
        stride = settings.pop("stride", 1)
        use = NestedUse(kind, model, tuple(settings.items()), stride, self.use.shortcut,
                        f"{self.use.trace} > {what}", self.use.depth + 1, where)
        return Node(name, "defined", tuple(inputs), use, where)  # type: ignore[arg-type]


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


def _lower(evaluator: Evaluator, use: Use, x: Shape, qualname: str) -> BlockGraph | None:
    lowering = _Lowering(evaluator, use, x, qualname)
    return None if lowering.failed else lowering.graph()  # a field or requirement failed: nothing to make


def _shape_of(name: str, nodes: list[Node], x: Shape) -> Shape | None:
    """The output shape of an earlier node (for a shortcut that reads one), by a scratch evaluation."""
    scratch = Evaluator()
    result = scratch.run_graph(Node("probe", "block", ("input",), BlockGraph("probe", tuple(nodes), name)),
                               x, "probe")
    return None if result is None else result.out_shape


def describe(model: type[BlockStage]) -> str:
    """One line for `archspec blocks`."""
    definition = getattr(model, "definition", None)
    text = (definition.description if definition is not None else (model.__doc__ or "").strip().split("\n")[0])
    return text or "(no description)"


__all__ = ["DefinedStage", "show", "stage_model"]
