"""Properties over random specs (archspec.testing): the static checker and PyTorch agree.

- valid specs: archspec accepts them (no false error); every node's static shape and parameter
  count, the total parameters and MACs, and the output shape equal the compiled module's on a real
  tensor, and an independent reference (archspec.testing.reference) agrees on the output shape;
  the reported input range is right at its edges; the YAML round trip is stable.
- near misses: archspec refuses them at the right place (no false "ok") and the plain PyTorch
  network, built layer by layer from real tensor shapes with no static check, really fails.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archspec
from archspec import SpecError, modules
from archspec.blocks import BLOCKS
from archspec.build import build_module
from archspec.graph import INPUT, Node, layer_node
from archspec.layers import LayerBase
from archspec.loader import dump, load_document
from archspec.spec import ListStage, Spec
from archspec.testing import (
    BLOCK_STRATEGIES,
    FAULTS,
    SHORTCUTS,
    InvalidSpec,
    invalid_specs,
    to_spec,
    trace,
    valid_specs,
)
from archspec.verify import verify_against_forward


@pytest.fixture(autouse=True, scope="module")
def small_network_torch():
    """The drawn networks are tiny: one thread and no oneDNN run each forward in well under a
    millisecond, where oneDNN's per-shape setup and idle threads spinning on a busy 2-core machine
    took up to a second. Restored afterwards for the rest of the suite."""
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    with torch.no_grad():
        yield
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = onednn


def test_every_registered_block_kind_has_a_strategy():
    missing = set(BLOCKS.names()) - set(BLOCK_STRATEGIES)
    assert not missing, f"add a strategy for {missing} to archspec/testing/kinds.py (BLOCK_STRATEGIES)"


def features(document: dict) -> set[str]:
    """What a drawn document exercises: block kinds, shortcut options, head styles, layer kinds."""
    found = {f"shortcut:{document.get('shortcut', 'B')}"}
    for stage in document.get("stages", []):
        for entry in stage.get("blocks", [stage]):
            found.add(f"block:{entry['block']}" if "block" in entry else f"layer:{entry['layer']}")
            if "shortcut" in entry:
                found.add(f"shortcut:{entry['shortcut']}")
            found.add("list stage" if "blocks" in stage else "block stage")
    for layer in document.get("stem", []) + document.get("head", []):
        found.add(f"layer:{layer['layer']}")
    found.add("pair size" if isinstance(document["input"]["size"], list) else "square size")
    return found


def test_valid_specs_cover_every_kind_shortcut_and_head():
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(valid_specs())
    def collect(document: dict) -> None:
        seen.update(features(document))

    collect()
    wanted = {f"block:{kind}" for kind in BLOCKS.names()} | {f"shortcut:{s}" for s in SHORTCUTS}
    wanted |= {"layer:global_avgpool", "layer:adaptive_avgpool", "layer:avgpool", "layer:flatten",
               "layer:conv", "layer:maxpool", "list stage", "block stage", "pair size", "square size"}
    assert wanted <= seen, wanted - seen


def runs(network: nn.Module, shape: tuple[int, ...]) -> bool:
    try:
        network(torch.zeros(1, *shape))
    except RuntimeError:
        return False
    return True


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
@example({"name": "0", "input": {"channels": 1, "size": 4}})  # no layers: an identity (explore found it)
def test_static_figures_equal_the_compiled_module(document: dict):
    static_figures_equal_the_compiled_module(document)


def static_figures_equal_the_compiled_module(document: dict) -> nn.Module:
    """The property, for any drawn document (tests/test_user_block_properties.py uses it too)."""
    spec = to_spec(document)
    report = archspec.check(spec)
    assert report.ok, [d.render() for d in report.errors]
    assert report.output_shape == trace(document).output
    network = build_module(report).eval()
    assert verify_against_forward(report, network) == []  # every node: shape and parameters
    assert report.params == sum(p.numel() for p in network.parameters())
    with FlopCounterMode(display=False) as counter:
        out = network(torch.zeros(1, *report.input_shape))
    assert tuple(out.shape[1:]) == report.output_shape
    assert report.macs * 2 == counter.get_total_flops()

    accepted = report.input_range
    assert accepted is not None
    channels, height, width = report.input_shape
    for axis, _declared in ((0, height), (1, width)):
        def shape(size: int, axis: int = axis) -> tuple[int, int, int]:
            return (channels, size, width) if axis == 0 else (channels, height, size)
        low, high = accepted.min_size[axis], accepted.max_size[axis]
        assert runs(network, shape(low)), f"the smallest accepted size {low} fails"
        assert low == 1 or not runs(network, shape(low - 1)), f"size {low - 1}, below the range, runs"
        if high is not None:
            assert runs(network, shape(high)), f"the largest accepted size {high} fails"
            assert not runs(network, shape(high + 1)), f"size {high + 1}, above the range, runs"
    return network


ASYMMETRIC = """name: asymmetric
input: {channels: 1, size: 12}
stem:
  - {layer: conv, width: 2, kernel: [1, 7]}
  - {layer: maxpool, kernel: [1, 2]}
