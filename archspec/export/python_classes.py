"""The classes of the generated PyTorch source: which nodes share a class, and its parameters.

The checked graph is walked side by side with the compiled module: the graph gives structure and
shapes, the module each layer's exact constructor arguments and attribute names (so the state_dict
keys are the compiled module's by construction). Every composite node (residual block, concatenation,
sequence of named layers) is a `Block`; blocks with the same structure (same layers under the same
names) share a `Group`, which becomes one class. Constructor arguments that differ between a group's
blocks become the class's parameters; equal ones stay literals. Nothing here knows a block kind.
"""

from __future__ import annotations

import inspect
import keyword
from dataclasses import dataclass, field

import torch
from torch import nn

from archspec import modules
from archspec.export import ExportError
from archspec.graph import Resolved
from archspec.nesting import CONTAINER_KIND
from archspec.shapes import Shape

# archspec's own leaf modules; the generated file carries a copy of each one used (python_source.py).
OWN_MODULES = (modules.ZeroPadShortcut, modules.ChannelShuffle, modules.LayerScale, modules.LayerNorm2d,
               modules.StochasticDepth, modules.PointwiseLinear)
CHANNELS = "channels"  # the category of every channel or feature count
_CHANNEL_ARGUMENTS = frozenset({"in_channels", "out_channels", "num_features", "in_features",
                                "out_features"})
_NOT_ARGUMENTS = frozenset({"self", "device", "dtype"})
_RESERVED = frozenset({"self", "x", "nn", "torch", "super"})  # names a parameter must not shadow


@dataclass(frozen=True)
class Argument:
    name: str
    value: object
    default: object  # inspect.Parameter.empty when the argument is required


@dataclass
class Leaf:
    attr: str
    resolved: Resolved
    callee: str  # nn.Conv2d, or the name of one of OWN_MODULES
    arguments: tuple[Argument, ...]


@dataclass
class Listing:
    """An nn.Sequential whose children are numbered 0, 1, ... (a stage, a projection shortcut)."""

    attr: str
    resolved: Resolved
    items: list[Item]


@dataclass
class Block:
    attr: str
    resolved: Resolved
    children: list[Item]
    group: Group
    index: int  # position among its group's blocks


Item = Leaf | Listing | Block


@dataclass
class Param:
    name: str
    category: str  # CHANNELS, or the argument's name (stride, kernel_size, ...)
    values: tuple[object, ...]  # one per block of the group


