"""Block kinds registered from Python with `archspec.register_block`: names that are taken, and a kind
registered after specs were checked in the same process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest

import archspec
from archspec.blocks import BLOCKS, BlockStage
from archspec.graph import layer_node, sequence
from archspec.layers import Conv, derived


def _conv_kind(name: str) -> type[BlockStage]:
    """A kind `name` that lowers to one 3x3 convolution (a class made per test, as a user writes one)."""

    class Kind(BlockStage):
        block: Literal[name]  # type: ignore[valid-type]

        def lower(self, index, x, shortcut, origin):
            conv = derived(Conv, layer="conv", width=self.width, kernel=3, padding=1, bias=False)
            return sequence(name, str(index), (layer_node("conv", conv, origin),), origin, "input")

    return Kind


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """The kinds a test registers, removed after it: other tests hold every registered kind to their rules."""
    names: list[str] = []
    yield names
    for name in names:
        BLOCKS.remove(name)


@pytest.mark.parametrize("library_kind", ["squeeze_excite", "inverted_residual"])
def test_a_library_kinds_name_is_refused(library_kind: str, registered: list[str]):
    """`squeeze_excite` was accepted: a spec using it got the Python class, and the library's `se_basic`,
    which nests it, failed with an error inside archspec's own library file."""
    with pytest.raises(ValueError, match=f"'{library_kind}' is a kind of archspec's library"):
        archspec.register_block(_conv_kind(library_kind))
    if library_kind in BLOCKS:  # registered after all: remove it for the next tests
        registered.append(library_kind)
    spec = "name: t\ninput: {channels: 3, size: 8}\nstages: [{block: se_basic, width: 16}]\n"
    assert archspec.check(spec).ok


def test_a_kind_needs_exactly_one_name():
    class TwoNames(BlockStage):
        block: Literal["first_name", "second_name"]

    with pytest.raises(TypeError, match=r"with one name: .*found Literal\['first_name', 'second_name'\]"):
        archspec.register_block(TwoNames)


def test_a_spec_defining_a_name_registered_since_it_was_checked_is_refused(registered: list[str]):
    """The same `blocks:` checked again after a Python kind took its name was built from the Python
    kind (its definitions were remembered for the text), where a fresh process refuses it."""
    spec = ("name: t\ninput: {channels: 3, size: 8}\n"
            "blocks:\n  test_unit:\n    nodes:\n      - {name: c, layer: conv, width: \"${width}\", kernel: 1}\n"
            "stages: [{block: test_unit, width: 4}]\n")
    assert archspec.check(spec).params == 3 * 4 + 4  # the definition's 1x1 convolution
    archspec.register_block(_conv_kind("test_unit"))
    registered.append("test_unit")
    with pytest.raises(archspec.SpecError, match="`test_unit` is a built-in block kind"):
        archspec.load(spec)


def test_facts_that_disagree_with_the_graph_stop_the_table_and_the_build(registered: list[str]):
    """A kind whose own `facts` lie (1 parameter for a 108-parameter convolution) was checked with its
    figures and built from its graph: the report said 515 parameters, the module had 622, and the
    table's rows did not add up to its total."""
    honest = _conv_kind("test_liar")

    class Liar(honest):  # type: ignore[valid-type, misc]
        def facts(self, index, x, shortcut):
            return (self.width, x[1], x[2]), 1, 1, 1, 0

    archspec.register_block(Liar)
    registered.append("test_liar")
    spec = archspec.load("name: t\ninput: {channels: 3, size: 8}\nstages: [{block: test_liar, width: 4}]\n"
                         "head: [{layer: flatten}, {layer: linear, width: 2}]\n")
    message = r"static figures \(output 2, 515 parameters.*module is built from \(output 2, 622 parameters.*`test_liar`"
    with pytest.raises(RuntimeError, match=message):
        archspec.check(spec).rows()
    with pytest.raises(RuntimeError, match=message):
        archspec.compile(spec)


def test_facts_right_but_for_the_memory_peak_stop_the_table_and_the_build(registered: list[str]):
    """A kind's `facts` with the right shape, parameters and MACs but a made-up activation peak passed:
    `memory_bytes` (the budget `--max-memory` enforces) was the kind's figure, not the graph's."""
    from archspec.blocks.base import graph_facts

    honest = _conv_kind("test_peak_liar")

    class PeakLiar(honest):  # type: ignore[valid-type, misc]
        def facts(self, index, x, shortcut):
            out, params, macs, _, buffers = graph_facts(self, index, x, shortcut)
            return out, params, macs, 1, buffers

    archspec.register_block(PeakLiar)
    registered.append("test_peak_liar")
    spec = archspec.load("name: t\ninput: {channels: 3, size: 8}\nstages: [{block: test_peak_liar, width: 4}]\n"
                         "head: [{layer: flatten}, {layer: linear, width: 2}]\n")
    report = archspec.check(spec)
    assert report.ok and report.params == 3 * 4 * 9 + 4 * 64 * 2 + 2
    message = r"static figures \(.*, a memory budget of [\d,]+ bytes\) differ .*`test_peak_liar`"
    with pytest.raises(RuntimeError, match=message):
        report.rows()
    with pytest.raises(RuntimeError, match=message):
        archspec.compile(spec)


def test_facts_of_four_figures_written_before_buffers_were_counted_fall_back_to_the_graph(registered: list[str]):
    """`facts` returned (output, parameters, MACs, peak) before the budget counted buffers (BatchNorm's
    running statistics); such a kind stopped every check with an unpacking error."""
    from archspec.blocks.base import graph_facts

    honest = _conv_kind("test_four_figures")

    class FourFigures(honest):  # type: ignore[valid-type, misc]
        def facts(self, index, x, shortcut):
            return graph_facts(self, index, x, shortcut)[:4]

    archspec.register_block(FourFigures)
    registered.append("test_four_figures")
    spec = archspec.load("name: t\ninput: {channels: 3, size: 8}\nstages: [{block: test_four_figures, width: 4}]\n")
    report = archspec.check(spec)
    assert report.ok and report.params == 3 * 4 * 9
    assert report.memory_bytes == report.memory.total
    assert sum(p.numel() for p in archspec.compile(spec).parameters()) == report.params
