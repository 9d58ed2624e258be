"""Every library kind's static twin (archspec/library/twins.py) equals its lowered graph.

The twins are taken from their registry, not listed here: a kind that gets a twin is held to its
graph from the day it does. For each, on random fields (drawn from the definition's defaults: each
field's type, values near it, values `requires:` or a layer refuses), widths, strides, copies,
shortcuts and inputs (ones that fit and ones that do not):
- typical values: the twin gives exactly the graph's figures (output shape, parameters, MACs, the
  memory budget's peak), and declines exactly where the graph reports a problem;
- any values (true/false, NaN, huge numbers, every layer kind as an activation): where the twin
  answers, the graph agrees (where the twin declines, the check lowers the block and the graph says).
And the blocks of the shipped specs, at the inputs the check gives them, are answered by their twins.
"""

from __future__ import annotations

import math
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import archspec
from archspec.blocks.base import BlockFacts, BlockStage, forget_block_figures
from archspec.layers import LAYERS
from archspec.library import library_kinds
from archspec.library.twins import ELEMENTWISE, LARGEST, library_twins, twin
from archspec.shapes import Shape, ShapeProblem
from archspec.testing import SHORTCUTS
from tests.conftest import SPECS
from tests.test_block_twins import graph_facts

TWINS = library_twins()
KINDS = sorted(TWINS)


def twin_facts(block: BlockStage, index: int, x: Shape, shortcut: str) -> BlockFacts | None:
    """The kind's twin itself (its stage model's `facts` asks the graph where it declines)."""
    try:
        return TWINS[block.block](block, index, x, shortcut)  # type: ignore[attr-defined, arg-type]
    except ShapeProblem:
        return None
# Layer kinds a node cannot make from a bare `layer: ${activation}` (a required setting, or none such).
NOT_ELEMENTWISE = ["conv", "linear", "stochastic_depth", "no_such_layer"]


def test_the_five_networks_kinds_have_twins():
    """The kinds of se-resnet50, mobilenet_v2, efficientnet_b0, densenet121 and convnext_tiny
    (issues 13/14: their first check within 100x of a meta forward)."""
    assert {"se_bottleneck", "squeeze_excite", "inverted_residual", "conv_norm_act", "mbconv",
            "mbconv_layers", "squeeze_excitation", "dense_layer", "transition",
            "convnext_block"} <= set(KINDS)


def _typical(default: Any) -> st.SearchStrategy[Any]:
    """A field's values near its default, valid or not, of the types a spec writes (the default
    itself half the time: a block with several fields is then often valid)."""
    if isinstance(default, bool):
        near: st.SearchStrategy[Any] = st.booleans()
    elif isinstance(default, int):
        near = st.integers(-1, max(2 * default, 6))
    elif isinstance(default, float):
        near = st.sampled_from([2 * default, default / 2, -default, 0.0, 0.5, 1.0, 2.5, 3, 0])
    elif isinstance(default, str) and default.startswith("${"):  # a count written as an expression
        near = st.one_of(st.integers(-1, 16), st.just("depthwise"))
    else:
        near = st.sampled_from([*sorted(ELEMENTWISE), *NOT_ELEMENTWISE])  # a layer kind (an activation)
    return st.one_of(st.just(default), near)


def _wild(default: Any) -> st.SearchStrategy[Any]:
    """Anything a field's type takes: true/false, NaN and infinities, numbers past every bound."""
    numbers = st.one_of(st.integers(-3, 2**42), st.sampled_from([math.nan, math.inf, 1e300, 2.0**41, 1e-300]),
                        st.floats(-10, 10), st.booleans(), st.integers(LARGEST - 2, LARGEST + 2))
    if isinstance(default, str):
        return st.one_of(_typical(default), st.sampled_from(LAYERS.names()), numbers, st.just("${in}"))
    return st.one_of(_typical(default), numbers)


