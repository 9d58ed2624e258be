"""What the first check of a network works out once and reuses (archspec/blocks/defined_plans.py,
archspec/expr.py's `interpolation`, archspec/nesting.py's arrangements of names) gives what working
it out for each use gives: the same values and errors of strings, the same nesting and problems
for nodes of the same names that differ in everything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archspec.expr import ExprError, evaluate, interpolate, interpolation, parse, split
from archspec.graph import Node
from archspec.layers import LAYERS, derived
from archspec.nesting import DottedNameError, _nest, nest_dotted

ENVIRONMENT: dict[str, object] = {"a": 7, "b": 0, "f": 0.5, "t": True, "s": "relu", "big": 2**39}
PIECES = st.sampled_from(["", "x", ".", "net", "\\${a}", "${a}", "${b}", "${f}", "${t}", "${s}", "${a // b}",
                          "${a + f}", "${big * big}", "${nope}", "${a +}", "${min(a, b) + 2}", "${a == 7}"])


def _reference(text: str) -> tuple[object, ...]:
    """The value of a string piece by piece, from the parsed expressions themselves."""
    try:
        pieces = split(text)
        values = []
        for piece in pieces:
            if piece.expression is None:
                continue
            try:
                values.append(evaluate(parse(piece.expression), piece.expression, ENVIRONMENT))
            except ExprError as error:
                raise ExprError(f"`${{{piece.expression}}}`: {error.message}", error.offset + piece.start,
                                error.hint) from None
        if len(pieces) == 2 and not pieces[0].literal and not pieces[1].literal and pieces[0].expression:
            return ("value", type(values[0]), values[0])
        shown = iter(("true" if v else "false") if isinstance(v, bool) else repr(v) if isinstance(v, float)
                     else str(v) for v in values)
        text = "".join(piece.literal + (next(shown) if piece.expression is not None else "") for piece in pieces)
        return ("value", str, text)
    except ExprError as error:
        return ("error", error.message, error.offset, error.hint)


def _outcome(text: str) -> tuple[object, ...]:
    try:
        value = interpolation(text)(ENVIRONMENT)
    except ExprError as error:
        return ("error", error.message, error.offset, error.hint)
    return ("value", type(value), value)


@given(st.lists(PIECES, min_size=1, max_size=4).map("".join))
def test_a_strings_function_gives_its_value_or_its_located_error(text: str):
    assert _outcome(text) == _reference(text)
    assert _outcome(text) == _outcome(text)  # an error is raised afresh, not kept and moved again


def test_interpolate_is_the_strings_function():
    assert interpolate("w${a * 2}x", ENVIRONMENT) == interpolation("w${a * 2}x")(ENVIRONMENT) == "w14x"


def _nodes(width: int, origin: str, reads_outside: bool = False) -> tuple[Node, ...]:
    conv = derived(LAYERS["conv"], layer="conv", width=width, kernel=1)
    relu = derived(LAYERS["relu"], layer="relu")
    return (Node("block.0", "layer", ("input",), conv, (origin, 0), True),
            Node("block.1", "layer", ("block.0",), relu, (origin, 1), True),
            Node("add", "add", ("block.1", "block.0" if reads_outside else "input"), None, (origin, 2), False),
            Node("head.0", "layer", ("add",), relu, (origin, 3), True))


def _direct(nodes: tuple[Node, ...], output: str) -> tuple[tuple[Node, ...], str] | list[object]:
    problems: list[object] = []
    nested = _nest(nodes, output, "", problems)  # type: ignore[arg-type]
    return problems or nested


@pytest.mark.parametrize("reads_outside", [False, True])
def test_nodes_of_the_same_names_nest_each_with_its_own_layers_and_places(reads_outside: bool):
    for nodes in (_nodes(8, "one", reads_outside), _nodes(16, "two", reads_outside), _nodes(8, "one", reads_outside)):
        expected = _direct(nodes, "head.0")
        if isinstance(expected, list):
            with pytest.raises(DottedNameError) as raised:
                nest_dotted(nodes, "head.0")
            assert raised.value.problems == expected
            assert all(problem.origin[0] == nodes[0].origin[0] for problem in expected)
        else:
            assert nest_dotted(nodes, "head.0") == expected
            container = expected[0][0]
            assert container.origin == nodes[0].origin and container.payload.nodes[0].payload is nodes[0].payload
