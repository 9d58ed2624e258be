"""Properties over random specs whose stages use block kinds written in YAML (archspec.testing's
`defined_blocks`, `valid_specs(user_blocks=...)`, `invalid_definitions`), and over a kind registered
from Python with a strategy for its fields.

- valid: archspec accepts them; every node's static shape and parameters, the totals, the MACs and
  the input range equal the compiled module's (the properties of tests/test_properties.py); the
  same network built by hand in plain PyTorch from the document (below: no archspec in the blocks)
  runs and gives the reported output shape; the YAML round trip is stable.
- near misses: archspec refuses each at the node the fault was put in (or at the join it breaks),
  located in the file; where the fault is a shape fault, the hand-built network fails in PyTorch too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import (  # small_network_torch: its autouse fixture (one thread, no oneDNN, no autograd)
    run_node,
    small_network_torch,  # noqa: F401
    static_figures_equal_the_compiled_module,
    yaml_round_trip_is_stable,
)
from torch import nn

import archspec
from archspec import SpecError
from archspec.blocks import BLOCKS, BlockStage
from archspec.graph import layer_node, sequence
from archspec.layers import Conv, MaxPool, derived
from archspec.spec import ListStage
from archspec.testing import (
    BLOCK_STRATEGIES,
    DEFINITION_FAULTS,
    InvalidSpec,
    defined_blocks,
    invalid_definitions,
    register_block_strategy,
    to_spec,
    valid_specs,
)
from archspec.testing.reference import BLOCK_SHAPES
from archspec.testing.reference_defined import ExpressionFails, environment, evaluate, find_definition, node_reads

# ---- the same network by hand: modules sized from the real tensors, joins written out -------------

def hand_layer(settings: dict, x: torch.Tensor) -> nn.Module:
    kind, channels = settings["layer"], x.shape[1]
    if kind == "conv":
        groups = channels if settings.get("groups") == "depthwise" else settings.get("groups", 1)
        return nn.Conv2d(channels, settings["width"], settings["kernel"], settings.get("stride", 1),
                         settings.get("padding", 0), groups=groups, bias=settings.get("bias", True))
    if kind in ("maxpool", "avgpool"):
        pool = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
        return pool(settings["kernel"], settings["stride"], settings.get("padding", 0))
    return {"batchnorm": lambda: nn.BatchNorm2d(channels), "relu": nn.ReLU, "silu": nn.SiLU,
            "hardswish": nn.Hardswish, "sigmoid": nn.Sigmoid, "hardsigmoid": nn.Hardsigmoid,
            "global_avgpool": lambda: nn.AdaptiveAvgPool2d(1)}[kind]()


def hand_shortcut(option: str, x: torch.Tensor, width: int, stride: int) -> torch.Tensor | None:
    """The shortcut options as torchvision's ResNet, the paper and timm's ResNet-D write them."""
    if option == "none":
        return None
    changes = stride != 1 or x.shape[1] != width
    if option == "D" and changes:  # ResNet-D (timm's downsample_avg): average, then a stride-1 projection
        pooled = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)(x) if stride > 1 else x
        return nn.Sequential(nn.Conv2d(x.shape[1], width, 1, bias=False), nn.BatchNorm2d(width)).eval()(pooled)
    if option == "C" or (option == "B" and changes):
        return nn.Sequential(nn.Conv2d(x.shape[1], width, 1, stride, bias=False), nn.BatchNorm2d(width)).eval()(x)
    if option == "A" and changes:
        return nn.functional.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, 0, width - x.shape[1]))
    return x


def hand_join(op: str, values: list[torch.Tensor], settings: dict) -> torch.Tensor:
    if op == "add":
        return sum(values[1:], values[0])
    if op == "mul":
        return values[0] * values[1]
    if op == "concat":
        return torch.cat(values, dim=1)
    return values[0][:, settings.get("start", 0):settings["stop"]]


def hand_block(kind: str, stage: dict, x: torch.Tensor, shortcut: str, blocks: dict, stride: int,
               width: int | None = None) -> torch.Tensor:
    """One copy of a defined kind, read from the document node by node (expressions by the
    reference's evaluator, not archspec's)."""
    definition = find_definition(kind, blocks)
    assert definition is not None
    env = environment(definition, stage, tuple(x.shape[1:]), stage.get("width", x.shape[1]) if width is None
                      else width, stride)
    values: dict[str, torch.Tensor | None] = {"input": x}
    name = "input"
    for _, node, name, reads in node_reads(definition):
        settings = {key: evaluate(value, env) for key, value in node.items()
                    if key not in ("name", "from", "when", "else")}
        inputs = [values[read] for read in reads]
        if not evaluate(node.get("when", True), env):
            values[name] = values[node["else"]] if "else" in node else inputs[0]
        elif "layer" in node:
            values[name] = hand_layer(settings, inputs[0]).eval()(inputs[0])
        elif "op" in node:
            kept = [value for value in inputs if value is not None]  # `none` removed a shortcut
            values[name] = kept[0] if node["op"] == "add" and len(kept) == 1 else hand_join(node["op"], kept, settings)
        elif "shortcut" in node:
            option = shortcut if node["shortcut"] == "stage" else node["shortcut"]
            values[name] = hand_shortcut(option, inputs[0], settings.get("width", env["width"]),
                                         settings.get("stride", env["stride"]))
        else:
            nested = {key: value for key, value in settings.items() if key not in ("block", "stride")}
            values[name] = hand_block(settings["block"], nested, inputs[0], shortcut, blocks,
                                      settings.get("stride", 1), nested.get("width"))
    out = values[definition.get("output", name)]
    assert out is not None
    return out


def hand_forward(document: dict) -> torch.Tensor:
    """The spec in plain PyTorch: a defined kind's stages by `hand_block`, the rest layer by layer as
    tests/test_properties.py's eager_forward does."""
    spec, blocks = to_spec(document), document.get("blocks", {})
    x = torch.zeros(1, *spec.input.shape())
    for layer in spec.stem:
        x = run_node(layer_node("", layer, ()), x)
    for written, stage in zip(document.get("stages", []), spec.stages):
        models = stage.blocks if isinstance(stage, ListStage) else (stage,)
        for entry, model in zip(written.get("blocks", [written]), models):
            if "layer" in entry:
                x = run_node(layer_node("", model, ()), x)
                continue
            shortcut = entry.get("shortcut") or document.get("shortcut", "B")
            for index in range(model.copies()):
                if find_definition(entry["block"], blocks) is not None:
                    x = hand_block(entry["block"], entry, x, shortcut, blocks, entry.get("stride", 1) if index == 0
                                   else 1)
                else:
                    x = run_node(model.lower(index, tuple(x.shape[1:]), shortcut, ()), x)
    for layer in spec.head:
        x = run_node(layer_node("", layer, ()), x)
    return x