head: [{layer: flatten}, {layer: linear, width: 3}]
"""


def test_input_range_of_a_square_input_with_an_axis_asymmetric_kernel():
    """The range search takes the width's range from the height's only where every layer is the same
    on both axes; here a [1, 7] kernel makes them differ, and a real forward confirms each edge."""
    report = archspec.check(archspec.load(ASYMMETRIC))
    accepted = report.input_range
    assert accepted is not None and accepted.min_size == (12, 12) and accepted.max_size == (12, 13)
    network = build_module(report).eval()
    assert runs(network, (1, 12, 13)) and not runs(network, (1, 13, 12)) and not runs(network, (1, 12, 14))


@pytest.mark.parametrize("name", ["0E0", "1e5", "2.5e-3", "1_0e5"])
def test_names_that_read_as_exponent_floats_are_quoted_when_dumped(name: str):
    """The loader reads `1e-5` as a number (YAML 1.2); PyYAML's dumper (YAML 1.1) would write the
    name `1e5` bare, and the spec would come back with a number for a name. Found by Hypothesis."""
    document = {"name": name, "input": {"channels": 1, "size": 4}, "head": [{"layer": "flatten"}]}
    assert load_document(dump(document)).data == document
    assert archspec.load(dump(document)).name == name


@pytest.mark.parametrize("text", ["\x85", "a\x85b", "\u2028", "x\u2029y", "a\nb"])
def test_descriptions_with_unicode_line_breaks_survive_a_dump(text: str):
    """PyYAML writes U+0085 into a single-quoted string, where it reads back as a space; the dumper
    double-quotes such strings, escaping the break. Found by Hypothesis."""
    document = {"name": "x", "description": text, "input": {"channels": 1, "size": 4}}
    assert load_document(dump(document)).data == document


@settings(max_examples=100, deadline=None)
@given(valid_specs(max_stages=4, max_repeats=3))
def test_yaml_round_trip_is_stable(document: dict):
    yaml_round_trip_is_stable(document)


def yaml_round_trip_is_stable(document: dict) -> None:
    assert load_document(dump(document)).data == document
    spec = to_spec(document)
    for exclude_defaults in (False, True):
        data = spec.model_dump(mode="json", exclude_defaults=exclude_defaults)
        again = archspec.load(dump(data, schema="../schemas/archspec.schema.json"))
        # Spec.__eq__ also compares where each spec was loaded from, so compare the contents.
        assert again.model_dump() == spec.model_dump()
        assert dump(again.model_dump(mode="json", exclude_defaults=exclude_defaults)) == dump(data)


# ---- near misses --------------------------------------------------------------------------------

def plain_module(layer: LayerBase, x: torch.Tensor) -> nn.Module:
    """What a user would write in plain PyTorch for one layer, sized from the real tensor `x`."""
    kind, fields = layer.layer, layer.model_dump()  # type: ignore[attr-defined]
    channels = x.shape[1]
    if kind == "conv":
        groups = channels if fields["groups"] == "depthwise" else fields["groups"]  # PyTorch's way to write it
        return nn.Conv2d(channels, fields["width"], fields["kernel"], fields["stride"], fields["padding"],
                         fields["dilation"], groups, fields["bias"])
    if kind in ("maxpool", "avgpool"):
        pool = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
        return pool(fields["kernel"], fields["stride"] or fields["kernel"], fields["padding"],
                    ceil_mode=fields["ceil_mode"])
    if kind == "linear":
        return nn.Linear(channels, fields["width"], fields["bias"])  # in_features: what x has
    if kind == "batchnorm":
        return (nn.BatchNorm2d if x.dim() == 4 else nn.BatchNorm1d)(channels)
    if kind == "zero_pad_shortcut":
        return _ZeroPad(fields["stride"], fields["width"] - channels)
    simple: dict[str, Any] = {"relu": nn.ReLU, "flatten": nn.Flatten, "global_avgpool": lambda: nn.AdaptiveAvgPool2d(1),
                              "adaptive_avgpool": lambda: nn.AdaptiveAvgPool2d(fields.get("size", 1))}
    if kind in simple:
        return simple[kind]()
    return layer.build(modules, tuple(x.shape[1:]))


class _ZeroPad(nn.Module):
    def __init__(self, stride: int, extra: int):
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, 0, self.extra))


def run_node(node: Node, x: torch.Tensor) -> torch.Tensor:
    """The node in plain PyTorch: a layer sized from the tensor that reaches it, a block's graph
    node by node, with joins written out here rather than taken from archspec's ops."""
    if node.op == "layer":
        return plain_module(node.payload, x).eval()(x)
    values = {INPUT: x}
    for child in node.payload.nodes:
        inputs = [values[name] for name in child.inputs]
        if child.op in ("layer", "block"):
            values[child.name] = run_node(child, inputs[0])
        elif child.op == "add":
            values[child.name] = sum(inputs[1:], inputs[0])
        elif child.op == "mul":
            values[child.name] = inputs[0] * inputs[1]
        elif child.op == "concat":
            values[child.name] = torch.cat(inputs, dim=1)
        else:
            assert child.op == "slice", child.op
            values[child.name] = inputs[0][:, child.payload[0]:child.payload[1]]
    return values[node.payload.output]


