"""Every block's static twin (`BlockStage.facts`, pycls's `complexity`) equals its lowered graph.

`archspec.check` computes a network's figures from the twins and lowers the blocks only for a table,
a build, or to report a problem. So, for every registered block kind, on inputs the block fits and
inputs it does not:
- where the graph evaluates cleanly, the twin gives its output shape, parameters, MACs, the most
  activation values alive at once while it runs and its modules' buffer bytes (the memory budget's
  figures);
- where the graph reports a problem, or a derived layer is out of limits, the twin declines (None or
  a ShapeProblem), so the check falls back to the graph, which says what is wrong.
And whole networks: `check` gives the same figures, errors and budget verdicts as the graph alone.
"""

from __future__ import annotations

import importlib
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import archspec
from archspec.blocks import BLOCKS
from archspec.blocks.base import BlockFacts, BlockStage
from archspec.budget import buffer_bytes, node_peak
from archspec.graph import Evaluator
from archspec.shapes import Shape, ShapeProblem
from archspec.testing import BLOCK_STRATEGIES, SHORTCUTS, invalid_specs, to_spec, valid_specs
from archspec.testing.kinds import Knobs
from tests.conftest import SPECS

CHECK_MODULE = importlib.import_module("archspec.check")  # `archspec.check` is also the function


def twin_facts(block: BlockStage, index: int, x: Shape, shortcut: str) -> BlockFacts | None:
    try:
        return block.facts(index, x, shortcut)  # type: ignore[arg-type]
    except ShapeProblem:
        return None


def graph_facts(block: BlockStage, index: int, x: Shape, shortcut: str) -> BlockFacts | None:
    """The figures of the block's lowered graph, evaluated as the checker does; None on a problem."""
    try:
        node = block.lower(index, x, shortcut, ("stages", 0))  # type: ignore[arg-type]
    except ValidationError:  # a derived layer out of the language's limits
        return None
    evaluator = Evaluator()
    result = evaluator.run(node, x, "layer1")
    if result is None or evaluator.problems:
        return None
    return result.out_shape, result.params, result.macs, node_peak(result).values, buffer_bytes(result)


def test_every_registered_block_kind_has_a_twin():
    without = [name for name in BLOCKS.names() if BLOCKS[name].facts is BlockStage.facts]
    assert not without, f"block kinds without a static twin (`facts`): {without}"


@st.composite
def blocks_and_inputs(draw: Any) -> tuple[BlockStage, int, Shape, str]:
    """A block of any registered kind, drawn valid for one input, then applied to that input or to
    another one (other channels, a smaller or odd size, a flat vector), as any copy and shortcut."""
    kind = draw(st.sampled_from(BLOCKS.names()))
    drawn_for = (draw(st.integers(1, 8)), draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    knobs = Knobs(max_repeats=3, max_width=12, shortcuts=SHORTCUTS, default_shortcut="B")
    entry = BLOCK_STRATEGIES[kind].draw(draw, drawn_for, knobs)
    if entry is None:  # the kind cannot fit that input: draw it for a roomier one
        entry = BLOCK_STRATEGIES[kind].draw(draw, (drawn_for[0], 16, 16), knobs)
    block = BLOCKS[kind].model_validate(entry)
    x = draw(st.one_of(
        st.just(drawn_for),
        st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12)),
        st.tuples(st.integers(1, 64)),  # a flat vector: every block refuses it
    ))
    return block, draw(st.integers(0, 2)), x, draw(st.sampled_from(SHORTCUTS))


def _block(entry: dict[str, Any]) -> BlockStage:
    return BLOCKS[entry["block"]].model_validate(entry)


@settings(max_examples=600, deadline=None)
@given(blocks_and_inputs())
# Declines that random draws reach rarely: an identity or option-A shortcut that cannot fit, a
# bottleneck whose derived convolution is over the channel limit, an even kernel in a concatenation.
@example((_block({"block": "basic", "width": 8, "stride": 2}), 0, (8, 6, 6), "identity"))
@example((_block({"block": "basic", "width": 4}), 0, (8, 6, 6), "A"))
@example((_block({"block": "basic", "width": 8, "stride": 2}), 0, (4, 5, 7), "A"))
@example((_block({"block": "bottleneck", "width": 128, "width_per_group": 65_536}), 0, (8, 6, 6), "B"))
@example((_block({"block": "bottleneck", "width": 32_768, "expansion": 4}), 0, (8, 6, 6), "B"))
@example((_block({"block": "inception", "c1": 2, "c2": [2, 2], "c3": [2, 2], "c4": 2, "c3_kernel": 4}),
          0, (3, 9, 9), "B"))
@example((_block({"block": "vgg", "width": 4, "repeats": 2}), 0, (3, 1, 5), "B"))
@example((_block({"block": "nin", "width": 4, "kernel": 5, "stride": 2}), 0, (3, 4, 4), "B"))
def test_twin_equals_lowered_graph(case: tuple[BlockStage, int, Shape, str]):
    block, index, x, shortcut = case
    assert twin_facts(block, index, x, shortcut) == graph_facts(block, index, x, shortcut)