# ---- valid specs --------------------------------------------------------------------------------

def defined_features(document: dict) -> set[str]:
    found = set()
    blocks = document.get("blocks", {})
    for stage in document.get("stages", []):
        for entry in stage.get("blocks", [stage]):
            if entry.get("block") in blocks:
                found |= {"stage of a defined kind", f"stride {entry.get('stride', 1)}"}
                found.add(f"stage shortcut {entry.get('shortcut', document.get('shortcut', 'B'))}")
    for definition in blocks.values():
        for node in definition["nodes"]:
            found.add(node.get("layer") or node.get("op") or f"shortcut {node.get('shortcut')}"
                      if "block" not in node else "nested " + ("defined" if node["block"] in blocks else node["block"]))
            found |= {key for key in ("when", "fields") if key in node or key in definition}
            found |= {"unnamed node"} if "name" not in node else set()
    return found


def test_user_blocks_cover_every_join_nesting_shortcut_and_when():
    seen: set[str] = set()

    @settings(max_examples=150, deadline=None, database=None, derandomize=True)
    @given(valid_specs(user_blocks=True, max_stages=2))
    def collect(document: dict) -> None:
        seen.update(defined_features(document))

    collect()
    wanted = {"add", "mul", "concat", "slice", "conv", "batchnorm", "global_avgpool", "nested defined",
              "nested squeeze_excite", "shortcut stage", "shortcut none", "when", "fields", "unnamed node",
              "stage of a defined kind", "stride 2", "stage shortcut C", "stage shortcut none"}
    assert wanted <= seen, wanted - seen


