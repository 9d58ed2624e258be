"""Hypothesis strategies for archspec spec documents, for archspec's tests and for yours.

    from hypothesis import given, settings
    import archspec
    from archspec.testing import invalid_specs, to_spec, valid_specs

    @settings(max_examples=25, deadline=None)
    @given(valid_specs(max_stages=2, block_kinds=["basic", "bottleneck"], max_width=8))
    def test_my_training_step_runs_on_any_resnet(document):
        model = archspec.compile(to_spec(document))
        ...

    @given(invalid_specs(faults=["identity_shortcut"]))
    def test_my_tool_reports_the_fault(near_miss):
        ...  # near_miss.document, near_miss.fault, near_miss.error_path

Documents are plain dicts, exactly what a YAML spec file holds (`archspec.loader.dump` writes one).
Every strategy takes keyword-only knobs; widths and sizes are small by default so that compiling and
running a drawn network takes milliseconds. Requires `hypothesis` (`pip install archspec[test]`);
archspec itself never imports this package.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from archspec.blocks import BLOCKS
from archspec.errors import SpecPath
from archspec.spec import Spec
from archspec.testing.defined import FIELD_VALUES, defined_blocks, draw_defined_stage
from archspec.testing.defined_faults import DEFINITION_FAULTS
from archspec.testing.faults import FAULTS, candidates
from archspec.testing.kinds import (
    ALWAYS_VALID_SHORTCUTS,
    BLOCK_STRATEGIES,
    SHORTCUTS,
    BlockStrategy,
    Draw,
    Knobs,
    draw_image_layer,
    fits_the_budget,
    int_or_pair,
    maybe,
    register_block_strategy,
)
from archspec.testing.library import draw_library_stage
from archspec.testing.options import HEADS, Options
from archspec.testing.options import options as options_of
from archspec.testing.reference import Refused, Trace, trace

__all__ = ["BLOCK_STRATEGIES", "DEFINITION_FAULTS", "FAULTS", "FIELD_VALUES", "HEADS", "SHORTCUTS", "BlockStrategy",
           "InvalidSpec", "Refused", "Trace", "defined_blocks", "invalid_definitions", "invalid_specs",
           "register_block_strategy", "to_spec", "trace", "valid_specs"]

def to_spec(document: dict) -> Spec:
    """The validated `Spec` of a document, through the same YAML text a spec file would hold."""
    from archspec import load
    from archspec.loader import dump

    return load(dump(document))


def valid_specs(*, max_stages: int = 3, max_repeats: int = 2, max_width: int = 16,
                block_kinds: Sequence[str] | None = None, shortcuts: Sequence[str] = SHORTCUTS,
                input_sizes: st.SearchStrategy[int] | None = None,
                channels: st.SearchStrategy[int] | None = None, heads: Sequence[str] = HEADS,
                square: bool = False, list_stages: bool = True,
                names: Sequence[str] | st.SearchStrategy[str] | None = None,
                spec_names: st.SearchStrategy[str] | None = None,
                descriptions: st.SearchStrategy[str] | None = None,
                user_blocks: bool | st.SearchStrategy[dict] = False) -> st.SearchStrategy[dict]:
    """Spec documents that are valid: archspec accepts them and PyTorch runs them at their input.

    - max_stages: at most this many stages (at least one is attempted; a kind that cannot fit the
      current map, such as `vgg` on a 1x1 map, is skipped).
    - max_repeats: largest `repeats` of a stage (for `vgg`: convolutions per block); at most 1,000,
      the largest a spec may write.
    - max_width: largest width drawn for a convolution, block or linear layer (a bottleneck's
      output is width x expansion; an inception block's is the sum of four widths up to max_width/2).
      A network over archspec's default memory budget (4 GiB, `archspec.budget`) is never drawn:
      very wide knobs on large inputs make Hypothesis discard many draws.
    - block_kinds: kinds to draw from; None means every kind registered in `archspec.blocks.BLOCKS`
      and every kind of the standard library (`archspec blocks` lists both; a library kind is drawn
      in one stage of three, with random values of its fields).
    - shortcuts: the shortcut options residual stages may use; each is only used where it is valid
      (A where the width does not shrink, identity where the stage keeps the shape at stride 1).
    - input_sizes: height and width of the input (default integers 4..32); channels: default 1..3.
    - heads: head styles: global (global_avgpool, flatten, linear), adaptive (adaptive_avgpool
      k x k), fixed_pool (an avgpool the size of the final map, as ResNet's original AvgPool2d(7):
      a bounded input range), flatten (flatten, linear: one input size), none.
    - square: only square inputs (`size: 32`); otherwise sometimes `size: [h, w]`.
    - list_stages: sometimes write a stage as `{blocks: [...]}` mixing layers and blocks.
    - names: module names (a list, or a strategy of strings) to write, sometimes, as the `name:` of
      stem and head layers, stages and a list stage's layers; None (the default) writes none but an
      occasional `groupN` on a stage. Names may repeat or be reserved (`forward`): a document drawn
      with this knob is valid but for its names, and archspec refuses it for those alone. Dotted
      names (`conv1.0`) nest; where their modules do not follow one another, that is the refusal.
    - spec_names: the spec's own `name` (default: any name the validator accepts, up to 100 characters).
    - descriptions: its `description`, when it has one (default: any text up to 2000 characters,
      control characters and line breaks included, without `${`, which would start an expression).
    - user_blocks: also draw block kinds written in YAML: True for `defined_blocks()`, or a strategy
      from `defined_blocks(...)` with your knobs. The spec gets that `blocks:` section and its stages
      use those kinds as often as the others, with random fields from FIELD_VALUES.
    """
    options = options_of(max_stages, max_repeats, max_width, block_kinds, shortcuts, input_sizes,
                       channels, heads, square, list_stages, names, spec_names, descriptions, user_blocks)
    return _network(options)


@st.composite
def _network(draw: Draw, options: Options, stem_first: str | None = None,
             head: str | None = None) -> dict:
    channels, height = draw(options.channels), draw(options.input_sizes)
    size: Any = height if options.square or draw(st.booleans()) else [height, draw(options.input_sizes)]
    default = draw(st.sampled_from([None, *(s for s in ALWAYS_VALID_SHORTCUTS if s in options.shortcuts)]))
    blocks = draw(options.user_blocks) if options.user_blocks is not None else {}
    knobs = Knobs(options.max_repeats, options.max_width, options.shortcuts, default or "B", blocks)
    document: dict = {"name": draw(options.spec_names), "input": {"channels": channels, "size": size}}
    if blocks:
        document["blocks"] = blocks
    if draw(st.booleans()):
        document["description"] = draw(options.descriptions)
    if default is not None:
        document["shortcut"] = default
    if draw(st.booleans()):
        document["init"] = draw(st.sampled_from(["pytorch", "kaiming"]))
    x = (channels, *(size if isinstance(size, list) else [size, size]))

    stem = []
    for number in range(draw(st.integers(1 if stem_first else 0, 3))):
        layer = draw_image_layer(draw, x, knobs, stem_first if number == 0 else None)
        if layer is not None:
            stem.append(_named(draw, options, layer))
            x = trace({"input": document["input"], "stem": stem}).output
    if stem:
        document["stem"] = stem

    stages = []
    for number in range(draw(st.integers(1, options.max_stages))):
        stage = _stage(draw, options, knobs, x, number)
        if stage is not None:
            stages.append(_named(draw, options, stage))
            x = trace({**document, "stem": stem, "stages": stages}).output
    if stages:
        document["stages"] = stages
    document["head"] = [_named(draw, options, layer) for layer in
                        _head(draw, head or draw(st.sampled_from(options.heads)), x, options.max_width)]
    if not document["head"]:
        del document["head"]
    trace(document)  # raises if a draw above broke its promise: a bug in these strategies
    assume(fits_the_budget(document))  # wide knobs or large inputs can draw a network too big to run
    return document


def _named(draw: Draw, options: Options, entry: dict) -> dict:
    """Sometimes a `name:` from the `names` knob on a layer or a stage (never without the knob)."""
    if options.names is not None and draw(st.booleans()):
        entry["name"] = draw(options.names)
    return entry


def _block(draw: Draw, options: Options, knobs: Knobs, x: tuple[int, ...]) -> dict | None:
    if knobs.blocks and draw(st.booleans()):  # a kind written in YAML as often as a Python one
        return draw_defined_stage(draw, x, knobs, draw(st.sampled_from(sorted(knobs.blocks))))
    if options.library_kinds and (not options.block_kinds or draw(st.integers(0, 2)) == 0):
        return draw_library_stage(draw, x, knobs, draw(st.sampled_from(options.library_kinds)))
    if not options.block_kinds:  # invalid_specs asked for library kinds only: it draws none of them
        return None
    kind = draw(st.sampled_from(options.block_kinds))
    return BLOCK_STRATEGIES[kind].draw(draw, x, knobs)


def _stage(draw: Draw, options: Options, knobs: Knobs, x: tuple[int, ...], number: int) -> dict | None:
    if not (options.list_stages and draw(st.integers(0, 3)) == 0):
        stage = _block(draw, options, knobs, x)
        if stage is not None and draw(st.integers(0, 4)) == 0:
            stage["name"] = f"group{number + 1}"
        return stage
    entries: list[dict] = []
    start = {"input": {"channels": x[0], "size": list(x[1:])}, "shortcut": knobs.default_shortcut,
             "blocks": knobs.blocks}
    for _ in range(draw(st.integers(1, 3))):
        layer = draw(st.booleans())
        entry = draw_image_layer(draw, x, knobs) if layer else _block(draw, options, knobs, x)
        if entry is not None:
            entry = _named(draw, options, entry) if layer else entry  # a block here is named by its index
            entries.append(entry)
            x = trace({**start, "stages": [{"blocks": entries}]}).output
    return {"blocks": entries} if entries else None


def _head(draw: Draw, style: str, x: tuple[int, ...], max_width: int) -> list[dict]:
    linear = {"layer": "linear", "width": draw(st.integers(1, max_width))}
    maybe(draw, linear, "bias", st.booleans())
    pool: list[dict] = {
        "global": [{"layer": "global_avgpool"}],
        "adaptive": [{"layer": "adaptive_avgpool", "size": draw(int_or_pair(st.integers(1, 3)))}],
        "fixed_pool": [{"layer": "avgpool", "kernel": list(x[1:])}],
        "flatten": [],
        "none": [],
    }[style]
    if style == "none":
        return []
    middle = draw(st.sampled_from([[], [{"layer": "dropout", "p": 0.5}], [{"layer": "batchnorm"}]]))
    return [*pool, {"layer": "flatten"}, *middle, linear]


@dataclass(frozen=True)
class InvalidSpec:
    """A near miss: a valid spec with one value changed so that the network breaks."""

    document: dict  # the invalid spec
    fault: str  # the kind of fault, a key of FAULTS
    path: SpecPath  # where the changed value sits
    value: object  # the value written there
    valid_document: dict  # the valid spec it came from
    error_path: SpecPath  # the layer, block or stage where the network breaks
    reason: str  # what breaks there, in the reference's words


def invalid_specs(*, faults: Sequence[str] | None = None, max_stages: int = 3, max_repeats: int = 2,
                  max_width: int = 16, block_kinds: Sequence[str] | None = None,
                  shortcuts: Sequence[str] = SHORTCUTS, input_sizes: st.SearchStrategy[int] | None = None,
                  channels: st.SearchStrategy[int] | None = None, square: bool = False,
                  spec_names: st.SearchStrategy[str] | None = None,
                  descriptions: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[InvalidSpec]:
    """Near-miss documents: a drawn valid spec with one value changed so that archspec must refuse
    it and plain PyTorch fails on it as well (see FAULTS for the kinds of fault and what each
    changes). `faults`: which kinds (default: every one the block kinds allow). The other knobs are
    those of `valid_specs`, for the valid spec each near miss starts from (which uses built-in and
    registered block kinds, not the library's: the faults are changes to those).
    """
    options = options_of(max_stages, max_repeats, max_width, block_kinds, shortcuts, input_sizes, channels,
                       HEADS, square, True, None, spec_names, descriptions)
    usable = [name for name, fault in FAULTS.items()
              if not fault.kinds or set(fault.kinds(BLOCK_STRATEGIES)) & set(options.block_kinds)]
    chosen = list(usable if faults is None else faults)
    unusable = [name for name in chosen if name not in usable]
    if unusable or not chosen:
        raise InvalidArgument(f"faults must be a non-empty subset of {usable} for these block kinds; "
                              f"found {unusable or chosen}")
    return st.sampled_from(chosen).flatmap(lambda name: _near_miss(options, name))


@st.composite
def _near_miss(draw: Draw, options: Options, name: str) -> InvalidSpec:
    fault = FAULTS[name]
    # The base network uses built-in kinds only: the faults change built-in layers and blocks, and a
    # library stage beside them would make the plain-PyTorch confirmation read YAML definitions.
    options = Options(**{**options.__dict__, "library_kinds": ()})
    if fault.kinds:
        kinds = tuple(k for k in options.block_kinds if k in fault.kinds(BLOCK_STRATEGIES))
        options = Options(**{**options.__dict__, "block_kinds": kinds})
    base = draw(_network(options, stem_first=fault.stem_first, head=fault.head))
    choices = candidates(name, base, trace(base))
    assume(choices)
    path, value = draw(st.sampled_from(choices))
    if isinstance(value, st.SearchStrategy):
        value = draw(value)
    document = copy.deepcopy(base)
    _set(document, path, value)
    try:
        trace(document)
    except Refused as refused:
        assume(refused.torch_fails and fault.breaks_at(refused.path, path))
        return InvalidSpec(document, name, path, value, base, refused.path, refused.reason)
    assume(False)  # this change happened to keep the network valid: draw another
    raise AssertionError("unreachable")


def invalid_definitions(*, faults: Sequence[str] | None = None, user_blocks: st.SearchStrategy[dict] | None = None,
                        max_stages: int = 3, max_width: int = 8, input_sizes: st.SearchStrategy[int] | None = None
                        ) -> st.SearchStrategy[InvalidSpec]:
    """Near misses of block kinds written in YAML: a spec drawn with `valid_specs(user_blocks=...)`
    whose stages use a defined kind, with one value of a definition changed so that it breaks in
    exactly one way (see DEFINITION_FAULTS): `error_path` is where archspec must refuse it, inside
    `blocks:`. Where the fault shows only when a stage uses the block (a join fed a wrong shape, a
    division by zero), the reference confirms that it breaks there and that plain PyTorch fails too.
    `user_blocks`: a strategy from `defined_blocks(...)` (default `defined_blocks()`)."""
    chosen = list(DEFINITION_FAULTS if faults is None else faults)
    unknown = [name for name in chosen if name not in DEFINITION_FAULTS]
    if unknown or not chosen:
        raise InvalidArgument(f"faults must be a non-empty subset of {list(DEFINITION_FAULTS)}; "
                              f"found {unknown or chosen}")
    # Built-in kinds beside the defined ones, not the library's: a near miss is confirmed in plain
    # PyTorch, which reads the spec's own definitions only.
    options = options_of(max_stages, 2, max_width, BLOCKS.names(), SHORTCUTS, input_sizes, None, HEADS, False, True,
                       user_blocks=user_blocks if user_blocks is not None else defined_blocks())
    return st.sampled_from(chosen).flatmap(lambda name: _definition_near_miss(options, name))


@st.composite
def _definition_near_miss(draw: Draw, options: Options, name: str) -> InvalidSpec:
    base = draw(_network(options))
    used = {entry.get("block") for stage in base.get("stages", []) for entry in stage.get("blocks", [stage])}
    assume(used & set(base.get("blocks", {})))
    choices = DEFINITION_FAULTS[name].candidates(base)
    assume(choices)
    path, value, error_path = draw(st.sampled_from(choices))
    document = copy.deepcopy(base)
    _set(document, path, value)
    reason = DEFINITION_FAULTS[name].description
    if DEFINITION_FAULTS[name].evaluated:
        try:
            trace(document)
        except Refused as refused:
            assume(refused.torch_fails and error_path[:len(refused.path)] == refused.path)
            reason = refused.reason
        else:
            assume(False)  # this use of the block happens to fit the changed value: draw another
    return InvalidSpec(document, name, path, value, base, error_path, reason)


def _set(document: Any, path: SpecPath, value: object) -> None:
    for part in path[:-1]:
        document = document[part]
    document[path[-1]] = value
