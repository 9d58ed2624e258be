"""Check == build over random specs whose module names are drawn from a set full of clashes: default
names (`layer1`, `fc`, `conv1`), names written twice, attributes of PyTorch's containers (`forward`,
`training`, `_modules`) and of archspec's network (`spec_name`).

- a spec the check accepts builds, and the module is the report: every node's output shape and
  parameter count, the total, and the module and state_dict names equal the table's;
- a spec the check refuses is refused for names alone, and each refusal is real: PyTorch's container
  refuses a reserved name, and a clashing name is the name of a sibling; renaming each as its hint
  says gives a spec the check accepts, which builds exactly as well.

ARCHSPEC_NAME_EXAMPLES sets the number of drawn specs (default 100, a few seconds).
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis.errors import InvalidArgument
from torch import nn

import archspec
from archspec import modules
from archspec.build import build_module
from archspec.check import Report
from archspec.errors import Diagnostic
from archspec.testing import to_spec, valid_specs
from archspec.verify import verify_against_forward

NAMES = ["layer1", "layer2", "layer3", "fc", "conv1", "bn1", "relu", "avgpool", "flatten", "group1", "a",
         "forward", "training", "_modules", "spec_name", "append", "add_module", "T_destination", "__init__"]


EXAMPLES = settings(max_examples=int(os.environ.get("ARCHSPEC_NAME_EXAMPLES", "100")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _assert_builds_as_reported(report: Report) -> None:
    assert report.ok, [e.render() for e in report.errors]
    network = build_module(report)
    assert verify_against_forward(report, network) == []  # every node: output shape and parameters
    assert report.params == sum(p.numel() for p in network.parameters())
    rows = report.rows(depth=None)
    # A layer_scale row is a bare parameter where the reference registers one (ConvNeXt's
    # `layer_scale`, for strict state_dict loading): the row names that parameter, not a module.
    parameters = dict(network.named_parameters())
    bare = {row.name for row in rows if row.name in parameters}
    assert [name for name, _ in network.named_modules() if name] == [row.name for row in rows if row.name not in bare]
    owners = list(dict.fromkeys(key.rsplit(".", 1)[0] for key in network.state_dict()))
    names = [row.name for row in rows]
    assert [owner for owner in owners if owner not in names] == []
    leaves_with_parameters = [row.name for row in rows if row.params and row.name not in bare and not any(
        other.startswith(row.name + ".") for other in names)]
    assert [owner for owner in owners if owner in leaves_with_parameters] == leaves_with_parameters


def _at(document: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _offered(error: Diagnostic) -> str:
    found = re.search(r"`name: (\w+)`", error.hint or "")
    assert found, error.hint
    return found.group(1)


def _assert_refused_for_real(document: dict, error: Diagnostic, fixed: dict, network: nn.Module) -> None:
    """`error` refused the name at its path: PyTorch's container would refuse it too, or a sibling
    in the (otherwise identical) fixed network has it."""
    name = _at(document, error.path)
    top_level = len(error.path) == 3  # (stem|stages|head, i, name); a list stage's layer is deeper
    if "reserved" in error.message:
        container = modules.Network("t", []) if top_level else nn.Sequential()
        try:
            container.add_module(name, nn.Identity())
        except KeyError:
            return
        raise AssertionError(f"{name!r} refused as reserved, but PyTorch adds a module by that name")
    index = error.path[1]
    stage = fixed["stages"][index] if error.path[0] == "stages" and not top_level else None
    parent = network.get_submodule(stage.get("name", f"layer{index + 1}")) if stage else network
    assert name in dict(parent.named_children()), f"{name!r} refused as a clash, but no sibling has it"


@EXAMPLES
@given(valid_specs(names=NAMES, max_width=8, input_sizes=None))
def test_accepted_specs_build_exactly_and_refused_ones_clash_for_real(document: dict):
    report = archspec.check(to_spec(document))
    if report.ok:
        event("accepted")
        _assert_builds_as_reported(report)
        return
    event("refused for names")
    assert all(error.path[-1] == "name" and error.message.startswith("module name") for error in report.errors), \
        [e.render() for e in report.errors]
    fixed = copy.deepcopy(document)
    for error in report.errors:
        _at(fixed, error.path[:-1])["name"] = _offered(error)
    fixed_report = archspec.check(to_spec(fixed))
    _assert_builds_as_reported(fixed_report)
    network = build_module(fixed_report)
    for error in report.errors:
        _assert_refused_for_real(document, error, fixed, network)


# Dotted names nest (`a.0` is module `0` of an nn.Sequential `a`): drawn at random places, they often
# do not follow one another, or clash with a plain `a`, and the check refuses them for that alone.
DOTTED = ["a.0", "a.1", "a.x", "a", "b.0.c", "b.0.d", "b.1", "conv1.0", "conv1.1", "fc", "a.forward", "training.0"]


@EXAMPLES
@given(valid_specs(names=DOTTED, max_width=8, input_sizes=None))
def test_dotted_names_build_as_nested_as_reported_or_are_refused_for_names_alone(document: dict):
    report = archspec.check(to_spec(document))
    if report.ok:
        event("accepted" + (" with containers" if any(row.kind == "sequential" for row in report.rows(0)) else ""))
        _assert_builds_as_reported(report)
        return
    event("refused for names")
    assert all(error.path[-1] == "name" and error.hint for error in report.errors), [e.render() for e in report.errors]


@pytest.mark.parametrize("names", [["0"], ["fc", "a..b"], ["fc", "0.a"], [""], [], "fc"])
def test_the_names_knob_takes_only_names_a_spec_can_write(names: Any):
    """`0` names a list stage's first block, but a `name:` cannot be written so (the validator
    refuses it): the knob refuses it too, rather than draw specs refused for something else."""
    with pytest.raises(InvalidArgument, match="names must be"):
        valid_specs(names=names).example()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(names=NAMES, max_width=8, input_sizes=None))
def test_remembered_top_level_names_equal_the_names_worked_out_anew(document: dict):
    """A spec without list stages has its names remembered by the layers' kinds and names and the
    stages' names (archspec.names): the same names and problems as working them out from the spec."""
    from archspec.names import _module_names, module_names

    spec = to_spec(document)
    assert module_names(spec) == _module_names(spec)
    assert module_names(spec) == _module_names(spec)  # remembered the second time
