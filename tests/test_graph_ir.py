"""The graph IR's generic ops: their static rules and errors, the block module that runs a graph, and
the figures of a block kind without a static twin (evaluated on its graph, once per distinct copy)."""

from __future__ import annotations

import subprocess
import sys
from unittest.mock import patch

import pytest
import torch

from archspec.blocks.base import BlockStage, expand_shortcuts, graph_facts
from archspec.blocks.residual import BasicStage
from archspec.build import _module
from archspec.graph import INPUT, OPS, BlockGraph, Evaluator, Node, Resolved, block_node, graph_problems, layer_node
from archspec.layers import BatchNorm, Conv, GlobalAvgPool, ReLU, Sigmoid, derived
from archspec.shapes import Shape

CONV8 = derived(Conv, layer="conv", width=8, kernel=3, padding=1)
RELU = derived(ReLU, layer="relu")


def evaluate(nodes: list[Node], output: str, x: Shape = (4, 6, 6)) -> tuple[Resolved | None, Evaluator]:
    evaluator = Evaluator()
    block = block_node("block", BlockGraph("test", tuple(nodes), output), ("stages", 0), INPUT)
    return evaluator.run(block, x), evaluator


def messages(evaluator: Evaluator) -> list[str]:
    return [problem.message for problem in evaluator.problems]


def test_add_of_equal_shapes_keeps_the_shape_and_adds_no_figures():
    result, evaluator = evaluate([layer_node("conv", CONV8, (), INPUT), layer_node("other", CONV8, (), INPUT),
                                  Node("sum", "add", ("conv", "other"))], "sum")
    assert not evaluator.problems and result is not None
    assert result.out_shape == (8, 6, 6) and result.params == 2 * (8 * 4 * 9 + 8)
    assert [child.node.name for child in result.children] == ["conv", "other"]  # a join has no row


def test_add_error_names_the_join_and_every_input_with_its_shape():
    _, evaluator = evaluate([layer_node("conv", CONV8, (), INPUT), Node("sum", "add", ("conv", INPUT))], "sum")
    assert messages(evaluator) == [
        "block.sum: the addition `sum` needs equal shapes, but `conv` gives 8x6x6 and `input` gives 4x6x6"]


@pytest.mark.parametrize("gate_first", [False, True])
def test_mul_broadcasts_a_channel_gate_from_either_side(gate_first: bool):
    pooled = layer_node("pool", derived(GlobalAvgPool, layer="global_avgpool"), (), INPUT)
    gate = layer_node("gate", derived(Sigmoid, layer="sigmoid"), (), "pool")
    inputs = ("gate", INPUT) if gate_first else (INPUT, "gate")
    result, evaluator = evaluate([pooled, gate, Node("scaled", "mul", inputs)], "scaled")
    assert not evaluator.problems and result is not None and result.out_shape == (4, 6, 6)


def test_mul_refuses_a_gate_with_other_channels_and_says_which_inputs():
    pooled = layer_node("pool", derived(GlobalAvgPool, layer="global_avgpool"), (), "conv")
    nodes = [layer_node("conv", CONV8, (), INPUT), pooled, Node("scaled", "mul", (INPUT, "pool"))]
    _, evaluator = evaluate(nodes, "scaled")
    (message,) = messages(evaluator)
    assert message.startswith("block.scaled: the multiplication `scaled` needs equal shapes")
    assert "`input` gives 4x6x6 and `pool` gives 8x1x1" in message


def test_concat_sums_channels_and_names_each_branch_when_sizes_differ():
    strided = derived(Conv, layer="conv", width=2, kernel=3, stride=2, padding=1)
    result, evaluator = evaluate([layer_node("a", CONV8, (), INPUT), Node("cat", "concat", ("a", INPUT))], "cat")
    assert not evaluator.problems and result is not None and result.out_shape == (12, 6, 6)
    _, evaluator = evaluate([layer_node("a", CONV8, (), INPUT), layer_node("b", strided, (), INPUT),
                             Node("cat", "concat", ("a", "b", INPUT))], "cat")
    (message,) = messages(evaluator)
    assert message.startswith("block.cat: branches concatenated on channels must share their spatial size")
    assert "a 8x6x6, b 2x3x3, input 4x6x6" in message


def test_channel_slice_and_its_error():
    result, evaluator = evaluate([Node("half", "slice", (INPUT,), (2, 4))], "half")
    assert not evaluator.problems and result is not None and result.out_shape == (2, 6, 6)
    _, evaluator = evaluate([Node("half", "slice", (INPUT,), (2, 6))], "half")
    assert messages(evaluator) == [
        "block.half: the channel slice `half` takes channels 2:6 of `input`, which gives 4x6x6"]


def test_independent_faults_of_one_block_are_all_reported():
    bad = derived(Conv, layer="conv", width=8, kernel=9)  # larger than the 6x6 input
    nodes = [layer_node("a", bad, ("a",), INPUT), layer_node("b", bad, ("b",), INPUT),
             Node("sum", "add", ("a", "b"))]
    result, evaluator = evaluate(nodes, "sum")
    assert result is None and [m.split(" (")[0] for m in messages(evaluator)] == ["block.a", "block.b"]


def test_structural_faults_are_named():
    graph = BlockGraph("test", (Node("a", "add", (INPUT, "later")), Node("a", "nope", (INPUT,))), "z")
    assert graph_problems(graph) == [
        "node `a` reads `later`, which is not an earlier node or `input`",
        f"node `a` has the unknown op `nope`; known: {', '.join(OPS)}",
        "node name `a` is used twice",
        "the output `z` is not a node",
    ]


