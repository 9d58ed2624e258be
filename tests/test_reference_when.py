"""The strategies' plain-Python reference reads `when:` as archspec does: a node left out is not made,
so an expression of it that would fail is never computed (a near miss placed there is no near miss)."""

from __future__ import annotations

import archspec
from archspec.testing.reference_defined import defined_shape

BLOCKS = {"unit": {"nodes": [
    {"name": "main", "layer": "conv", "width": "${width}", "kernel": 1},
    {"name": "proj", "layer": "conv", "width": "${width // (width - width)}", "kernel": 1,
     "when": "${stride != 1 or in != width}", "from": "input"},
    {"name": "add", "op": "add", "from": ["proj", "main"]}]}}


def test_a_left_out_node_s_failing_expression_is_never_computed_by_archspec_or_the_reference():
    spec = {"name": "t", "input": {"channels": 4, "size": 8}, "blocks": BLOCKS,
            "stages": [{"block": "unit", "width": 4}]}
    assert archspec.check(archspec.load(archspec.loader.dump(spec))).output_shape == (4, 8, 8)
    assert defined_shape("unit", {"width": 4}, (4, 8, 8), "B", BLOCKS, stride=1) == (4, 8, 8)
