"""What `archspec sample` remembers from spec to spec changes nothing but its speed.

Within `remembering_figures()` and `remembering_validations()` (a sampling run), block copies',
stem and head layers' and stages' figures and built-in layers' and stages' validated models are
remembered across specs. A run of specs loaded and checked inside them gives the specs, figures,
memory and errors that each gives alone; and a block kind's `alike_run` (how many copies the check
adds at once) says what asking every copy's `alike_key` says.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from archspec.blocks import BLOCKS
from archspec.blocks.base import BlockStage
from archspec.errors import SpecError
from archspec.figures_memo import remembering_figures
from archspec.loader import dump
from archspec.testing import invalid_specs, valid_specs
from archspec.validation_memo import remembering_validations


def _outcome(document: dict) -> tuple[Any, ...]:
    """The spec (or the load's errors) and its check's figures, memory and errors."""
    try:
        spec = archspec.load(dump(document))
    except SpecError as error:
        return ("refused", error.errors)
    report = archspec.check(spec, max_memory=None)
    return (spec, report.ok, report.figures if report.ok else None, report.twin_memory, report.errors)


def _remembered_and_fresh(documents: list[dict]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Each document's outcome inside one pair of memos (twice: the second time from them), and alone."""
    with ExitStack() as memos:
        memos.enter_context(remembering_figures())
        memos.enter_context(remembering_validations())
        remembered = [_outcome(document) for document in documents + documents]
    fresh = [_outcome(document) for document in documents]
    return remembered, fresh + fresh


def _broken(document: dict, how: int) -> dict:
    """The document with a value the validator refuses in its first stage or stem layer."""
    stages = document.get("stages") or []
    target = stages[0] if stages and "block" in stages[0] else (document.get("stem") or [None])[0]
    if target is None:
        return {**document, "input": {"channels": -1, "size": 8}}
    bad = ({**target, "width": str(target.get("width", 8))}, {**target, "width": -3},
           {**target, "no_such_field": 1})[how % 3]
    if target is (stages[0] if stages else None):
        return {**document, "stages": [bad, *stages[1:]]}
    return {**document, "stem": [bad, *document["stem"][1:]]}


@settings(max_examples=40, deadline=None)
@given(st.lists(valid_specs(max_width=12, max_repeats=4), min_size=2, max_size=5),
       st.lists(invalid_specs(max_width=12), max_size=2), st.integers(0, 2))
def test_specs_checked_from_the_memos_equal_each_alone(valid: list[dict], invalid: list[Any], how: int):
    documents = [*valid, *(case.document for case in invalid), *(_broken(d, how) for d in valid[:2])]
    remembered, fresh = _remembered_and_fresh(documents)
    assert remembered == fresh
    assert any(outcome[0] == "refused" for outcome in fresh)  # validation errors compared too


def test_a_kind_defined_in_yaml_is_not_remembered():
    """Two specs define `unit` differently: the second's stage is its own kind's, not the first's."""
    def document(kernel: int) -> dict:
        return {"name": "t", "input": {"channels": 3, "size": 8},
                "blocks": {"unit": {"nodes": [{"name": "conv", "layer": "conv", "width": "${width}",
                                               "kernel": kernel, "padding": kernel // 2}]}},
                "stages": [{"block": "unit", "width": 8}]}
    remembered, fresh = _remembered_and_fresh([document(1), document(3)])
    assert remembered == fresh
    assert fresh[0][2] != fresh[1][2]  # the two kinds' figures differ


# The kinds that say their runs themselves (the others ask every copy's key, as the test does).
RUNS_OF_THEIR_OWN = [name for name in BLOCKS.names() if BLOCKS[name].alike_run is not BlockStage.alike_run]


def test_the_residual_kinds_say_their_runs():
    assert {"basic", "bottleneck"} <= set(RUNS_OF_THEIR_OWN)


@pytest.mark.parametrize("kind", RUNS_OF_THEIR_OWN)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("repeats", [1, 2, 5])
def test_alike_run_says_what_every_copys_alike_key_says(kind: str, stride: int, repeats: int):
    block = BLOCKS[kind].model_validate({"block": kind, "width": 8, "stride": stride, "repeats": repeats})
    for index in range(block.copies()):
        key = block.alike_key(index)
        if key is not None:
            assert block.alike_run(index, key) == BlockStage.alike_run(block, index, key)