# Built-in kinds beside the defined ones: the hand-built network reads the spec's own definitions
# with the few layers they use; the library's kinds are held to their references by the zoo tests,
# and to their static figures by tests/test_properties.py's property.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(user_blocks=True, max_stages=2, block_kinds=BLOCKS.names()))
def test_static_figures_equal_the_compiled_module_and_the_hand_built_network(document: dict):
    static_figures_equal_the_compiled_module(document)
    out = hand_forward(document)
    assert tuple(out.shape[1:]) == archspec.check(to_spec(document)).output_shape


@settings(max_examples=30, deadline=None)
@given(valid_specs(user_blocks=defined_blocks(max_kinds=2, max_patterns=4), max_stages=3))
def test_yaml_round_trip_is_stable_with_user_blocks(document: dict):
    yaml_round_trip_is_stable(document)


# ---- near misses ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", sorted(DEFINITION_FAULTS))
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_definition_near_misses_are_refused_at_the_fault(fault: str, data: st.DataObject):
    near_miss: InvalidSpec = data.draw(invalid_definitions(faults=[fault]))
    assert archspec.check(to_spec(near_miss.valid_document)).ok
    try:
        errors = archspec.check(to_spec(near_miss.document)).errors
        assert errors and DEFINITION_FAULTS[fault].evaluated, f"{fault}: accepted ({near_miss.reason})"
    except SpecError as error:  # refused by the language's rules, when loaded
        assert not DEFINITION_FAULTS[fault].evaluated, [d.render() for d in error.errors]
        errors = error.errors
    where = near_miss.error_path
    assert where[0] == "blocks" and any(tuple(d.path[:len(where)]) == where for d in errors), \
        (where, [d.render() for d in errors])
    assert all(d.line is not None and d.column is not None for d in errors)
    if DEFINITION_FAULTS[fault].evaluated:
        hand_forward(near_miss.valid_document)  # one value away, it runs by hand
        with pytest.raises((RuntimeError, ExpressionFails)):
            hand_forward(near_miss.document)


# ---- a kind registered from Python, drawn from a strategy for its fields ------------------------

