"""Per-kind strategies: for every block kind (and the image layers) a way to draw an entry that is
valid for a given input shape, paired with the reference rule for its output shape.

A new block kind needs an entry in `BLOCK_STRATEGIES` (`register_block_strategy`); archspec's own
test suite fails while a registered kind has none, so `valid_specs()` always covers every kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, get_args

from hypothesis import strategies as st

from archspec.shapes import MAX_COUNT
from archspec.testing.reference import BLOCK_SHAPES, BlockShape, Refused, Shape, conv_size, layer_shape

Draw = Callable[[st.SearchStrategy[Any]], Any]
SHORTCUTS = ("A", "B", "C", "D", "identity", "none")
# Fine whatever the shapes: D's 2x2 pool with ceil_mode maps H to ceil(H / stride), as the main path does.
ALWAYS_VALID_SHORTCUTS = ("B", "C", "D", "none")


@dataclass(frozen=True)
class Knobs:
    max_repeats: int
    max_width: int
    shortcuts: tuple[str, ...]  # the options a residual stage may use
    default_shortcut: str  # the spec-level default in effect (written or not)
    blocks: Mapping[str, dict] = field(default_factory=dict)  # the spec's `blocks:` (kinds written in YAML)


def maybe(draw: Draw, entry: dict, key: str, values: st.SearchStrategy[Any]) -> None:
    """Sometimes write an optional key, so that both the default and explicit values get tested."""
    if draw(st.booleans()):
        entry[key] = draw(values)


def width(draw: Draw, knobs: Knobs) -> int:
    return draw(st.integers(1, knobs.max_width))


# ---- residual blocks --------------------------------------------------------------------------

def _shortcut(draw: Draw, entry: dict, x: Shape, out_width: int, knobs: Knobs) -> bool:
    """Picks a shortcut valid here; False when the allowed options leave none."""
    stride = entry.get("stride", 1)
    out = (out_width, conv_size(x[1], 3, stride, 1), conv_size(x[2], 3, stride, 1))
    # identity only where the stride is 1: on a 1x1 map a stride-2 identity block is valid, but only at
    # exactly that size, and PyTorch would broadcast the addition at others.
    valid = [s for s in knobs.shortcuts if s in ALWAYS_VALID_SHORTCUTS or (s == "A" and out_width >= x[0])
             or (s == "identity" and stride == 1 and out == x)]
    if not valid:
        return False
    choice = draw(st.sampled_from([*valid, *([None] if knobs.default_shortcut in knobs.shortcuts else [])]))
    if choice is not None:
        entry["shortcut"] = choice
    return True


def _residual_extras(draw: Draw, entry: dict) -> None:
    maybe(draw, entry, "bias", st.booleans())
    maybe(draw, entry, "projection_norm", st.booleans())
    maybe(draw, entry, "projection_bias", st.booleans())
    maybe(draw, entry, "activation_before_add", st.booleans())
    maybe(draw, entry, "norm_eps", st.sampled_from([1e-5, 1e-3]))
    maybe(draw, entry, "zero_pad", st.sampled_from(["end", "both"]))


def keeps_width(draw: Draw) -> bool:
    """Often a block keeps its input's width, as most ResNet blocks do (where identity shortcuts fit)."""
    return draw(st.integers(0, 2)) == 0