@st.composite
def cases(draw: Any, kind: str, values: Any) -> tuple[BlockStage, int, tuple[int, ...], str]:
    """A stage of `kind` (its fields drawn by `values`), a copy, an input and a shortcut."""
    model = library_kinds()[kind]
    entry: dict[str, Any] = {"block": kind, "width": draw(st.integers(1, 24)),
                             "stride": draw(st.sampled_from([1, 1, 2, 3]))}
    for name, default in model.definition.fields.items():
        if draw(st.booleans()):
            entry[name] = draw(values(default))
    try:
        block = model.model_validate(entry)
    except ValidationError:  # a value the stage's types refuse: the spec never gets this far
        block = model.model_validate({"block": kind, "width": entry["width"], "stride": entry["stride"]})
    channels = entry["width"] if draw(st.booleans()) else draw(st.integers(1, 24))
    x = draw(st.one_of(st.tuples(st.just(channels), st.integers(1, 12), st.integers(1, 12)),
                       st.tuples(st.integers(1, 64))))  # a flat vector: every kind here refuses it
    return block, draw(st.integers(0, 3)), x, draw(st.sampled_from(SHORTCUTS))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_twin_equals_graph_on_typical_fields(kind: str, data: st.DataObject):
    block, index, x, shortcut = data.draw(cases(kind, _typical))
    assert twin_facts(block, index, x, shortcut) == graph_facts(block, index, x, shortcut)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_twin_answers_only_where_the_graph_agrees(kind: str, data: st.DataObject):
    block, index, x, shortcut = data.draw(cases(kind, _wild))
    found = twin_facts(block, index, x, shortcut)
    if found is not None:
        assert found == graph_facts(block, index, x, shortcut)


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda path: path.stem)
def test_the_shipped_specs_blocks_are_answered_by_their_twins(path):
    """Each call the check makes to a library twin, at the inputs the check gives it: the twin
    answers, with the graph's figures."""
    spec = archspec.load(path)
    calls: list[tuple[BlockStage, int, tuple[int, ...], str]] = []
    patches = []
    for kind in KINDS:
        model = library_kinds()[kind]
        original = model.facts

        def recorded(self, index, x, shortcut, original=original):
            calls.append((self, index, x, shortcut))
            return original(self, index, x, shortcut)
        patches.append(patch.object(model, "facts", recorded))
    forget_block_figures()
    for each in patches:
        each.start()
    try:
        assert archspec.check(spec).ok
    finally:
        for each in patches:
            each.stop()
    for block, index, x, shortcut in calls:
        found = twin_facts(block, index, x, shortcut)
        assert found is not None, (block, index, x, shortcut)
        assert found == graph_facts(block, index, x, shortcut)


def test_where_a_twin_declines_a_valid_block_its_graph_answers_for_it_alone():
    """A rare field value (BatchNorm as conv_norm_act's activation) is left to the block's graph: the
    check still passes on the first tier, with the graph's figures, without lowering the network."""
    spec = archspec.load("name: t\ninput: {channels: 4, size: 6}\n"
                         "stages: [{block: conv_norm_act, width: 4, activation: batchnorm}]\n")
    block = spec.stages[0]
    assert twin_facts(block, 0, (4, 6, 6), "B") is None
    forget_block_figures()
    report = archspec.check(spec)
    assert report.ok and report.lowered is None
    found = block.facts(0, (4, 6, 6), "B")
    assert found == graph_facts(block, 0, (4, 6, 6), "B")
    assert found[:3] == ((4, 6, 6), 4 * 4 * 9 + 8 + 8, 4 * 4 * 9 * 36)  # conv, its BatchNorm, BatchNorm again


def test_a_twin_is_refused_for_a_kind_its_library_file_does_not_define():
    with pytest.raises(ValueError, match="no such kind"):
        twin("no_such_kind")(lambda block, index, x, shortcut: None)
    with pytest.raises(ValueError, match="no such kind"):  # a kind of another library file
        twin("inverted_residual")(TWINS["se_bottleneck"])
    with pytest.raises(ValueError, match="has a static twin already"):
        twin("se_bottleneck")(TWINS["se_bottleneck"])