class ConvPool(BlockStage):
    """A k x k convolution, then sometimes a 2x2 max-pool (a kind registered from Python, for this test)."""

    block: Literal["test_conv_pool"]
    kernel: Literal[1, 3, 5] = 3
    pool: bool = False

    def lower(self, index: int, x: Any, shortcut: Any, origin: Any) -> Any:
        conv = derived(Conv, layer="conv", width=self.width, kernel=self.kernel, stride=self.block_stride(index),
                       padding=self.kernel // 2)
        nodes = [layer_node("conv", conv, origin)]
        if self.pool:
            nodes.append(layer_node("pool", derived(MaxPool, layer="maxpool", kernel=2), origin))
        return sequence("test_conv_pool", str(index), tuple(nodes), origin, "input")


@pytest.fixture
def registered_conv_pool() -> Iterator[str]:
    """The kind and its strategy registered for one test only: other tests hold every registered kind
    to their rules."""
    archspec.register_block(ConvPool)
    register_block_strategy("test_conv_pool", fields=st.fixed_dictionaries(
        {}, optional={"kernel": st.sampled_from([1, 3, 5]), "pool": st.booleans()}))
    try:
        yield "test_conv_pool"
    finally:
        BLOCKS.remove("test_conv_pool")
        del BLOCK_STRATEGIES["test_conv_pool"], BLOCK_SHAPES["test_conv_pool"]


@settings(max_examples=25, deadline=None,  # the fixture registers the kind once for every example
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_kind_registered_from_python_is_drawn_from_its_fields_strategy(registered_conv_pool: str,
                                                                          data: st.DataObject):
    static_figures_equal_the_compiled_module(data.draw(valid_specs(block_kinds=[registered_conv_pool, "basic"],
                                                                   max_stages=2)))


def test_the_registered_kind_is_drawn_with_each_field(registered_conv_pool: str):
    seen: set[Any] = set()

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(valid_specs(block_kinds=[registered_conv_pool], max_stages=2, list_stages=False))
    def collect(document: dict) -> None:
        seen.update((key, value) for stage in document.get("stages", []) for key, value in stage.items()
                    if key in ("kernel", "pool"))

    collect()
    assert {("kernel", 1), ("kernel", 5), ("pool", True), ("pool", False)} <= seen


def test_a_fields_strategy_or_a_block_strategy_not_both():
    with pytest.raises(TypeError):
        register_block_strategy("test_conv_pool")


# ---- what the fuzz campaign found (tests/fuzz_campaign.py) ---------------------------------------

@pytest.mark.parametrize("kind", ["[1, 2]", "{a: 1}"])
def test_a_stage_whose_block_is_not_a_name_is_refused(kind: str):
    with pytest.raises(SpecError) as raised:
        archspec.load(f"name: t\ninput: {{channels: 3, size: 8}}\nstages: [{{block: {kind}, width: 3}}]\n")
    assert [error.path[:2] for error in raised.value.errors] == [("stages", 0)]


@pytest.mark.parametrize(("key", "value"), [("width", 0), ("width", "${in - in}"), ("stride", 16000),
                                            ("width", 2.5), ("stride", "x"), ("width", True)])
def test_a_shortcut_node_with_an_impossible_width_or_stride_is_an_error_at_it(key: str, value: object):
    import json

    node = json.dumps({"name": "s", "shortcut": "C", "from": "input", key: value})
    report = archspec.check(archspec.load(
        f"name: t\ninput: {{channels: 3, size: 8}}\nblocks:\n  b:\n    nodes:\n"
        f"      - {{name: c, layer: conv, width: 4, kernel: 1}}\n      - {node}\n      - {{op: add, from: [c, s]}}\n"
        f"stages: [{{block: b, width: 4}}]\n"))
    assert [error.path for error in report.errors] == [("blocks", "b", "nodes", 1, key)], \
        [error.render() for error in report.errors]


def _definition_errors(nodes: str) -> list:
    source = (f"name: t\ninput: {{channels: 4, size: 8}}\nblocks:\n  b:\n    nodes:\n{nodes}\n"
              "stages: [{block: b, width: 4}]\n")
    try:
        return archspec.check(archspec.load(source)).errors
    except SpecError as error:
        return error.errors


@pytest.mark.parametrize(("nodes", "path"), [
    ("      - {op: mul}", ("blocks", "b", "nodes", 0)),
    ("      - {op: mul, from: [input, input, input]}", ("blocks", "b", "nodes", 0, "from")),
    ("      - {op: slice, stop: 2, from: [input, input]}", ("blocks", "b", "nodes", 0, "from")),
    ("      - {op: slice, stop: x}", ("blocks", "b", "nodes", 0, "stop")),
    ("      - {op: slice, stop: 2.5}", ("blocks", "b", "nodes", 0, "stop")),
    ("      - {op: slice, stop: true}", ("blocks", "b", "nodes", 0, "stop")),
    ("      - {op: slice, start: \"${in / 3}\", stop: 4}", ("blocks", "b", "nodes", 0, "start")),
    ("      - {op: slice, stop: [1, 2]}", ("blocks", "b", "nodes", 0, "stop")),
    ("      - {name: forward, layer: relu}", ("blocks", "b", "nodes", 0, "name")),
    ("      - {name: training, layer: relu}\n      - {layer: relu}", ("blocks", "b", "nodes", 0, "name")),
    ("      - {name: __class__, layer: relu}", ("blocks", "b", "nodes", 0, "name")),
])
def test_joins_with_wrong_inputs_or_bounds_and_reserved_node_names_are_errors_at_them(nodes: str, path: tuple):
    errors = _definition_errors(nodes)
    assert [error.path for error in errors] == [path], [error.render() for error in errors]


def test_a_definition_with_too_many_nodes_says_how_many_it_may_have():
    nodes = "".join(f"      - {{name: r{i}, layer: relu}}\n" for i in range(1001))
    (error,) = _definition_errors(nodes.rstrip("\n"))
    assert error.path == ("blocks", "b", "nodes") and "at most 1000" in error.message, error.render()
    assert "height" not in error.message, error.render()
