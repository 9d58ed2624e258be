"""Static twins of library block kinds: each kind's figures straight from its fields, as the built-in
kinds' `facts` (pycls's `complexity`), so that the first check of a process need not lower and evaluate
every distinct block of a network written with library kinds (issues 13/14: 100x a meta forward).

The YAML file is the kind's definition; its twin is only the fast path. A twin lives in the Python
module beside its file (`se_resnet.py` beside `se_resnet.yaml`) and registers itself with `@twin(kind)`,
which refuses a kind that file does not define. The library's stage model of a kind gets its twin as
`facts` when it is made (`LibraryKinds`); a spec's own definition of the same name does not. A twin
returns exactly the figures of the kind's lowered graph (`graph_facts`), and None (or raises
ShapeProblem) wherever the graph would report a problem, or wherever a field is of a type or size it
does not handle (a rare activation, NaN, a number past `LARGEST`): the block's graph then gives the
figures, or says what is wrong.
tests/test_library_twins.py holds every registered twin to its graph.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from math import isfinite, prod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.blocks.base import BlockFacts, Shortcut, evaluated_facts
from archspec.layer_rules import SCALAR_OPERAND, conv_facts, conv_working, norm_working
from archspec.layers import BatchNorm
from archspec.process_memo import forgettable
from archspec.shapes import MAX_COUNT, Shape

if TYPE_CHECKING:
    from archspec.blocks.defined import DefinedStage

Twin = Callable[["DefinedStage", int, Shape, Shortcut], "BlockFacts | None"]
# One layer's or nested block's figures inside a twin, as BlockFacts: output shape, parameters, MACs,
# peak values, buffer bytes (BatchNorm's running statistics).
Part = tuple[Shape, int, int, int, int]

_TWINS: dict[str, Twin] = {}
FOLDER = Path(__file__).parent
# Field values a twin takes on: whole numbers within this bound keep every expression of the library's
# definitions far inside `${...}`'s +-2**40 (products of two fields, a field times a width).
LARGEST = 2**20
# Activation layer kinds that keep the shape, have no parameters and allocate nothing besides their
# output (tests/test_library_twins.py holds each to its layer's own rule and module).
ELEMENTWISE = frozenset({"relu", "relu6", "silu", "gelu", "sigmoid", "tanh", "hardswish", "hardsigmoid",
                         "identity", "leaky_relu"})


def twin(kind: str) -> Callable[[Twin], Twin]:
    """Registers the decorated function as the static twin of library kind `kind`, which the YAML file
    beside the function's module must define."""
    def register(function: Twin) -> Twin:
        from archspec.library import library_index

        stem = function.__module__.rsplit(".", 1)[-1]
        defined_in = library_index().get(kind)
        if defined_in is None or defined_in.parent != FOLDER or defined_in.stem != stem:
            raise ValueError(f"a static twin for `{kind}` in archspec.library.{stem}, but {stem}.yaml defines "
                             "no such kind: a twin goes beside its kind's library file")
        if kind in _TWINS:
            raise ValueError(f"library kind `{kind}` has a static twin already")
        _TWINS[kind] = function
        return function
    return register


def twin_of(kind: str, path: Path) -> Twin | None:
    """The twin of library kind `kind`, defined in `path`: its module beside the file is imported."""
    if path.parent == FOLDER and path.with_suffix(".py").is_file():
        importlib.import_module(f"archspec.library.{path.stem}")
    return _TWINS.get(kind)


def library_twins() -> dict[str, Twin]:
    """Every library kind's twin (every module beside a library file imported): for the tests."""
    for path in sorted(FOLDER.glob("*.yaml")):
        if path.with_suffix(".py").is_file():
            importlib.import_module(f"archspec.library.{path.stem}")
    return dict(_TWINS)


def as_facts(function: Twin) -> Callable[..., BlockFacts | None]:
    """`function` as a stage model's `facts` method: where it declines, this block's graph gives the
    figures (or None where it reports a problem), so that a rare field value costs one block's
    lowering, not the whole network's. Kept for the process by block object, copy, input and
    shortcut (a repeated check of a spec only reads them; an id costs less than hashing the block's
    fields, which would add a tenth to a first check), emptied by `forget_block_figures`."""
    def facts(self: DefinedStage, index: int, x: Shape, shortcut: Shortcut) -> BlockFacts | None:
        known = _KNOWN.get(id(self))
        if known is None:
            if len(_KNOWN) > 4096:
                _KNOWN.clear()
            known = _KNOWN[id(self)] = (self, {})
        key = (index, x, shortcut)
        try:
            return known[1][key]
        except KeyError:
            pass
        found = function(self, index, x, shortcut)
        if found is None:
            found = evaluated_facts(self, index, x, shortcut)
        known[1][key] = found
        return found
    facts.__doc__ = f"The static twin of library kind `{function.__name__}` ({function.__module__})."
    return facts