def test_a_built_graph_runs_its_joins_and_keeps_every_shared_input_intact():
    """relu1 reads bn, which the concatenation also reads: it must not work in place; relu2 reads
    only the addition's output: it may. The module's output equals the graph computed by hand."""
    bn = derived(BatchNorm, layer="batchnorm")
    nodes = [layer_node("conv", CONV8, (), INPUT), layer_node("bn", bn, (), "conv"),
             layer_node("relu1", RELU, (), "bn"), Node("sum", "add", ("relu1", "bn")),
             layer_node("relu2", RELU, (), "sum"), Node("part", "slice", ("relu2",), (0, 4)),
             Node("cat", "concat", ("part", "bn", INPUT))]
    result, evaluator = evaluate(nodes, "cat")
    assert not evaluator.problems and result is not None and result.out_shape == (16, 6, 6)
    module = _module(result).eval()
    assert not module.relu1.inplace and module.relu2.inplace
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        bn_out = module.bn(module.conv(x))
        summed = torch.relu(torch.relu(bn_out) + bn_out)
        expected = torch.cat([summed[:, :4], bn_out, x], dim=1)
        assert torch.equal(module(x.clone()), expected)
    assert [name for name, _ in module.named_children()] == ["conv", "bn", "relu1", "relu2"]


def test_a_block_kind_without_a_twin_is_evaluated_once_per_distinct_copy():
    stage = BasicStage(block="basic", width=8, repeats=3, stride=2)
    twin = [stage.facts(i, (4, 16, 16) if i == 0 else (8, 8, 8), "B") for i in range(3)]
    lowered = []
    original = BasicStage.lower

    def counting(self, *args):
        lowered.append(args[0])
        return original(self, *args)

    with patch.object(BasicStage, "lower", counting):
        by_graph = [graph_facts(stage, i, (4, 16, 16) if i == 0 else (8, 8, 8), "B") for i in range(3)]
        assert BlockStage.facts(stage, 1, (8, 8, 8), "B") == twin[1]
    assert by_graph == twin
    assert lowered == [0, 1]  # copies 1 and 2 are alike: the second reuses the first's figures


COMPILE_SPEC = """
name: every-block
input: {channels: 3, size: 32}
stem: [{name: conv1.0, layer: conv, width: 8, kernel: 3, padding: 1}, {name: conv1.1, layer: batchnorm},
       {layer: relu}]
stages:
  - {block: basic, width: 8, shortcut: A, stride: 2, activation_before_add: true}
  - {block: bottleneck, width: 4, stride: 2, shortcut: D}
  - {block: basic, width: 16, shortcut: none}
  - blocks: [{block: inception, c1: 4, c2: [4, 4], c3: [2, 4], c4: 4}]
  - {block: vgg, width: 8}
head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: 10}]
"""


_EXPLAIN = """
import sys, torch, archspec
network = archspec.compile(sys.argv[1]).eval()
x = torch.randn(2, 3, 32, 32)
explained = torch._dynamo.explain(network)(x)
before = x.clone()
with torch.no_grad():
    network(x)
print(explained.graph_count, explained.graph_break_count, torch.equal(x, before))
"""


def test_torch_compile_traces_every_block_kind_as_one_graph(tmp_path):
    """The blocks' forward (a loop over precompiled steps) unrolls under dynamo: no graph break, so
    `torch.compile(fullgraph=True)` accepts every compiled network; and it leaves its input alone.
    In a process of its own: dynamo patches torch.nn's classes for the rest of the process."""
    path = tmp_path / "every-block.yaml"
    path.write_text(COMPILE_SPEC)
    done = subprocess.run([sys.executable, "-c", _EXPLAIN, str(path)], capture_output=True, text=True,
                          timeout=600, check=True)
    graphs, breaks, input_intact = done.stdout.split()
    assert (graphs, breaks, input_intact) == ("1", "0", "True")


@pytest.mark.parametrize(("option", "stride", "expected", "label"), [
    ("none", 1, ["conv", "relu <- conv"], "none"),
    ("identity", 1, ["conv", "sum <- conv, input", "relu <- sum"], "identity"),
    ("B", 2, ["conv", "side <- input", "sum <- conv, side", "relu <- sum"], "projection"),
    ("A", 2, ["conv", "side <- input", "sum <- conv, side", "relu <- sum"], "zero-pad"),
])
def test_a_shortcut_node_becomes_the_stages_option(option: str, stride: int, expected: list[str], label: str):
    """Any block's `shortcut` node (a user block's too) is made concrete by the one rule the
    residual blocks use: `none` removes the addition it feeds, the identity is the block's input."""
    strided = derived(Conv, layer="conv", width=8, kernel=3, stride=stride, padding=1)
    nodes = (layer_node("conv", strided, (), INPUT), Node("side", "shortcut", (INPUT,)),
             Node("sum", "add", ("conv", "side")), layer_node("relu", RELU, (), "sum"))
    expanded, kind = expand_shortcuts(nodes, (8, 8, 8), 8, stride, option, ("stages", 0))  # type: ignore[arg-type]
    assert kind == label
    assert [n.name if n.inputs == (INPUT,) and n.name == "conv" else f"{n.name} <- {', '.join(n.inputs)}"
            for n in expanded] == expected
    result, evaluator = evaluate(list(expanded), "relu", (8, 8, 8))
    assert not evaluator.problems and result is not None and result.out_shape == (8, 8 // stride, 8 // stride)