def eager_forward(spec: Spec) -> torch.Tensor:
    """The spec run in plain PyTorch, layer by layer, each module sized from the tensor that reaches
    it: no static check anywhere, so whatever is wrong surfaces as PyTorch's own error."""
    x = torch.zeros(1, *spec.input.shape())
    for layer in spec.stem:
        x = run_node(layer_node("", layer, ()), x)
    for stage in spec.stages:
        for entry in stage.blocks if isinstance(stage, ListStage) else (stage,):
            if isinstance(entry, LayerBase):
                x = run_node(layer_node("", entry, ()), x)
                continue
            for index in range(entry.copies()):
                x = run_node(entry.lower(index, tuple(x.shape[1:]), entry.shortcut or spec.shortcut, ()), x)
    for layer in spec.head:
        x = run_node(layer_node("", layer, ()), x)
    return x


def with_value(model: Any, path: tuple, value: object) -> Any:
    """`model` with the value at `path` replaced, without validation (Pydantic's own model_copy; a
    Spec's validates): how a near miss that the spec language itself refuses is built for plain PyTorch."""
    head, rest = path[0], path[1:]
    if isinstance(model, tuple):
        return tuple(with_value(item, rest, value) if i == head else item for i, item in enumerate(model))
    current = getattr(model, head)
    return BaseModel.model_copy(model, update={head: with_value(current, rest, value) if rest else value})


@pytest.mark.parametrize("fault", sorted(FAULTS))
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_near_misses_are_refused_and_really_fail_in_pytorch(fault: str, data: st.DataObject):
    near_miss: InvalidSpec = data.draw(invalid_specs(faults=[fault]))
    assert changed_once(near_miss.valid_document, near_miss.path, near_miss.value) == near_miss.document
    valid = to_spec(near_miss.valid_document)
    assert archspec.check(valid).ok
    eager_forward(valid)  # one value away, it runs

    try:
        spec = to_spec(near_miss.document)
    except SpecError as error:  # refused by a rule of the spec language, when loaded
        errors = error.errors
        spec = with_value(valid, near_miss.path, near_miss.value)
    else:  # refused by the shape check
        errors = archspec.check(spec).errors
        assert errors, f"{near_miss.fault}: the checker accepted it ({near_miss.reason})"
    where = near_miss.error_path
    assert any(d.path[:len(where)] == where for d in errors), (where, [d.render() for d in errors])
    assert all(d.line is not None and d.column is not None for d in errors)
    with pytest.raises((RuntimeError, ValueError)):
        eager_forward(spec)


def changed_once(document: dict, path: tuple, value: object) -> dict:
    """`document` with one value set (after checking it was different)."""
    changed = copy.deepcopy(document)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    before = target[path[-1]] if isinstance(target, list) else target.get(path[-1])
    assert before != value
    target[path[-1]] = value
    return changed


def test_only_archspec_testing_imports_hypothesis():
    import subprocess
    import sys

    code = ("import sys, archspec, archspec.check, archspec.cli, archspec.commands.schema; "
            "archspec.check(archspec.load('specs/resnet18.yaml')); "
            "assert 'hypothesis' not in sys.modules, 'archspec imported hypothesis'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
