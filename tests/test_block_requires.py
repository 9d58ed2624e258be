"""`requires:` in block definitions: conditions every use must meet, refused at the stage with the
values found and a default that meets them, before any node of the block is made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import archspec
from conftest import spec_errors

SPEC = """name: t
input: {{channels: 3, size: 16}}
blocks:
  gate:
    fields: {{reduction: 4}}
    requires: ["${{reduction >= 1}}", "${{in % 2 == 0}}"]
    nodes:
      - {{name: pool, layer: global_avgpool}}
      - {{name: fc, layer: conv, width: "${{max(in // reduction, 1)}}", kernel: 1}}
      - {{name: up, layer: conv, width: "${{in}}", kernel: 1}}
      - {{name: sigmoid, layer: sigmoid}}
      - {{op: mul, from: [input, sigmoid]}}
  outer:
    fields: {{inner_reduction: 4}}
    nodes:
      - {{name: conv, layer: conv, width: "${{width}}", kernel: 3, padding: 1}}
      - {{name: se, block: gate, reduction: "${{inner_reduction}}"}}
stem: [{{layer: conv, width: {stem}, kernel: 3, padding: 1}}]
stages:
  - {{block: gate, width: {stem}{first}}}
  - {{block: outer, width: 8{second}}}
head: [{{layer: global_avgpool}}, {{layer: flatten}}, {{layer: linear, width: 3}}]
"""


def _spec(stem: int = 8, first: str = "", second: str = "") -> str:
    return SPEC.format(stem=stem, first=first, second=second)


def test_a_block_whose_requirements_hold_builds_and_runs():
    report = archspec.check(archspec.load(_spec()))
    assert report.ok
    network = archspec.compile(archspec.load(_spec()))
    assert tuple(network(torch.zeros(2, 3, 16, 16)).shape) == (2, 3) == (2, *report.output_shape)


def test_an_unmet_requirement_on_a_written_field_is_refused_at_that_field_with_the_default():
    errors = spec_errors(_spec(first=", reduction: 0"))
    assert [error.path for error in errors] == [("stages", 0, "reduction")]  # no division by zero after it
    assert errors[0].line == 20
    assert "`gate` requires `reduction >= 1`, but reduction is 0" in errors[0].message
    assert errors[0].hint.startswith("write `reduction: 4` (the default)")


def test_an_unmet_requirement_on_the_input_is_refused_at_the_stage_naming_the_width_before():
    errors = spec_errors(_spec(stem=7))
    assert [error.path for error in errors] == [("stages", 0)]
    assert "requires `in % 2 == 0`, but in is 7" in errors[0].message
    assert "the width of the layer or block before" in errors[0].hint


def test_every_unmet_requirement_of_a_use_is_reported_at_once():
    errors = spec_errors(_spec(stem=7, first=", reduction: 0"))
    assert sorted(error.path for error in errors) == [("stages", 0), ("stages", 0, "reduction")]


def test_a_nested_use_is_refused_at_the_stages_field_that_the_node_passes_on():
    # `reduction: "${inner_reduction}"` carries the stage's value unchanged: the mistake is there (as
    # for a layer's setting), not in the definition, which may be a library file
    errors = spec_errors(_spec(second=", inner_reduction: -1"))
    assert [error.path for error in errors] == [("stages", 1, "inner_reduction")]
    assert errors[0].message.startswith("stages[1] (outer, copy 0) > layer2.0.se: `gate` requires")
    assert "requires `reduction >= 1`, but reduction is -1" in errors[0].message


@pytest.mark.parametrize(("requires", "words"), [
    ('"reduction >= 1"', "expected one `${...}` comparison"),
    ('"${reducton >= 1}"', "did you mean `reduction`"),
    ('"${reduction >=}"', "`${reduction >=}`"),
    ('"${reduction >= 1} and more"', "expected one `${...}` comparison"),
])
def test_a_malformed_requirement_is_refused_where_it_is_written(requires, words):
    text = _spec().replace('["${reduction >= 1}", "${in % 2 == 0}"]', f"[{requires}]")
    errors = spec_errors(text)
    assert [error.path for error in errors] == [("blocks", "gate", "requires", 0)]
    assert errors[0].line == 6
    assert words in errors[0].message + (errors[0].hint or "")


def test_a_requirement_that_is_not_true_or_false_is_unmet_and_says_so():
    errors = spec_errors(_spec().replace('"${reduction >= 1}", ', '"${reduction + 1}", '))
    assert "(it is 5, not true or false)" in errors[0].message


def test_the_command_exits_2_without_a_traceback_and_blocks_lists_the_requirements(tmp_path: Path):
    path = tmp_path / "spec.yaml"
    path.write_text(_spec(first=", reduction: 0"))
    result = subprocess.run([sys.executable, "-m", "archspec", "check", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}:20:" in result.stderr and "requires `reduction >= 1`" in result.stderr
    listed = subprocess.run([sys.executable, "-m", "archspec", "blocks", str(path), "--json"],
                            capture_output=True, text=True, check=True)
    kinds = {entry["kind"]: entry for entry in json.loads(listed.stdout)["kinds"]}
    assert kinds["gate"]["requires"] == ["${reduction >= 1}", "${in % 2 == 0}"]
    assert kinds["basic"]["requires"] == []
