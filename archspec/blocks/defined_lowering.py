"""Making one use of a block kind defined in YAML concrete: its graph at one input shape.

`_Lowering` evaluates the definition's expressions for a use (the stage's fields, `width`, `stride`,
`in`, `index`), refuses unmet `requires:`, and makes each node: layers validated as written ones,
joins, the stage's shortcut option, nested blocks as lazy `defined` nodes (archspec/blocks/defined.py
makes them concrete in turn when they are evaluated). Errors are located at the node's key in the
definition; the `defined` op names the stage and copy that used it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError

from archspec.blocks.base import BLOCKS, BlockStage, Shortcut, mismatch_hint, shortcut_node
from archspec.blocks.defined_plans import NodePlan
from archspec.blocks.defined_settings import Root, bool_problem, misplaced_bools, root_field, settings_problems
from archspec.definitions import INPUT, is_expression
from archspec.errors import SpecPath, did_you_mean
from archspec.expr import Compiled, ExprError, interpolate
from archspec.expr_operations import shown_value
from archspec.graph import OPS, BlockGraph, Evaluator, Node, layer_node
from archspec.layers import LAYERS, LayerBase, derived
from archspec.nesting import DottedNameError, nest_dotted
from archspec.ops import ChannelRange, JoinText
from archspec.process_memo import forgettable
from archspec.requirements import use_problems
from archspec.shapes import Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage


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
    root: Root = ((), ())  # the stage that holds this use, nested or not, and the fields it wrote
    written: tuple[tuple[str, Any], ...] = ()  # a nested use's settings as its enclosing definition writes them


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
    root: Root
    written: tuple[tuple[str, Any], ...] = ()  # the node's settings as the definition writes them


class _Lowering:
    """One use of a definition made concrete at input shape `x`."""

    def __init__(self, evaluator: Evaluator, use: Use, x: Shape, qualname: str):
        stage: DefinedStage = use.stage  # type: ignore[assignment]
        assert hasattr(stage, "definition"), "a kind defined in YAML (DefinedStage)"
        self.evaluator, self.use, self.x, self.stage, self.qualname = evaluator, use, x, stage, qualname
        self.definition = stage.definition
        self.base = stage.origin_prefix
        self.failed = False
        # shortcut nodes that are the identity where the shape changes -> (how a join names one, hint)
        self.identities: dict[str, tuple[str, str]] = {}
        environment = self.environment = {"width": use.width if use.width is not None else x[0],
                                           "stride": use.stride, "in": x[0], "index": use.index}
        for name in self.definition.fields:
            value = getattr(stage, name)
            environment[name] = (self.value(value, (*self.base, "fields", name), f"{qualname} field `{name}`")
                                 if isinstance(value, str) and "${" in value else value)
        if self.definition.requires and not self.failed and not self.requirements_hold():
            self.require()

    def requirements_hold(self) -> bool:
        """Whether every `requires:` entry is true here: the common case, told without saying what fails."""
        functions = self.stage.requirements()
        if functions is None:
            return False
        try:
            for function in functions:
                if function(self.environment) is not True:
                    return False
        except ExprError:
            return False
        return True

    def require(self) -> None:
        """The definition's `requires:`, each unmet one an error at the use, before any node is made."""
        settable = {*self.definition.fields, "width", "stride"}  # what a use writes, where it does
        written = {name for name in self.stage.model_fields_set if name in settable}
        for at, message, hint in use_problems(self.stage.kind_name, self.definition.fields,
                                              self.definition.requires, self.environment, written,
                                              self.use.origin):
            where = at
            if self.use.depth > 0 and len(at) > len(self.use.origin):  # at the stage's field it carries
                field = at[-1]
                where = root_field(self.use.root, dict(self.use.written).get(field), self.environment.get(field)) or at
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

    def evaluated(self, function: Compiled, where: SpecPath, key: str, shown: str) -> Any:
        """`value` of node `shown`'s `key`, a string that holds `${...}`, by its function (what is said
        where it fails is what `value` says)."""
        try:
            return function(self.environment)
        except ExprError as error:
            self.problem((*where, key), f"{self.qualname}.{shown}", error.message, error.hint)
            return None

    def graph(self) -> BlockGraph | None:
        actual: dict[str, str | None] = {INPUT: INPUT}  # a definition's node name -> the value it stands for
        nodes: list[Node] = []
        slots: list[tuple[str, int]] = []  # (name, node index) of each module made, for `names_hold`
        plans = self.stage.plans()
        environment = self.environment
        for plan, where in plans:
            spec_node, name, reads = plan.node, plan.name, plan.reads
            inputs = [actual.get(reads[0])] if len(reads) == 1 else [actual.get(read) for read in reads]
            if plan.when is not None:
                keep = self.evaluated(plan.when, where, "when", plan.shown)
                if keep is not None and not isinstance(keep, bool):  # as `requires`: 0 or 2 is no condition
                    self.problem((*where, "when"), f"{self.qualname}.{plan.shown}",
                                 f"expected true or false, found {keep!r}", "compare values, e.g. `${stride > 1}`")
                    keep = None
                if keep is None:
                    actual[name] = None
                    continue
                if not keep:
                    actual[name] = actual.get(spec_node.otherwise) if spec_node.otherwise else inputs[0]
                    continue
            module_name = plan.shown if plan.naming is None else self.evaluated(plan.naming, where, "name", plan.shown)
            if isinstance(module_name, int) and not isinstance(module_name, bool) and module_name >= 0:
                module_name = str(module_name)  # `name: "${shift + 1}"`: a position, as in nn.Sequential
            if not isinstance(module_name, str) or not module_name:
                self.problem((*where, "name"), f"{self.qualname}.{plan.shown}",
                             f"expected a name, found {shown_value(module_name)}")
                actual[name] = None
                continue
            if plan.layer_model is not None and None not in inputs:  # the common case, said by `node` if it fails
                try:
                    settings = {key: value if function is None else function(environment)
                                for key, value, function in plan.settings}
                    if misplaced_bools(plan.layer_model, settings):
                        raise TypeError
                    layer = derived(plan.layer_model, layer=plan.layer, **settings)
                except (ExprError, ValidationError, TypeError):
                    pass
                else:
                    nodes.append(Node._make((module_name, "layer", tuple(inputs), layer, where, True)))
                    slots.append((module_name, where[-1]))
                    actual[name] = module_name
                    continue
            what = f"{self.qualname}.{module_name}"  # the evaluated name (`block.1`), not `${...}`
            made = self.node(plan, module_name, [i for i in inputs if i is not None] if
                             spec_node.op == "add" else inputs, where, what, nodes)
            if made is None or isinstance(made, str):
                actual[name] = made
                continue
            nodes.append(made)
            if OPS[made.op].makes_module:
                slots.append((made.name, where[-1]))
            actual[name] = module_name
        output = actual.get(self.definition.output or plans[-1][0].name)
        if self.failed or output is None or not nodes:
            if not self.failed and not nodes:
                self.problem(self.base, self.use.trace, "every node of the block is left out here",
                             "keep at least one node for these fields (`when:`)")
            return None
        if not self.names_hold(tuple(slots)):
            return None
        try:
            nested, output = nest_dotted(nodes, output)
        except DottedNameError as error:
            for problem in error.problems:
                self.problem(problem.origin, self.qualname, problem.message, problem.hint)
            return None
        chain, previous = output == nested[-1].name, INPUT  # a chain of modules: built as an nn.Sequential
        for node in nested:
            if not chain:
                break
            chain, previous = node.inputs == (previous,) and OPS[node.op].makes_module, node.name
        return BlockGraph(self.stage.kind_name, nested, output, sequential=chain)

    def names_hold(self, slots: tuple[tuple[str, int], ...]) -> bool:
        """The module names (after `${...}` in names) keep the rules every module name keeps, and
        none is an attribute of the GraphBlock that holds them. `slots`: (name, node index) of each module."""
        problems = self.stage.name_problems(slots)
        for origin, message, hint in problems:
            self.problem(origin, self.qualname, message, hint)
        return not problems

    def node(self, plan: NodePlan, name: str, inputs: list[str | None], where: SpecPath, what: str,
             nodes: list[Node]) -> Node | str | None:
        """The concrete node; or the name of the value it stands for (an identity shortcut, an
        addition left with one input); or None where it failed or was removed."""
        spec_node = plan.node
        environment = self.environment
        try:
            settings = {key: value if function is None else function(environment)
                        for key, value, function in plan.settings}
        except ExprError:  # said setting by setting, every failing one
            settings = {key: value if function is None else self.value(value, (*where, key), what)
                        for key, value, function in plan.settings}
        if None in settings.values():
            return None
        if spec_node.layer is not None:
            kind = plan.layer or self.layer_kind(spec_node.layer, where, what, settings)
            if kind is None:
                return None
            bools = misplaced_bools(plan.layer_model or LAYERS[kind], settings)
            for key in bools:
                self.problem((*where, key), what, *bool_problem(key, settings[key], spec_node.settings[key]))
            if bools:
                return None
            try:
                layer = derived(plan.layer_model or LAYERS[kind], layer=kind, **settings)
            except ValidationError as error:
                for key, message, hint in settings_problems(error, settings, spec_node.settings):
                    self.problem((*where, *key), what, message, hint)
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
            payload: Any = None
            if spec_node.op == "add" and self.identities and len(inputs) == len(plan.reads):
                payload = self.identity_join(name, plan.reads, inputs)  # type: ignore[arg-type]
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
            return self.shortcut(spec_node, name, inputs[0], settings, where, what, nodes,  # type: ignore[arg-type]
                                 plan.name)
        return self.nested(spec_node, name, inputs, settings, where, what)

    def layer_kind(self, written: str, where: SpecPath, what: str, given: dict[str, Any]) -> str | None:
        """The layer kind of a node: as written, or the value of its `${...}` (a field naming an
        activation, as torchvision's `activation_layer`), which must name a layer kind that this node
        can make with the settings it gives."""
        kind = self.value(written, (*where, "layer"), what)
        if kind is None:
            return None
        if not isinstance(kind, str) or kind not in LAYERS:
            self.problem((*where, "layer"), what,
                         (f"`{written}` gives {kind!r}, which is not a layer kind; "
                          f"expected one of: {', '.join(LAYERS.names())}"),
                         did_you_mean(str(kind), LAYERS.names()) or "give the field a layer kind, e.g. `relu`")
            return None
        missing = [name for name in _required(LAYERS[kind]) if name not in given]
        if missing and is_expression(written):
            settled = [name for name in LAYERS.names() if not any(
                field.is_required() and key != "layer" and key not in given
                for key, field in LAYERS[name].model_fields.items())]
            self.problem((*where, "layer"), what,
                         (f"`{written}` gives `{kind}`, a layer kind that needs "
                          f"{', '.join(f'`{name}`' for name in missing)}, which this node does not give"),
                         f"name a layer kind that needs nothing more here: {', '.join(settled)}")
            return None
        return kind

    def identity_join(self, name: str, reads: tuple[str, ...], inputs: list[str]) -> JoinText | None:
        """An addition's wording where it reads a shortcut node that the stage's option made the identity
        though the shape changes: the node goes by its name, and the hint names the option to use."""
        marked = [self.identities.get(read) for read in reads]
        hint = next((mark[1] for mark in marked if mark is not None), None)
        if hint is None:
            return None
        labels = tuple(f"`{value}`" if mark is None else mark[0] for mark, value in zip(marked, inputs))
        return JoinText(f"the addition `{name}`", labels, hint)

    def shortcut(self, spec_node: Any, name: str, source: str, settings: dict[str, Any], where: SpecPath,
                 what: str, nodes: list[Node], read_as: str) -> Node | str | None:
        option = self.use.shortcut if spec_node.shortcut == "stage" else spec_node.shortcut
        if option == "none":
            return None
        width = settings.get("width", self.environment["width"])
        stride = settings.get("stride", self.environment["stride"])
        for key, value in (("width", width), ("stride", stride)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                shown = shown_value(value)
                self.problem((*where, key), what, f"{key}: expected a whole number of at least 1, found {shown}",
                             f"`{spec_node.settings[key]}` gives {shown}" if key in spec_node.settings else None)
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
        if branch is None:
            if stride != 1 or x[0] != width:  # only an addition that does not fit will say it
                hint = mismatch_hint(x, width, stride, option)
                if spec_node.shortcut == "stage":  # the option is written at the stage (or the spec's top level)
                    hint += " (the stage's `shortcut:`)"
                self.identities[read_as] = (f"`{read_as}` (shortcut `{option}`: the identity)", hint)
            return source
        return branch._replace(inputs=(source,))

    def nested(self, spec_node: Any, name: str, inputs: list[str | None], settings: dict[str, Any],
               where: SpecPath, what: str) -> Node:
        kind = spec_node.block
        model = self.stage.visible.get(kind) or BLOCKS[kind]
        stride = settings.pop("stride", 1)
        use = NestedUse(kind, model, tuple(settings.items()), stride, self.use.shortcut,
                        f"{self.use.trace} > {what}", self.use.depth + 1, where, self.use.root,
                        tuple(spec_node.settings.items()))
        return Node(name, "defined", tuple(inputs), use, where)  # type: ignore[arg-type]


_REQUIRED: dict[type, tuple[str, ...]] = {}
forgettable(_REQUIRED.clear)


def _required(model: type[LayerBase]) -> tuple[str, ...]:
    """The settings a layer kind cannot do without (besides `layer`), found once per kind."""
    found = _REQUIRED.get(model)
    if found is None:
        found = _REQUIRED[model] = tuple(name for name, field in model.model_fields.items()
                                         if field.is_required() and name != "layer")
    return found


def lower_use(evaluator: Evaluator, use: Use, x: Shape, qualname: str) -> BlockGraph | None:
    lowering = _Lowering(evaluator, use, x, qualname)
    return None if lowering.failed else lowering.graph()  # a field or requirement failed: nothing to make


def _shape_of(name: str, nodes: list[Node], x: Shape) -> Shape | None:
    """The output shape of an earlier node (for a shortcut that reads one), by a scratch evaluation."""
    scratch = Evaluator()
    result = scratch.run_graph(Node("probe", "block", ("input",), BlockGraph("probe", tuple(nodes), name)),
                               x, "probe")
    return None if result is None else result.out_shape


