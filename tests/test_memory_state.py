"""The memory budget's static figure for what a network holds, its parameters and buffers, equals the
built module's in bytes: `sum(p.numel() * p.element_size())` over its parameters and its buffers
(BatchNorm's float32 running statistics and int64 batch count), for every layer kind of the registry,
the shipped specs (built-in, library and nested kinds), block kinds written in YAML, and drawn
networks; on the blocks' static twins (`Report.memory_bytes`) and on the graph (`Report.memory`) alike.

Modules are built on PyTorch's meta device: their tensors have sizes and types but no storage, so a
network of any size is built in milliseconds (the measured peaks are tests/test_memory_bound.py's).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

import archspec
from archspec.budget import BYTES_PER_VALUE
from archspec.layers import LAYERS
from archspec.testing import to_spec, valid_specs
from tests.conftest import SPECS

# Values tried, in order, for a kind's required fields (a width, a group count, a probability).
REQUIRED_FIELD_VALUES = (2, 0.5)


def held_bytes(network: torch.nn.Module) -> int:
    """What the built module holds: its parameters and its buffers, each at its element size."""
    return (sum(p.numel() * p.element_size() for p in network.parameters())
            + sum(b.numel() * b.element_size() for b in network.buffers()))


def assert_state_equals_the_module(spec: archspec.Spec) -> archspec.Report:
    report = archspec.check(spec, max_memory=None)
    assert report.ok, [error.message for error in report.errors]
    estimate = report.memory  # the graph's
    assert report.memory_bytes == estimate.total  # the twins' (where they gave the figures) agree
    with torch.device("meta"):
        network = archspec.compile(spec, max_memory=None)
    assert estimate.parameter_bytes == report.params * BYTES_PER_VALUE
    assert estimate.parameter_bytes + estimate.buffer_bytes == held_bytes(network), spec.name
    return report


def minimal_fields(kind: str) -> dict[str, Any]:
    """The kind with its defaults, and a value that validates for each field it requires."""
    model = LAYERS[kind]
    fields: dict[str, Any] = {"layer": kind}
    for name, field in model.model_fields.items():
        if name == "layer" or not field.is_required():
            continue
        for value in REQUIRED_FIELD_VALUES:
            try:
                model.model_validate({**fields, name: value})
            except ValidationError as error:
                if any(problem["loc"] == (name,) for problem in error.errors()):
                    continue
            fields[name] = value
            break
    model.model_validate(fields)  # raises if no tried value fits: add one to REQUIRED_FIELD_VALUES
    return fields


def one_layer(kind: str, flat: bool, channels: int = 4) -> archspec.Spec:
    stem = [{"layer": "flatten"}] if flat else []
    return to_spec({"name": f"one-{kind}", "input": {"channels": channels, "size": 6},
                    "stem": [*stem, minimal_fields(kind)]})


@pytest.mark.parametrize("kind", LAYERS.names())
def test_every_layer_kind_holds_what_its_module_holds(kind: str):
    """On an image and on a flat vector (after `flatten`), wherever the kind accepts it."""
    checked = 0
    for flat in (False, True):
        spec = one_layer(kind, flat)
        if archspec.check(spec, max_memory=None).ok:
            assert_state_equals_the_module(spec)
            checked += 1
    assert checked, f"{kind} accepts neither an image nor a flat vector of 4 channels"


def test_batchnorm_counts_its_running_statistics():
    """The defect: the budget counted BatchNorm's weight and bias, not its buffers (a float32 running
    mean and variance per channel and one int64 count: 72 bytes on 8 channels)."""
    for flat, features in ((False, 8), (True, 8 * 6 * 6)):  # BatchNorm2d on 8 x 6 x 6, BatchNorm1d on 288
        report = assert_state_equals_the_module(one_layer("batchnorm", flat, channels=8))
        assert report.memory.buffer_bytes == 2 * features * 4 + 8
        assert "of buffers" in report.memory.describe()


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda path: path.stem)
def test_shipped_specs_hold_what_their_modules_hold(path):
    assert_state_equals_the_module(archspec.load(path))


USER_BLOCKS = """\
name: user-blocks
input: {channels: 3, size: 16}
blocks:
  conv_bn:
    fields: {kernel: 3}
    nodes:
      - {name: conv, layer: conv, width: "${width}", kernel: "${kernel}", padding: "${kernel // 2}", bias: false}
      - {name: bn, layer: batchnorm}
      - {name: act, layer: relu}
  twice:
    nodes:
      - {name: a, block: conv_bn, width: "${width}"}
      - {name: b, block: conv_bn, width: "${width}", kernel: 1}
      - {name: se, block: squeeze_excite, width: "${width}"}
stages:
  - {block: twice, width: 8, repeats: 2}
  - {block: conv_bn, width: 12, stride: 2}
head: [{layer: global_avgpool}, {layer: flatten}, {layer: batchnorm}, {layer: linear, width: 4}]
"""


def test_blocks_written_in_yaml_hold_what_their_modules_hold():
    """Nested user blocks and a library kind inside one, and BatchNorm1d in the head."""
    report = assert_state_equals_the_module(archspec.load(USER_BLOCKS))
    assert report.memory.buffer_bytes == (4 * (2 * 8 * 4 + 8)  # two copies of `twice`: two conv_bn each
                                          + 2 * (2 * 12 * 4 + 8))  # the stride-2 conv_bn, the head's BatchNorm


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(max_width=12, user_blocks=True))
def test_drawn_networks_hold_what_their_modules_hold(document: dict):
    assert_state_equals_the_module(to_spec(document))