def draw_basic(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    entry: dict = {"block": "basic", "width": x[0] if keeps_width(draw) else width(draw, knobs)}
    maybe(draw, entry, "repeats", st.integers(1, knobs.max_repeats))
    maybe(draw, entry, "stride", st.sampled_from([1, 2]))
    _residual_extras(draw, entry)
    if not _shortcut(draw, entry, x, entry["width"], knobs):
        # Only A / identity allowed and the shape changes: a block that keeps the shape fits both.
        entry.update(width=x[0], stride=1)
        _shortcut(draw, entry, x, x[0], knobs)
    return entry


def draw_bottleneck(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    entry: dict = {"block": "bottleneck", "width": width(draw, knobs)}
    maybe(draw, entry, "expansion", st.sampled_from([1, 2, 4]))
    # The output is width x expansion channels: within the channels a spec may write.
    entry["width"] = min(entry["width"], MAX_COUNT // entry.get("expansion", 4))
    if keeps_width(draw):
        entry.update(width=x[0], expansion=1)
    maybe(draw, entry, "repeats", st.integers(1, knobs.max_repeats))
    maybe(draw, entry, "stride", st.sampled_from([1, 2]))
    maybe(draw, entry, "stride_on", st.sampled_from(["3x3", "1x1"]))
    if draw(st.booleans()):  # ResNeXt / Wide ResNet: keep the 3x3's channels small but non-zero
        entry["groups"] = draw(st.sampled_from([1, 2, 4]))
        per_group = draw(st.integers(1, 4))
        entry["width_per_group"] = -(-64 * per_group // entry["width"])
    _residual_extras(draw, entry)
    if not _shortcut(draw, entry, x, entry["width"] * entry.get("expansion", 4), knobs):
        for key in ("groups", "width_per_group"):
            entry.pop(key, None)
        entry.update(width=x[0], expansion=1, stride=1)
        _shortcut(draw, entry, x, x[0], knobs)
    return entry


# ---- plain blocks -----------------------------------------------------------------------------

def draw_vgg(draw: Draw, x: Shape, knobs: Knobs) -> dict | None:
    if min(x[1:]) < 2:  # its 2x2 max-pool needs a 2x2 map
        return None
    entry: dict = {"block": "vgg", "width": width(draw, knobs)}
    maybe(draw, entry, "repeats", st.integers(1, knobs.max_repeats))
    maybe(draw, entry, "batchnorm", st.booleans())
    maybe(draw, entry, "bias", st.booleans())
    return entry


def draw_nin(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    kernel = draw(st.integers(1, 5))
    entry: dict = {"block": "nin", "width": width(draw, knobs), "kernel": kernel}
    maybe(draw, entry, "padding", st.integers(0, kernel // 2))
    maybe(draw, entry, "stride", st.sampled_from([1, 2]))
    maybe(draw, entry, "repeats", st.integers(1, knobs.max_repeats))
    maybe(draw, entry, "bias", st.booleans())
    try:
        BLOCK_SHAPES["nin"](entry, x, knobs.default_shortcut, ())
    except Refused:  # the kernel does not fit (or shrinks the map away over the repeats)
        entry.update(kernel=1, padding=0)
    return entry


def draw_inception(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    # Four branches concatenate: their sum stays within the channels a spec may write.
    small = st.integers(1, max(1, min(knobs.max_width // 2, MAX_COUNT // 4)))
    entry: dict = {"block": "inception", "c1": draw(small), "c2": [draw(small), draw(small)],
                   "c3": [draw(small), draw(small)], "c4": draw(small)}
    maybe(draw, entry, "c3_kernel", st.sampled_from([1, 3, 5]))
    maybe(draw, entry, "repeats", st.integers(1, knobs.max_repeats))
    maybe(draw, entry, "batchnorm", st.booleans())
    maybe(draw, entry, "bias", st.booleans())
    maybe(draw, entry, "pool_ceil_mode", st.booleans())
    if draw(st.booleans()):
        entry["width"] = entry["c1"] + entry["c2"][1] + entry["c3"][1] + entry["c4"]
    return entry


@dataclass(frozen=True)
class BlockStrategy:
    """How to draw one block kind for an input shape, and the reference rule for its output shape."""

    draw: Callable[[Draw, Shape, Knobs], dict | None]  # None: the kind cannot fit this input
    shape: BlockShape
    strided: bool = False  # its `stride` changes the output size
    residual: bool = False  # it takes a `shortcut`


BLOCK_STRATEGIES: dict[str, BlockStrategy] = {
    "basic": BlockStrategy(draw_basic, BLOCK_SHAPES["basic"], strided=True, residual=True),
    "bottleneck": BlockStrategy(draw_bottleneck, BLOCK_SHAPES["bottleneck"], strided=True, residual=True),
    "vgg": BlockStrategy(draw_vgg, BLOCK_SHAPES["vgg"]),
    "nin": BlockStrategy(draw_nin, BLOCK_SHAPES["nin"], strided=True),
    "inception": BlockStrategy(draw_inception, BLOCK_SHAPES["inception"]),
}


def register_block_strategy(kind: str, strategy: BlockStrategy | None = None, *,
                            fields: st.SearchStrategy[dict] | None = None) -> None:
    """Adds (or replaces) the strategy of a block kind, e.g. one your own code registered with
    `archspec.register_block`: a full `BlockStrategy`, or just `fields`, a strategy for the kind's
    own fields (a dict); `width`, `repeats`, `stride` and `shortcut` are drawn as for every kind, and
    a drawn stage is kept where archspec's check accepts it at its input. A kind written in Python has
    no second account of its shapes here: its shape rule is archspec's own check (`checked_shape`)."""
    if (strategy is None) == (fields is None):
        raise TypeError("register_block_strategy takes a BlockStrategy or fields=, not both or neither")
    if strategy is None:
        strategy = fields_strategy(kind, fields)  # type: ignore[arg-type]
    BLOCK_STRATEGIES[kind] = strategy
    BLOCK_SHAPES[kind] = strategy.shape


def fits_the_budget(document: dict) -> bool:
    """Whether archspec's default memory budget (`archspec.budget`, 4 GiB) takes the network: with
    `max_width` in the thousands, or large `input_sizes`, a draw can need more, and archspec then
    refuses it. Names are left out: with the `names` knob a document may be refused for them alone."""
    import archspec
    from archspec.budget import DEFAULT_MAX_MEMORY
    from archspec.loader import Document, dump
    from archspec.validate import validate

    data = _without_names(document)
    if "${" in repr({key: value for key, value in data.items() if key != "blocks"}):
        spec = archspec.load(dump(data))  # expressions to resolve: the whole load
    else:  # validated as loaded, without the YAML round trip (a tenth of the time: drawn for every example)
        spec = validate(Document(data))
    report = archspec.check(spec, max_memory=None)
    return not report.ok or report.memory_bytes <= DEFAULT_MAX_MEMORY  # not ok: the tests report it


def _without_names(document: dict) -> dict:
    def unnamed(entry: dict) -> dict:
        entry = {key: value for key, value in entry.items() if key != "name"}
        if "blocks" in entry and isinstance(entry["blocks"], list):
            entry["blocks"] = [unnamed(item) for item in entry["blocks"]]
        return entry

    return {**document, **{part: [unnamed(entry) for entry in document[part]]
                           for part in ("stem", "stages", "head") if part in document}}


def checked_shape(stage: dict, x: Shape, default: str, path: tuple) -> Shape:
    """The output shape archspec's check gives a stage at input `x`; Refused where it refuses it
    (without a second account, whether plain PyTorch fails there too is not known: torch_fails=False)."""
    import archspec
    from archspec.errors import SpecError
    from archspec.loader import dump

    document = {"name": "probe", "input": {"channels": x[0], "size": list(x[1:])}, "shortcut": default,
                "stages": [dict(stage)]}
    try:
        report = archspec.check(archspec.load(dump(document)))
    except SpecError as error:
        raise Refused(path, error.errors[0].message, torch_fails=False) from None
    if not report.ok:
        raise Refused(path, report.errors[0].message, torch_fails=False)
    return report.output_shape


def fields_strategy(kind: str, fields: st.SearchStrategy[dict]) -> BlockStrategy:
    """The strategy of a kind registered from Python, from a strategy for its own fields."""
    def draw_stage(draw: Draw, x: Shape, knobs: Knobs) -> dict | None:
        entry: dict = {"block": kind, "width": width(draw, knobs)}
        maybe(draw, entry, "repeats", st.integers(1, knobs.max_repeats))
        maybe(draw, entry, "stride", st.sampled_from([1, 2]))
        entry.update(draw(fields))
        try:
            checked_shape(entry, x, knobs.default_shortcut, ())
        except Refused:
            return None
        return entry

    return BlockStrategy(draw_stage, checked_shape)  # no near miss of invalid_specs applies to it


# ---- image layers (stem, list stages) ---------------------------------------------------------

def int_or_pair(values: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    """One number for both axes, or sometimes `[height, width]` (which may differ: `kernel: [1, 7]`)."""
    return st.one_of(values, values, st.lists(values, min_size=2, max_size=2))


def up_to_half(kernel: int | list[int], extra: int) -> st.SearchStrategy[Any]:
    """A padding of at most kernel // 2 + extra on each axis."""
    if isinstance(kernel, int):
        return int_or_pair(st.integers(0, kernel // 2 + extra))
    return st.tuples(*(st.integers(0, k // 2 + extra) for k in kernel)).map(list)


def draw_conv(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    kernel = draw(int_or_pair(st.integers(1, 5)))
    layer: dict = {"layer": "conv", "width": width(draw, knobs), "kernel": kernel}
    maybe(draw, layer, "stride", int_or_pair(st.sampled_from([1, 2])))
    maybe(draw, layer, "padding", up_to_half(kernel, 1))
    maybe(draw, layer, "dilation", int_or_pair(st.sampled_from([1, 2])))
    maybe(draw, layer, "bias", st.booleans())
    if draw(st.integers(0, 3)) == 0:  # depthwise: one group per input channel, width a multiple of them
        layer.update(groups="depthwise", width=x[0] * draw(st.integers(1, 2)))
        return layer
    common = [g for g in (1, 2, 3, 4) if x[0] % g == 0 and layer["width"] % g == 0]
    maybe(draw, layer, "groups", st.sampled_from(common))
    return layer


def draw_pool(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    layer: dict = {"layer": draw(st.sampled_from(["maxpool", "avgpool"]))}
    if draw(st.integers(0, 2)) == 0:
        # A window that strides past the input's end, padded, with `ceil_mode`: PyTorch then drops a
        # last window that would start in the padding, and ONNX counts those windows otherwise. Drawn
        # on its own now and then, as the independent draws below meet it once in dozens of pools.
        kernel = draw(st.integers(2, 3))
        layer.update(kernel=kernel, stride=draw(st.integers(2, 3)), padding=draw(st.integers(1, kernel // 2)),
                     ceil_mode=True)
    else:
        layer["kernel"] = kernel = draw(int_or_pair(st.integers(1, 3)))
        maybe(draw, layer, "stride", int_or_pair(st.sampled_from([1, 2, 3])))
        maybe(draw, layer, "padding", up_to_half(kernel, 0))
        maybe(draw, layer, "ceil_mode", st.booleans())
    if layer["layer"] == "avgpool":
        maybe(draw, layer, "count_include_pad", st.booleans())
    return layer


@cache
def shape_keeping_layers() -> tuple[str, ...]:
    """The layer kinds of the registry written with no field of their own that keep their input's
    shape (activations, norms, dropout, identity): a new one is drawn the day it is registered."""
    from archspec.layers import LAYERS

    kept = []
    for kind in LAYERS.names():
        try:
            LAYERS[kind].model_validate({"layer": kind})
            if layer_shape({"layer": kind}, (4, 4, 4), ()) == (4, 4, 4):
                kept.append(kind)
        except (ValueError, Refused):  # a required field (conv's width), or the shape changes
            continue
    return tuple(kept)


# Settings of shape-keeping layers that `field_choices` cannot derive from a field's default: a
# required field (stochastic_depth's `p`; such a kind is drawn only with one of these).
POINTWISE_SETTINGS: dict[str, tuple[dict, ...]] = {
    "stochastic_depth": ({"p": 0.2}, {"p": 0.1, "mode": "batch"})}


def field_choices(kind: str) -> dict[str, tuple[Any, ...]]:
    """For each optional field of a layer kind of the registry, values to write: its default and
    others read from the field itself (a boolean's other value, a literal's other members, a number
    near the default), so that every field is drawn written, not only left out: a field added to a
    kind is drawn the day it is added."""
    from archspec.layers import LAYERS

    choices: dict[str, tuple[Any, ...]] = {}
    for name, info in LAYERS[kind].model_fields.items():
        default = info.default
        if name in ("layer", "name") or info.is_required():
            continue
        if isinstance(default, bool):
            choices[name] = (default, not default)
        elif isinstance(default, str):
            choices[name] = (default, *(other for other in get_args(info.annotation) if other != default))
        elif isinstance(default, float):
            choices[name] = (default, default / 2)
        elif isinstance(default, int):
            choices[name] = (default, default + 1)
    return choices


def draw_pointwise(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    kind = draw(st.sampled_from(sorted({*shape_keeping_layers(), *POINTWISE_SETTINGS})))
    layer = {"layer": kind, **(draw(st.sampled_from(POINTWISE_SETTINGS[kind])) if kind in POINTWISE_SETTINGS
                               else {})}
    for name, values in field_choices(kind).items():
        if name not in layer:
            maybe(draw, layer, name, st.sampled_from(values))
    return layer


def draw_shuffle(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    return {"layer": "channel_shuffle", "groups": draw(st.sampled_from([g for g in (1, 2, 3, 4, x[0])
                                                                         if x[0] % g == 0]))}


def draw_max_pool(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    if draw(st.booleans()):
        return {"layer": "global_maxpool"}
    layer: dict = {"layer": "adaptive_maxpool"}
    maybe(draw, layer, "size", int_or_pair(st.integers(1, 3)))
    return layer


def draw_pointwise_linear(draw: Draw, x: Shape, knobs: Knobs) -> dict:
    layer: dict = {"layer": "pointwise_linear", "width": draw(st.integers(1, 16))}
    maybe(draw, layer, "bias", st.booleans())
    return layer


IMAGE_LAYERS = {"conv": draw_conv, "pool": draw_pool, "pointwise": draw_pointwise, "shuffle": draw_shuffle,
                "max_pool": draw_max_pool, "pointwise_linear": draw_pointwise_linear}


def draw_image_layer(draw: Draw, x: Shape, knobs: Knobs, kind: str | None = None) -> dict | None:
    """A layer valid for image input `x`, or None when the drawn window does not fit."""
    # The shape-keeping kinds (and their settings) are most of the registry: drawn three times as often.
    layer = IMAGE_LAYERS[kind or draw(st.sampled_from([*sorted(IMAGE_LAYERS), "pointwise", "pointwise"]))](
        draw, x, knobs)
    try:
        layer_shape(layer, x, ())
    except Refused:
        return None
    return layer