@pytest.mark.parametrize("entry", [
    {"block": "basic", "width": 8},  # the width changes at stride 1: an identity in the pool's place
    {"block": "basic", "width": 8, "stride": 2},
    {"block": "basic", "width": 4, "stride": 3, "projection_norm": False, "projection_bias": True},
    {"block": "bottleneck", "width": 4, "stride": 2, "stride_on": "1x1"},
    {"block": "bottleneck", "width": 2, "stride": 4, "groups": 2, "width_per_group": 64},
])
@pytest.mark.parametrize("x", [(4, 1, 1), (4, 5, 7), (4, 6, 6), (3, 9, 2)])
def test_shortcut_d_twin_equals_graph_and_fits_every_size(entry, x):
    """Shortcut D (ResNet-D) where the shape changes: its pool's ceil_mode keeps it the main path's
    size at any input and stride, and the twin's figures are the graph's."""
    block = _block(entry)
    for index in (0, 1):
        assert twin_facts(block, index, x, "D") is not None
        assert twin_facts(block, index, x, "D") == graph_facts(block, index, x, "D")


@pytest.mark.parametrize(("entry", "x", "shortcut"), [
    ({"block": "basic", "width": 8, "stride": 2}, (8, 6, 6), "identity"),
    ({"block": "basic", "width": 4}, (8, 6, 6), "A"),
    ({"block": "bottleneck", "width": 128, "width_per_group": 65_536}, (8, 6, 6), "B"),
    ({"block": "inception", "c1": 2, "c2": [2, 2], "c3": [2, 2], "c4": 2, "c3_kernel": 4}, (3, 9, 9), "B"),
    ({"block": "vgg", "width": 4}, (3, 1, 5), "B"),
    ({"block": "nin", "width": 4, "kernel": 5}, (3, 4, 4), "B"),
    ({"block": "basic", "width": 4}, (64,), "B"),
])
def test_twin_declines_where_the_graph_reports_a_problem(entry, x, shortcut):
    """The examples above, each shown to be a decline (so the equality test covers both outcomes)."""
    block = _block(entry)
    assert graph_facts(block, 0, x, shortcut) is None
    assert twin_facts(block, 0, x, shortcut) is None


def _graph_only_report(spec: archspec.Spec) -> archspec.Report:
    """The check with every twin declining: the graph alone decides."""
    with patch.object(CHECK_MODULE, "twin_figures", return_value=None):
        return archspec.check(spec)


def _graph_figures(report: archspec.Report) -> tuple[Shape, int, int]:
    resolved = report.resolved
    return resolved[-1].out_shape, sum(r.params for r in resolved), sum(r.macs for r in resolved)


@settings(max_examples=150, deadline=None)
@given(valid_specs(max_width=12))
def test_checked_figures_equal_the_graphs(document: dict):
    """A valid network checks on its twins; its lazily made graph agrees, and the budget's verdict
    at the graph's memory estimate (the twins decide it without the graph) is exact."""
    spec = to_spec(document)
    report = archspec.check(spec)
    assert report.ok and report.lowered is None  # passed on the twins: the graph is not made yet
    assert report.figures == _graph_figures(report)
    needed = report.memory.total
    assert archspec.check(spec, max_memory=needed).ok
    assert not archspec.check(spec, max_memory=needed - 1).ok


@settings(max_examples=150, deadline=None)
@given(invalid_specs(max_width=12))
def test_errors_equal_the_graphs(case: Any):
    """A faulty network falls back to the graph: the same errors as a check that never uses twins."""
    spec = to_spec(case.document)
    errors = archspec.check(spec).errors
    assert errors and errors == _graph_only_report(spec).errors


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda path: path.stem)
def test_shipped_specs_check_on_twins(path):
    spec = archspec.load(path)
    report = archspec.check(spec)
    assert report.ok and report.lowered is None
    graph_report = _graph_only_report(spec)
    assert report.figures == graph_report.figures == _graph_figures(graph_report)
    assert report.rows(None) == graph_report.rows(None)


def test_a_twin_that_vouches_for_a_faulty_block_is_caught():
    """The guard behind the lazy graph: if a twin ever passed a block whose graph has a problem,
    reading the per-node figures raises instead of returning a graph with an error in it."""
    spec = to_spec({"name": "faulty", "input": {"channels": 3, "size": 8},
                    "stages": [{"block": "basic", "width": 8, "stride": 2, "shortcut": "identity"}]})
    assert not archspec.check(spec).ok
    basic = BLOCKS["basic"]
    with patch.object(basic, "facts", lambda self, index, x, shortcut: ((8, 4, 4), 1, 1, 1, 0)):
        report = archspec.check(spec)
        assert report.ok
        with pytest.raises(RuntimeError, match="archspec bug: the blocks' static twins passed 'faulty'"):
            report.resolved  # noqa: B018 (the property read is the test)


def test_a_network_of_no_modules_holds_its_input_on_both_paths():
    """Its twins counted the input's values (256 bytes for 1x8x8), the graph's estimate nothing: the
    check's budget figure was not the report's `memory` (found by the fuzz test once making the graph
    compared them). Both count the input now, which every network holds while it runs."""
    report = archspec.check(archspec.load("name: e\ninput: {channels: 1, size: 8}\nstages: []\n"))
    assert report.ok and report.lowered is None
    assert report.memory_bytes == report.memory.total == 1 * 8 * 8 * 4
