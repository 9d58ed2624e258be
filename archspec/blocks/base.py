"""What every block kind shares: the stage fields, the registry, and the shortcut options.

A stage is `repeats` copies of one block kind; the first copy takes the stage's `stride` (and any
change of width), the others keep the shape. A block kind subclasses `BlockStage`, registers itself
in `BLOCKS`, and implements `lower`, which turns one copy into a graph of primitive layers, and
`facts`, its static twin: the same copy's figures computed without making the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from operator import itemgetter
from typing import Annotated, ClassVar, Literal, NamedTuple

from pydantic import ConfigDict, Field

from archspec.budget import Moment, buffer_bytes, layer_moment, node_peak, sequence_peak
from archspec.errors import SpecPath
from archspec.graph import INPUT, Evaluator, Node, layer_node, sequence
from archspec.layer_rules import conv_facts, conv_working, norm_working, zero_pad_facts
from archspec.layers import (
    AvgPool,
    BatchNorm,
    Conv,
    Count,
    LayerBase,
    ModuleName,
    ZeroPad,
    ZeroPadShortcut,
    derived,
)
from archspec.layers_modern import Identity
from archspec.process_memo import forget_all, forgettable
from archspec.registry import Registry
from archspec.shapes import Pair, Shape
from archspec.validated import ValidatedCopies

# A name pattern: starts with a letter, one {index} or {number}; `-` allowed (torchvision's RegNet
# names its blocks block1-0, block1-1, ...).
# A copy name may sit in containers, as a dotted name does (`denseblock1.denselayer{number}`: the copies
# of a list stage's entry become modules of its container `denseblock1`).
COPY_NAMES_PATTERN = (r"^(?:[A-Za-z_][A-Za-z0-9_]{0,63}\.(?:(?:[A-Za-z_][A-Za-z0-9_]{0,63}|[0-9]{1,6})\.){0,14})?"
                      r"[A-Za-z_][A-Za-z0-9_-]{0,40}(\{index\}|\{number\})[A-Za-z0-9_-]{0,20}$")

Shortcut = Literal["A", "B", "C", "D", "identity", "none"]
SHORTCUT_HELP = {
    "A": "identity; where the shape changes, subsample by the stride and zero-pad the channels",
    "B": "identity; where the shape changes, a 1x1 projection + BatchNorm",
    "C": "a 1x1 projection + BatchNorm on every block",
    "D": "identity; where the shape changes, a 2x2 average pool (stride; ceil_mode, no padding counted) "
         "then a 1x1 projection + BatchNorm (ResNet-D, Bag of Tricks)",
    "identity": "always the identity (an error where the shape changes)",
    "none": "no shortcut at all: a plain network",
}

BLOCKS: Registry[type[BlockStage]] = Registry("block")
# Stage fields that name modules or count the copies: no copy's figures depend on them.
_NOT_IN_FIGURES = frozenset({"name", "copy_names", "repeats"})
_FIGURE_FIELDS: dict[type, Callable[[dict[str, object]], tuple[object, ...]]] = {}  # per kind: the rest

# What a block's static twin knows about one copy: its output shape, parameters, MACs, the most
# activation values alive at once while it runs (`archspec.budget.node_peak` of its graph) and the
# bytes of its modules' buffers (`archspec.budget.buffer_bytes` of its graph: BatchNorm's running
# statistics), the last two for the memory budget.
BlockFacts = tuple[Shape, int, int, int, int]


class BlockStage(ValidatedCopies):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built when first used

    name: ModuleName | None = Field(None, description="module name of the stage (default layerN; a dotted "
                                    "name, stages.0.blocks, nests)")
    width: Count = Field(description="output channels of each block (before any expansion)")
    repeats: Annotated[int, Field(ge=1, le=1_000)] = 1
    stride: Annotated[int, Field(ge=1, le=64)] = Field(1, description="stride of the first block")
    shortcut: Shortcut | None = Field(None, description="overrides the spec's `shortcut` default")
    copy_names: Annotated[str, Field(pattern=COPY_NAMES_PATTERN)] | None = Field(
        None, description="module names of the copies: a pattern with {index} (0, 1, ...) or {number} "
        "(1, 2, ...), e.g. denselayer{number} as torchvision's DenseNet (default: their position)")
    default_shortcut_applies: ClassVar[bool] = True  # False for blocks without a residual path
    # The fields that are channel counts, which `archspec scale` multiplies by the width factor.
    channel_fields: ClassVar[tuple[str, ...]] = ("width",)

    def copy_name(self, index: int, default: str) -> str:
        """Copy `index`'s module name: by `copy_names`, else `default` (its position)."""
        if self.copy_names is None:
            return default
        return self.copy_names.replace("{index}", str(index)).replace("{number}", str(index + 1))

    def block_stride(self, index: int) -> int:
        return self.stride if index == 0 else 1

    def alike_key(self, index: int) -> object | None:
        """Copies with equal keys lower to equal graphs (but for their name) at equal input shapes, so
        the checker lowers and evaluates one and reuses its figures for the others (ResNet-152 has 35
        such copies). None, the default, claims nothing: every copy is lowered."""
        return None

    def alike_run(self, index: int, key: object) -> int:
        """How many copies from `index` on have `key` (copy `index`'s `alike_key`, not None): the
        checker adds their figures at once. A kind may say it without asking every copy's key."""
        run, copies = 1, self.copies()
        while index + run < copies and self.alike_key(index + run) == key:
            run += 1
        return run

    def figures_key(self, index: int) -> object | None:
        """A key equal for copies with equal figures at equal input shapes and shortcuts, in any stage
        of any spec: the kind, its fields but those that only name modules or count copies, and the
        copy's `alike_key`. None where `alike_key` claims nothing."""
        alike = self.alike_key(index)
        if alike is None:
            return None
        kind = type(self)
        fields = _FIGURE_FIELDS.get(kind)
        if fields is None:
            kept = [name for name in kind.model_fields if name not in _NOT_IN_FIGURES]
            fields = _FIGURE_FIELDS[kind] = itemgetter(*kept) if len(kept) > 1 else lambda d: (d[kept[0]],)
        return kind, alike, fields(self.__dict__)

    def copies(self) -> int:
        """How many blocks this entry lowers to (a `vgg` block's `repeats` counts convolutions)."""
        return self.repeats

    def lower(self, index: int, x: Shape, shortcut: Shortcut, origin: SpecPath) -> Node:
        """Copy `index` of this stage's block, for input shape `x`, as a graph of primitive layers."""
        raise NotImplementedError

    def facts(self, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
        """The static twin of `lower` (pycls's `complexity`): copy `index`'s figures at input `x`
        (`BlockFacts`: output shape, parameters, MACs, peak activation values, buffer bytes),
        computed from the block's fields without making its graph, through the same layer rules
        (`conv_facts`, `windowed`). The check runs the twins and makes the graph only when it is
        asked for (a table, a build) or when something is wrong: wherever the graph would report a
        problem, the twin returns None or raises ShapeProblem, and the checker lowers the block to
        say what. tests/test_block_twins.py proves twin == graph for every registered block, on
        inputs that fit and inputs that do not. The default evaluates the block's graph instead, once
        per distinct (kind, fields, copy, input shape, shortcut), and reuses the figures for alike
        copies: a kind needs a hand-written twin only where a benchmark shows the graph is too slow
        (the library's YAML kinds get theirs from archspec/library/twins.py)."""
        return graph_facts(self, index, x, shortcut)


_GRAPH_FACTS: dict[object, BlockFacts | None] = {}
forgettable(_GRAPH_FACTS.clear)


def forget_block_figures() -> None:
    """Empties what checks leave behind for later ones in the process: the evaluated block figures,
    and the work done once per text or kind (expressions' functions, the arrangements of dotted
    names, a layer kind's required settings, the definitions' node plans; archspec.process_memo).
    The next check then does what the first check of a fresh process does, its spec loaded
    (benchmarks/static_check.py's `check, nothing cached`)."""
    forget_all()


def graph_facts(block: BlockStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    """A copy's figures from its lowered graph (None where the graph reports a problem, so that the
    check lowers it again to say what), kept for the process by everything the graph depends on
    (emptied by `forget_block_figures`): a later check of alike blocks reads them."""
    alike = block.alike_key(index)
    key = (type(block), block, index if alike is None else ("alike", alike), x, shortcut)
    try:
        return _GRAPH_FACTS[key]
    except KeyError:
        pass
    except TypeError:  # a block with an unhashable field: evaluate without the cache
        return evaluated_facts(block, index, x, shortcut)
    facts = evaluated_facts(block, index, x, shortcut)
    if len(_GRAPH_FACTS) > 4096:
        _GRAPH_FACTS.clear()
    _GRAPH_FACTS[key] = facts
    return facts


def evaluated_facts(block: BlockStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
    """A copy's figures from its lowered graph, evaluated now; None where the graph reports a problem."""
    evaluator = Evaluator()
    try:
        result = evaluator.run(block.lower(index, x, shortcut, ()), x)
    except ValueError:  # a derived layer outside the language's limits (pydantic's ValidationError)
        return None
    if result is None or evaluator.problems:
        return None
    return (result.out_shape, result.params, result.macs, node_peak(result).values, buffer_bytes(result))


# The twins' figures for the layers blocks make, by the layers' own rules (`working_values`).

# `_new(Moment, (values, None))` is `Moment(values)` without the Python-level `__new__` that
# NamedTuple writes: sampling makes some 60 of these per spec.
_new = tuple.__new__


def conv_moment(x: Shape, out: Shape, kernel: Pair, stride: Pair = (1, 1), groups: int = 1) -> Moment:
    return _new(Moment, (prod(x) + prod(out) + conv_working(x, out, kernel, stride, groups), None))


def norm_moment(shape: Shape) -> Moment:
    return _new(Moment, (2 * prod(shape) + norm_working(shape), None))


def elementwise_moment(shape: Shape) -> Moment:
    """A ReLU's (the budget counts an output beside the input, though it may run in place)."""
    return _new(Moment, (2 * prod(shape), None))


def shortcut_node(x: Shape, width: int, stride: int, shortcut: Shortcut, origin: SpecPath,
                  *, bias: bool = False, norm: bool = True, norm_eps: float = 1e-5,
                  zero_pad: ZeroPad = "end", name: str = "downsample") -> Node | None:
    """A shortcut node expanded for one block: the stage's option (A, B, C, D, identity, none) toward
    the block's `width` and `stride`, as a node `name` reading the block's input (None: the identity).
    Any block with a residual path, built-in or user-defined, lowers its shortcut through here."""
    changes_shape = stride != 1 or x[0] != width
    where = (*origin, "shortcut")
    if shortcut == "D" and changes_shape:  # timm's `downsample_avg`: pool, then a stride-1 projection
        conv = derived(Conv, layer="conv", width=width, kernel=1, stride=1, bias=bias)
        nodes = (layer_node("0", average_pool(stride), where), layer_node("1", conv, where))
        if norm:
            nodes += (layer_node("2", derived(BatchNorm, layer="batchnorm", eps=norm_eps), where),)
        return sequence("projection", name, nodes, where, INPUT)
    if shortcut == "C" or (shortcut == "B" and changes_shape):
        conv = derived(Conv, layer="conv", width=width, kernel=1, stride=stride, bias=bias)
        if not norm:  # a plain 1x1 convolution, as in the d2l tutorials
            return layer_node(name, conv, where, INPUT)
        return sequence("projection", name, (
            layer_node("0", conv, where),
            layer_node("1", derived(BatchNorm, layer="batchnorm", eps=norm_eps), where),
        ), where, INPUT)
    if shortcut == "A" and changes_shape:
        return layer_node(name, derived(ZeroPadShortcut, width=width, stride=stride, pad=zero_pad),
                          where, INPUT)
    return None


def average_pool(stride: int) -> LayerBase:
    """Shortcut D's pool: timm's `downsample_avg` (ResNet-D) averages 2x2 windows at the stride with
    `ceil_mode` and without counting padding, which maps HxW to ceil(H/stride) x ceil(W/stride) as the
    main path does; at stride 1 it keeps an nn.Identity in the pool's place (module `0`)."""
    if stride == 1:
        return derived(Identity, layer="identity")
    return derived(AvgPool, layer="avgpool", kernel=2, stride=stride, ceil_mode=True, count_include_pad=False)


class ShortcutOptions(NamedTuple):
    """The block's choices for its shortcut: projection bias and BatchNorm, option A's padding."""

    bias: bool = False
    norm: bool = True
    norm_eps: float = 1e-5
    zero_pad: ZeroPad = "end"


DEFAULT_SHORTCUT_OPTIONS = ShortcutOptions()


def expand_shortcuts(nodes: tuple[Node, ...], x: Shape, width: int, stride: int, shortcut: Shortcut,
                     origin: SpecPath, options: ShortcutOptions = DEFAULT_SHORTCUT_OPTIONS
                     ) -> tuple[tuple[Node, ...], str]:
    """A block's graph with each `shortcut` node (op `shortcut`: the stage's option toward the
    block's `width` and `stride`) made concrete, and how the input reaches the addition (identity,
    projection, zero-pad or none). A projection or zero-pad becomes a node of the same name; the
    identity is its input itself; `none` removes the shortcut and the addition it feeds (an
    addition left with one input is that input)."""
    renamed: dict[str, str | None] = {}
    expanded: list[Node] = []
    label = "identity"
    for node in nodes:
        inputs = tuple(renamed.get(name, name) for name in node.inputs)
        if node.op == "shortcut":
            branch = shortcut_node(x, width, stride, shortcut, origin, bias=options.bias, norm=options.norm,
                                   norm_eps=options.norm_eps, zero_pad=options.zero_pad, name=node.name)
            label = shortcut_label(branch, shortcut != "none")
            if shortcut == "none":
                renamed[node.name] = None
            elif branch is None:
                renamed[node.name] = inputs[0]
            else:
                expanded.append(branch._replace(inputs=inputs))
            continue
        if node.op == "add" and None in inputs:
            kept = tuple(name for name in inputs if name is not None)
            if len(kept) == 1:
                renamed[node.name] = kept[0]
                continue
            inputs = kept
        expanded.append(node._replace(inputs=inputs))
    return tuple(expanded), label


def shortcut_label(shortcut: Node | None, add: bool) -> str:
    """identity, projection, zero-pad or none: how a residual block's input reaches its addition."""
    if not add:
        return "none"
    if shortcut is None:
        return "identity"
    return "zero-pad" if shortcut.kind == "zero_pad_shortcut" else "projection"


def shortcut_facts(x: Shape, main_out: Shape, width: int, stride: int, shortcut: Shortcut, *,
                   bias: bool = False, norm: bool = True) -> tuple[int, int, int, Moment | None, int] | None:
    """The twin of `shortcut_node` and of the addition: the shortcut's (parameters, MACs, buffer
    bytes, peak (None for the identity), output values), or None where the addition would not fit
    the main path's output `main_out`."""
    changes_shape = stride != 1 or x[0] != width
    peak: Moment | None
    buffers = BatchNorm.running_stats_bytes(width) if norm else 0  # where there is a projection
    if shortcut == "D" and changes_shape:
        pool = average_pool(stride)
        pooled = pool.infer(x)[0]  # raises where it cannot fit
        out, params, macs = conv_facts(pooled, width, (1, 1), (1, 1), (0, 0), bias=bias)
        moments = [layer_moment(pool, x, pooled), conv_moment(pooled, out, (1, 1))]
        if norm:
            params, moments = params + 2 * width, [*moments, norm_moment(out)]
        peak = sequence_peak(prod(x), moments)
    elif shortcut == "C" or (shortcut == "B" and changes_shape):
        out, params, macs = conv_facts(x, width, (1, 1), (stride, stride), (0, 0), bias=bias)
        peak = conv_moment(x, out, (1, 1), (stride, stride))
        if norm:
            params, peak = params + 2 * width, sequence_peak(prod(x), (peak, norm_moment(out)))
    elif shortcut == "A" and changes_shape:
        out, params, macs = zero_pad_facts(x, width, stride)  # raises where it cannot fit
        peak, buffers = Moment(prod(x) + prod(out)), 0  # a strided view, padded into a new tensor
    else:
        out, params, macs, peak, buffers = x, 0, 0, None, 0
    if shortcut != "none" and out != main_out:
        return None
    return params, macs, buffers, peak, prod(out)


def mismatch_hint(x: Shape, width: int, stride: int, shortcut: Shortcut) -> str:
    changes = []
    if stride != 1:
        changes.append(f"stride {stride} changes the size")
    if x[0] != width:
        changes.append(f"width {x[0]} -> {width} changes the channels")
    what = " and ".join(changes) or "the main path changes the shape"
    if width < x[0]:  # option A only appends zero channels: it cannot drop any
        return f"{what}: use shortcut B here instead of `{shortcut}` (A cannot reduce the channels)"
    return f"{what}: use shortcut A or B here instead of `{shortcut}`"