def test_a_specs_own_definition_of_a_library_name_gets_no_twin():
    """The twin belongs to the library's definition: a spec that defines its own `se_bottleneck`
    is evaluated on its own graph."""
    spec = archspec.load("""
name: own
input: {channels: 8, size: 8}
blocks:
  se_bottleneck:
    nodes:
      - {layer: conv, width: "${width}", kernel: 3, padding: 1}
stages:
  - {block: se_bottleneck, width: 4}
""")
    stage = spec.stages[0]
    assert type(stage).facts is BlockStage.facts
    assert archspec.check(spec).figures == ((4, 8, 8), 292, 18432)
    assert library_kinds()["se_bottleneck"].facts is not BlockStage.facts


PARAMETER_LIE = (r"\(output 16x8x8, 601 parameters, 17,664 MACs, a memory budget of [\d,]+ bytes\) differ .* "
                 r"\(output 16x8x8, 600 parameters")
MEMORY_LIE = (r"600 parameters, 17,664 MACs, a memory budget of 26,172 bytes\) differ .* "
              r"600 parameters, 17,664 MACs, a memory budget of 26,168 bytes\)")


@pytest.mark.parametrize(("lie", "message"), [
    (lambda facts: (facts[0], facts[1] + 1, *facts[2:]), PARAMETER_LIE),
    (lambda facts: (*facts[:3], facts[3] + 1, *facts[4:]), MEMORY_LIE),
])
def test_a_library_twin_that_disagrees_with_its_graph_stops_the_graph(lie, message):
    """A library twin off by one parameter, or by one value of its peak (the memory budget's figure),
    would give a check whose figures are not the built module's: making the graph (the table, the
    build) stops with both figures."""
    spec = archspec.load("name: t\ninput: {channels: 16, size: 8}\nstages: [{block: se_bottleneck, width: 4}]\n")
    model = library_kinds()["se_bottleneck"]
    honest = model.facts
    forget_block_figures()
    with patch.object(model, "facts", lambda self, index, x, shortcut: lie(honest(self, index, x, shortcut))):
        report = archspec.check(spec)
        assert report.ok and report.lowered is None
        with pytest.raises(RuntimeError, match=message + ".*archspec bug: a block's static twin is wrong"):
            report.resolved  # noqa: B018 (the property read is the test)
    assert archspec.check(spec).resolved


def test_a_checks_library_figures_are_kept_for_the_process_until_forgotten():
    """A repeated check of a spec reads its blocks' figures (the benchmark's `check` row); the first
    check of a process (`forget_block_figures`, the `check, nothing cached` row) computes them."""
    from archspec.library import twins as twins_module

    spec = archspec.load(SPECS / "mobilenet_v2.yaml")
    forget_block_figures()
    assert twins_module._KNOWN == {}
    first = archspec.check(spec)
    kept = {id(block) for block, _ in twins_module._KNOWN.values()}
    assert {id(entry) for entry in spec.stages[0].blocks if not hasattr(entry, "layer")} == kept
    again = archspec.check(spec)
    assert again.figures == first.figures and again.resolved  # the graph agrees (the guard passes)
    forget_block_figures()
    assert twins_module._KNOWN == {}


@pytest.mark.parametrize("kind", sorted(ELEMENTWISE))
def test_every_activation_the_twins_take_as_elementwise_is_so_by_the_layer_registry(kind: str):
    """The twins count an activation as an output beside its input, with no parameters, buffers or
    working values; the layer's own rule and its built module must say the same, or a twin's figures
    would not be the graph's for blocks that use it."""
    from archspec.layers import LAYERS

    assert kind in LAYERS.names()
    report = archspec.check(f"name: t\ninput: {{channels: 3, size: 5}}\nstem: [{{layer: {kind}}}]\n")
    assert report.ok and report.output_shape == (3, 5, 5) and report.params == report.macs == 0
    assert report.memory.total == 4 * (2 * 3 * 5 * 5)  # the graph's: input and output, nothing else
    module = archspec.compile(report.spec)
    assert not list(module.parameters()) and not list(module.buffers())
