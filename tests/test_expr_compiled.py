"""`expr.compiled(text)` (what interpolation evaluates with) gives what `evaluate(parse(text))` gives:
the same value of the same type, or the same error (message, offset, hint), for random expressions
over names holding numbers, zero, true/false and strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archspec.expr import ExprError, compiled, evaluate, parse

ENVIRONMENT: dict[str, object] = {"a": 7, "b": 0, "w": 64, "f": 0.25, "t": True, "s": "relu", "big": 2**39}
ATOMS = st.sampled_from([*ENVIRONMENT, "nope", "0", "3", "2.5", "1e3", "-4"])
BINARY = ["+", "-", "*", "/", "//", "%", "<", "<=", "==", "!=", ">=", ">", "and", "or"]
FUNCTIONS = ["min", "max", "round", "divisible"]


def _expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(BINARY), inner).map(lambda p: f"{p[0]} {p[1]} {p[2]}")
        call = st.tuples(st.sampled_from(FUNCTIONS), st.lists(inner, min_size=1, max_size=4)).map(
            lambda p: f"{p[0]}({', '.join(p[1])})")
        return st.one_of(binary, call, inner.map(lambda e: f"({e})"), inner.map(lambda e: f"-{e}"),
                         inner.map(lambda e: f"+{e}"))
    return st.recursive(ATOMS, extend, max_leaves=8)


def outcome(text: str, use_compiled: bool) -> tuple[object, ...]:
    try:
        value = compiled(text)(ENVIRONMENT) if use_compiled else evaluate(parse(text), text, ENVIRONMENT)
    except ExprError as error:
        return ("error", error.message, error.offset, error.hint)
    return ("value", type(value), value)


@given(_expressions())
def test_compiled_expressions_equal_the_evaluated_tree(text: str):
    try:
        parse(text)
    except ExprError:
        return  # a syntax error is parse's, before either evaluates
    assert outcome(text, use_compiled=True) == outcome(text, use_compiled=False)


@pytest.mark.parametrize("text", ["a // b", "max(w // 16, 8)", "divisible(w * f, 8)", "divisible(w, f)", "-s",
                                  "t and a", "s == s", "a < s", "round(a / 2)", "min(a)", "big * big", "-(a - w)",
                                  "+f", "nope + 1", "a % b", "-b", "t or 1 > 0"])
def test_known_cases_agree(text: str):
    assert outcome(text, use_compiled=True) == outcome(text, use_compiled=False)