@dataclass
class Group:
    """Blocks of one structure: one class of the generated source."""

    number: int
    blocks: list[Block] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    slots: dict[str, Param | object] = field(default_factory=dict)  # slot path -> Param or literal
    in_stage: bool = False  # a stage's block, not a part of one (an Inception branch)
    name: str = ""

    @property
    def first(self) -> Block:
        return self.blocks[0]

    def text(self, slot: str) -> str:
        value = self.slots[slot]
        return value.name if isinstance(value, Param) else repr(value)

    def is_default(self, slot: str, default: object) -> bool:
        value = self.slots[slot]
        return not isinstance(value, Param) and type(value) is type(default) and value == default

    def shape_text(self, shapes: list[Shape], channels: str | None = None) -> str | None:
        """'N x out_channels x H/2 x W/2': one shape, exact for every block of the group (else None).
        `channels`: how to write the channel count when no single parameter holds it."""
        inputs = [block.resolved.in_shape for block in self.blocks]
        if len({len(shape) for shape in shapes}) != 1:
            return None
        parts = ["N"]
        for dim in range(len(shapes[0])):
            text = self._dim_text(dim, tuple(shape[dim] for shape in shapes), inputs)
            text = channels if text is None and dim == 0 else text
            if text is None:
                return None
            parts.append(text)
        return " x ".join(parts)

    def _dim_text(self, dim: int, values: tuple[int, ...], inputs: list[Shape]) -> str | None:
        if len(set(values)) == 1:
            return str(values[0])
        if dim == 0:
            return next((p.name for p in self.params if p.category == CHANNELS and p.values == values),
                        None)
        if any(len(shape) != 3 for shape in inputs):
            return None
        symbol, sizes = "HW"[dim - 1], [shape[dim] for shape in inputs]
        if list(values) == sizes:
            return symbol
        ratios = {size // value if size % value == 0 else 0 for size, value in zip(sizes, values)}
        if len(ratios) == 1 and 0 not in ratios:
            return f"{symbol}/{ratios.pop()}"
        for param in self.params:
            if all(isinstance(p, int) and size == value * p
                   for size, value, p in zip(sizes, values, param.values)):
                return f"{symbol}/{param.name}"
        return None


@dataclass
class Collector:
    """Walks the graph and the module together; collects groups, children before their parents."""

    groups: list[Group] = field(default_factory=list)
    own_modules: set[type] = field(default_factory=set)
    _by_structure: dict[tuple, Group] = field(default_factory=dict)

    def item(self, attr: str, resolved: Resolved, module: nn.Module) -> Item:
        if not resolved.children and resolved.node.op == "layer":
            return Leaf(attr, resolved, *self._call(module))
        bare = dict(module.named_parameters(recurse=False))  # modules.bare_parameter: ConvNeXt's layer_scale
        named = list(module.named_children())
        if len(named) + len(bare) != len(resolved.children):
            raise ExportError(f"internal error: {resolved.qualname or 'the network'} has "
                              f"{len(named)} modules but {len(resolved.children)} nodes")
        modules_left = iter(named)
        items = []
        for child in resolved.children:
            name = child.qualname.rpartition(".")[2]
            if name in bare:
                items.append(_bare_leaf(name, child, bare[name]))
            else:
                name, child_module = next(modules_left)
                items.append(self.item(name, child, child_module))
        if resolved.node.kind == "stage":
            for block in items:
                if isinstance(block, Block):
                    block.group.in_stage = True
        if type(module) is nn.Sequential and [i.attr for i in items] == [str(n) for n in range(len(items))]:
            return Listing(attr, resolved, items)
        # A block: equal graphs (names, ops, inputs, and a slice's channel range, which the source
        # writes as numbers: ShuffleNet's x[:, 0:58]) share a class.
        graph = resolved.node.payload
        shape = (tuple((n.name, n.op, n.inputs, n.payload if n.op == "slice" else None) for n in graph.nodes),
                 graph.output, graph.sequential)
        structure = (graph.kind, shape, tuple(_structure(i) for i in items))
        group = self._by_structure.get(structure)
        if group is None:
            group = self._by_structure[structure] = Group(len(self.groups))
            self.groups.append(group)
        block = Block(attr, resolved, items, group, len(group.blocks))
        group.blocks.append(block)
        return block

    def _call(self, module: nn.Module) -> tuple[str, tuple[Argument, ...]]:
        """The constructor and its arguments, read back from the module's attributes."""
        cls = type(module)
        if cls in OWN_MODULES:
            self.own_modules.add(cls)
            callee = cls.__name__
        elif getattr(nn, cls.__name__, None) is cls:
            callee = f"nn.{cls.__name__}"
        else:
            raise ExportError(f"cannot write a {cls.__module__}.{cls.__name__} as Python source; "
                              "add it to archspec/export/python_classes.py")
        arguments = []
        for parameter in inspect.signature(cls.__init__).parameters.values():
            if parameter.name in _NOT_ARGUMENTS or parameter.kind in (parameter.VAR_POSITIONAL,
                                                                      parameter.VAR_KEYWORD):
                continue
            if not hasattr(module, parameter.name):
                raise ExportError(f"cannot read the argument `{parameter.name}` back from a {cls.__name__}")
            value = _plain(getattr(module, parameter.name), parameter.default, cls.__name__.endswith("2d"))
            arguments.append(Argument(parameter.name, value, parameter.default))
        return callee, tuple(arguments)


BARE = "nn.Parameter"  # a Leaf's callee for a block's bare parameter (python_source writes it)


def _bare_leaf(attr: str, resolved: Resolved, parameter: nn.Parameter) -> Leaf:
    """A layer_scale held bare: `nn.Parameter(torch.ones(channels, 1, 1) * scale)`, used as a factor."""
    empty = inspect.Parameter.empty
    return Leaf(attr, resolved, BARE, (Argument("channels", parameter.shape[0], empty),
                                       Argument("scale", resolved.node.payload.scale, empty)))


def assign_params(groups: list[Group]) -> None:
    """Decides each group's literals and parameters; groups come children first."""
    for group in groups:
        columns: dict[str, tuple[str, list[object]]] = {}
        for block in group.blocks:
            for path, category, value in _slots(block.children):
                columns.setdefault(path, (category, []))[1].append(value)
        by_values: dict[tuple[str, tuple], Param] = {}
        for path, (category, values) in columns.items():
            if all(value == values[0] and type(value) is type(values[0]) for value in values):
                group.slots[path] = values[0]
                continue
            key = (category, tuple(values))
            if key not in by_values:
                by_values[key] = Param(path, category, tuple(values))
            group.slots[path] = by_values[key]
        group.params = sorted(by_values.values(), key=lambda p: p.category != CHANNELS)
        _name_params(group)


def base_name(group: Group, camel: str) -> str:
    """A stage's block or any residual or concatenation: BasicBlock, VggBlock, InceptionBlock. Else
    the kind (Branch, for a part of a block) or, for a stage of named layers, its name (Layer3)."""
    node = group.first.resolved.node
    if node.kind in ("stage", CONTAINER_KIND) or not (group.in_stage or not node.payload.sequential):
        return camel
    return camel + ("" if camel.lower().endswith("block") else "Block")


def _structure(item: Item) -> tuple:
    if isinstance(item, Leaf):
        return (item.attr, item.callee, tuple(a.name for a in item.arguments))
    if isinstance(item, Listing):
        return (item.attr, "listing", tuple(_structure(i) for i in item.items))
    return (item.attr, item.group.number)


def _slots(items: list[Item], prefix: str = ""):
    """(slot path, category, value) for every constructor argument inside a block."""
    for item in items:
        path = prefix + item.attr
        if isinstance(item, Leaf):
            for argument in item.arguments:
                category = CHANNELS if argument.name in _CHANNEL_ARGUMENTS else argument.name
                yield f"{path}.{argument.name}", category, argument.value
        elif isinstance(item, Listing):
            yield from _slots(item.items, path + ".")
        else:
            for param in item.group.params:
                yield f"{path}.{param.name}", param.category, param.values[item.index]


def _name_params(group: Group) -> None:
    """in_channels / out_channels / channels / width for channel counts, else the argument's name."""
    ins = tuple(block.resolved.in_shape[0] for block in group.blocks)
    outs = tuple(block.resolved.out_shape[0] for block in group.blocks)
    inner = [p for p in group.params if p.category == CHANNELS and p.values not in (ins, outs)]
    categories = [p.category for p in group.params]
    taken: set[str] = set()
    for param in group.params:
        path = param.name  # until named, a Param holds the path of its first slot
        if param.category == CHANNELS:
            name = ("channels" if param.values == ins == outs else "in_channels" if param.values == ins
                    else "out_channels" if param.values == outs else "width" if len(inner) == 1
                    else path.replace(".", "_"))
        else:
            name = param.category if categories.count(param.category) == 1 else path.replace(".", "_")
        if not name.isidentifier() or keyword.iskeyword(name) or name in _RESERVED:
            name = "arg_" + name.replace(".", "_")
        while name in taken:
            name += "_"
        taken.add(name)
        param.name = name


def _plain(value: object, default: object, square: bool) -> object:
    if isinstance(default, bool) and (value is None or isinstance(value, torch.Tensor)):
        return value is not None  # `bias`: a parameter, or None when built with bias=False
    if square and isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
        return value[0]  # a 2-d layer reads 3 as (3, 3)
    return value