# Each block object (kept, so that its id stays its own) -> its copies' figures by (index, input, shortcut).
_KNOWN: dict[int, tuple[DefinedStage, dict[tuple[int, Shape, Shortcut], BlockFacts | None]]] = {}
forgettable(_KNOWN.clear)


def stage_part(part: Callable[..., Part | None], block: DefinedStage, index: int, x: Shape,
               *fields: str) -> Part | None:
    """`part(x, width, stride, *the block's fields named)`, for copy `index` on image `x`; None on a
    flat vector (every library kind with a twin convolves its input)."""
    if len(x) != 3:
        return None
    return part(x, block.width, block.block_stride(index), *(getattr(block, name) for name in fields))


# Checks of field values, as the definitions' expressions and the layers' validation would treat them.

def whole(value: Any, least: int = 1, most: int = LARGEST) -> bool:
    """A whole number (not true/false, not 2.0) from `least` to `most`."""
    return type(value) is int and least <= value <= most


def number(value: Any) -> bool:
    """A number within the bound (not true/false, not NaN or infinite)."""
    return type(value) in (int, float) and isfinite(value) and -LARGEST <= value <= LARGEST


def count(value: Any) -> bool:
    """A layer's channel count (`Count`)."""
    return type(value) is int and 1 <= value <= MAX_COUNT


def norm_settings(eps: Any, momentum: Any) -> bool:
    """BatchNorm's `eps` in (0, 1] and `momentum` in [0, 1]."""
    return number(eps) and 0 < eps <= 1 and number(momentum) and 0 <= momentum <= 1


# The parts blocks are made of: layers by their rules (archspec.layers) and their moments' values
# (archspec.blocks.base's conv_moment, norm_moment, elementwise_moment, without making a Moment).

def conv(x: Shape, width: int, kernel: int, stride: int = 1, padding: int = 0, groups: int = 1,
         bias: bool = True) -> Part:
    """A convolution (raises ShapeProblem where it does not fit, as its rule does)."""
    kernels, strides = (kernel, kernel), (stride, stride)
    out, params, macs = conv_facts(x, width, kernels, strides, (padding, padding), groups=groups, bias=bias)
    return out, params, macs, prod(x) + prod(out) + conv_working(x, out, kernels, strides, groups), 0  # conv_moment


def batchnorm(x: Shape) -> Part:
    return x, 2 * x[0], 0, 2 * prod(x) + norm_working(x), BatchNorm.running_stats_bytes(x[0])  # norm_moment


def elementwise(x: Shape) -> Part:
    return x, 0, 0, 2 * prod(x), 0  # elementwise_moment


def chain(x: Shape, parts: list[Part]) -> Part:
    """Parts run one after another on `x` (a Sequential, or a graph that is a chain): the block's input
    is held while the later ones run (`archspec.budget.sequence_peak`)."""
    values = prod(x)
    out, params, macs, peak, buffers = parts[0]
    for part_out, part_params, part_macs, part_peak, part_buffers in parts[1:]:
        out, params, macs, buffers = part_out, params + part_params, macs + part_macs, buffers + part_buffers
        peak = max(peak, values + part_peak)
    return out, params, macs, peak, buffers


def gate(x: Shape, squeeze: int, activation: str, scale: str) -> Part | None:
    """A squeeze-and-excitation gate: global average pool, 1x1 conv to `squeeze`, `activation`, 1x1 conv
    back, the gate `scale`, and the input times it (squeeze_excite, squeeze_excitation)."""
    if activation not in ELEMENTWISE or scale not in ELEMENTWISE or not count(squeeze):
        return None
    # Written out in plain ints (a check runs it once per SE block): on the pooled C x 1 x 1 map, fc1 and
    # fc2 are 1x1 convolutions with bias, each activation an output beside its input.
    channels, values = x[0], prod(x)
    pooled, squeezed = (channels, 1, 1), (squeeze, 1, 1)
    weights = channels * squeeze
    after = max(channels + squeeze + conv_working(pooled, squeezed, (1, 1), (1, 1)),  # fc1
                2 * squeeze,  # activation
                squeeze + channels + conv_working(squeezed, pooled, (1, 1), (1, 1)),  # fc2
                2 * channels)  # the gate
    peak = max(values + channels + SCALAR_OPERAND,  # the pool (a `mean`, divided by a Python number)
               values + after,  # the input held
               2 * values + channels)  # the multiplication: input, gate, product
    return x, 2 * weights + squeeze + channels, 2 * weights, peak, 0


__all__ = ["ELEMENTWISE", "LARGEST", "Part", "Twin", "as_facts", "batchnorm", "chain", "conv", "count",
           "elementwise", "gate", "library_twins", "norm_settings", "number", "stage_part", "twin",
           "twin_of", "whole"]
