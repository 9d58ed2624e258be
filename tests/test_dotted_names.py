"""Dotted module names nest (`name: conv1.0` is module `0` of a container `conv1`), so that a spec
reproduces another codebase's state_dict keys: the table, build, python/ONNX/torch.export exports,
the diagram and `compile --check-shapes` all see the nested modules; names that cannot nest are
refused where they are written."""

from __future__ import annotations

import importlib.util
import re

import onnx
import pytest
import torch

import archspec
from archspec.build import build_module
from archspec.cli import main
from archspec.export.diagram import dot
from archspec.export.python_source import python_source
from archspec.graph import INPUT, BlockGraph, Evaluator, Node, block_node, chain, layer_node
from archspec.layers import BatchNorm, Conv, ReLU, derived
from archspec.names import sibling_problems
from archspec.nesting import DottedNameError, nest_dotted
from archspec.ops import JoinText

DEEP_STEM = """\
name: deep-stem
input: {channels: 3, size: 32}
stem:
  - {name: conv1.0, layer: conv, width: 8, kernel: 3, stride: 2, padding: 1, bias: false}
  - {name: conv1.1, layer: batchnorm}
  - {name: conv1.2, layer: relu}
  - {name: conv1.3, layer: conv, width: 8, kernel: 3, padding: 1, bias: false}
  - {name: conv1.4, layer: batchnorm}
  - {name: conv1.5, layer: relu}
  - {name: conv1.6, layer: conv, width: 16, kernel: 3, padding: 1, bias: false}
  - {name: bn1, layer: batchnorm}
  - {name: act1, layer: relu}
stages:
  - {name: stages.0.blocks, block: basic, width: 16}
  - {name: stages.1.blocks, block: basic, width: 32, stride: 2}
head:
  - {layer: global_avgpool}
  - {layer: flatten}
  - {name: classifier.0, layer: dropout, p: 0.1}
  - {name: classifier.1, layer: linear, width: 10}
"""

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _expected_keys() -> list[str]:
    def bn(name: str) -> list[str]:
        return [f"{name}.{key}" for key in BN]

    def block(name: str, downsample: bool) -> list[str]:
        keys = [f"{name}.conv1.weight", *bn(f"{name}.bn1"), f"{name}.conv2.weight", *bn(f"{name}.bn2")]
        return keys + ([f"{name}.downsample.0.weight", *bn(f"{name}.downsample.1")] if downsample else [])

    return ["conv1.0.weight", *bn("conv1.1"), "conv1.3.weight", *bn("conv1.4"), "conv1.6.weight", *bn("bn1"),
            *block("stages.0.blocks.0", False), *block("stages.1.blocks.0", True),
            "classifier.1.weight", "classifier.1.bias"]


@pytest.fixture(scope="module")
def deep_stem():
    report = archspec.check(archspec.load(DEEP_STEM))
    assert report.ok, report.errors
    return report


def _randomised(network: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    return network.eval()


def test_dotted_names_nest_into_containers_with_exactly_the_written_state_dict_keys(deep_stem):
    network = build_module(deep_stem)
    assert list(network.state_dict()) == _expected_keys()
    assert [name for name, _ in network.named_children()] == ["conv1", "bn1", "act1", "stages", "avgpool",
                                                             "flatten", "classifier"]
    assert isinstance(network.conv1, torch.nn.Sequential) and len(network.conv1) == 7
    assert network(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert deep_stem.params == sum(p.numel() for p in network.parameters())


def test_the_table_shows_containers_with_their_chains_figures(deep_stem):
    rows = {row.name: row for row in deep_stem.rows(depth=None)}
    assert rows["conv1"].kind == "sequential" and rows["conv1"].depth == 0
    assert rows["conv1.6"].depth == 1 and rows["stages.1.blocks.0"].depth == 3
    members = [rows[f"conv1.{i}"] for i in range(7)]
    assert rows["conv1"].params == sum(row.params for row in members)
    assert rows["conv1"].macs == sum(row.macs for row in members)
    assert rows["conv1"].output_shape == rows["conv1.6"].output_shape == (16, 16, 16)
    assert rows["stages"].params == rows["stages.0.blocks"].params + rows["stages.1.blocks"].params
    # the same network written without dots has the same figures, and the same modules in order
    flat = archspec.check(archspec.load(re.sub(r"name: ([a-z]+)\.([0-9a-z.]+),",
                                                lambda m: f"name: {m[1]}_{m[2].replace('.', '_')},", DEEP_STEM)))
    assert (flat.params, flat.macs, flat.output_shape) == (deep_stem.params, deep_stem.macs,
                                                           deep_stem.output_shape)


NESTED_TWICE = """\
name: nested-twice
input: {channels: 3, size: 16}
stem:
  - {name: features.0.conv, layer: conv, width: 8, kernel: 3, padding: 1}
  - {name: features.0.relu, layer: relu}
  - {name: features.1, layer: maxpool, kernel: 2}
stages:
  - {name: features.2, block: basic, width: 16, repeats: 2, stride: 2}
  - {name: body, block: bottleneck, width: 4, shortcut: D}
head:
  - {name: pool.0, layer: global_avgpool}
  - {name: pool.1, layer: flatten}
  - {layer: linear, width: 3}
"""


@pytest.mark.parametrize("text", [DEEP_STEM, NESTED_TWICE])
def test_dotted_top_level_names_check_on_the_twins_with_the_graphs_figures(text):
    """The fast path folds the containers' memory as the graph nests them: equal figures and budget."""
    report = archspec.check(archspec.load(text))
    assert report.ok and report.lowered is None  # the static twins gave the figures
    resolved = report.resolved  # now the graph, nested
    assert report.figures == (resolved[-1].out_shape, sum(r.params for r in resolved), sum(r.macs for r in resolved))
    assert report.twin_memory == report.memory.total
    assert archspec.check(archspec.load(text), max_memory=report.memory.total).ok
    assert not archspec.check(archspec.load(text), max_memory=report.memory.total - 1).ok


def test_python_export_gives_the_same_state_dict_keys_and_outputs(deep_stem, tmp_path):
    network = _randomised(build_module(deep_stem))
    source = python_source(deep_stem, network)
    path = tmp_path / "deep_stem.py"
    path.write_text(source, encoding="utf-8")
    loader = importlib.util.spec_from_file_location("deep_stem_export", path)
    assert loader is not None and loader.loader is not None
    exported = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(exported)
    model = getattr(exported, re.search(r"model = (\w+)\(\)", source)[1])().eval()
    assert list(model.state_dict()) == list(network.state_dict()) == _expected_keys()
    model.load_state_dict(network.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), network(x))


@pytest.mark.parametrize("suffix", ["onnx", "pt2", "svg", "dot"])
def test_exports_and_compile_check_shapes_work_with_nested_names(suffix, tmp_path, capsys):
    spec = tmp_path / "deep.yaml"
    spec.write_text(DEEP_STEM, encoding="utf-8")
    fmt = {"pt2": ["--format", "exported"]}.get(suffix, [])
    assert main(["export", str(spec), *fmt, "-o", str(tmp_path / f"deep.{suffix}")]) == 0
    if suffix == "onnx":
        names = {i.name for i in onnx.load(str(tmp_path / "deep.onnx")).graph.initializer}
        assert "conv1.0.weight" in names and "classifier.1.weight" in names
    if suffix == "pt2":
        program = torch.export.load(str(tmp_path / "deep.pt2"))
        assert "stages.1.blocks.0.downsample.0.weight" in program.state_dict
    assert main(["compile", "--check-shapes", str(spec)]) == 0


def test_the_diagram_draws_nested_stages_and_layers_by_their_full_names(deep_stem):
    text = dot(deep_stem)
    assert 'label="stages.0.blocks"' in text and 'label="stages.1.blocks"' in text
    assert '"conv1.0" [label="conv1.0  conv 3x3/2, 8' in text and '"classifier.1"' in text


def test_a_list_stage_nests_its_dotted_layer_names():
    report = archspec.check(archspec.load(
        "name: t\ninput: {channels: 3, size: 8}\nstages:\n  - name: features\n    blocks:\n"
        "      - {name: a.0, layer: conv, width: 4}\n      - {name: a.1, layer: relu}\n"
        "      - {layer: conv, width: 8}\n"))
    assert report.ok, report.errors
    assert list(build_module(report).state_dict()) == ["features.a.0.weight", "features.a.0.bias",
                                                       "features.2.weight", "features.2.bias"]


HEADER = "name: t\ninput: {channels: 3, size: 8}\nstem:\n"

# (stem entries, [(spec path, line, words of the message, words of the hint)])
REFUSED = [
    (["{name: conv1.0, layer: conv, width: 4}", "{name: bn1, layer: batchnorm}", "{name: conv1.1, layer: relu}"],
     [("stem[2].name", 6, ("nodes named `conv1.*` must follow one another as a chain (an nn.Sequential `conv1`), "
       "but `bn1` comes between `conv1.0` and `conv1.1`"), "one after another")]),
    (["{name: conv1, layer: conv, width: 4}", "{name: conv1.0, layer: relu}"],
     [("stem[1].name", 5, "module name `conv1` (in `conv1.0`) is also the name of stem[0]", "`name: conv1_2.0`")]),
    (["{name: a.0, layer: conv, width: 4}", "{name: a.0, layer: relu}"],
     [("stem[1].name", 5, "module name `0` (in `a.0`) is also the name of stem[0]", "`name: a.1`")]),
    (["{name: a.0, layer: conv, width: 4}", "{name: a, layer: relu}"],
     [("stem[1].name", 5, "module name `a` is also the container of `a.0` (stem[0])", "`name: a_2`")]),
    (["{name: conv1.forward, layer: conv, width: 4}", "{name: training.0, layer: relu}"],
     [("stem[0].name", 4, "module name `forward` in `conv1.forward` is reserved", "`name: conv1.forward_2`"),
      ("stem[1].name", 5, "module name `training` in `training.0` is reserved", "`name: training_2.0`")]),
    (["{name: conv1..0, layer: conv, width: 4}", "{name: 0.a, layer: relu}"],
     [("stem[0].name", 4, "dotted to nest", None), ("stem[1].name", 5, "dotted to nest", None)]),
]


@pytest.mark.parametrize(("stem", "expected"), REFUSED)
def test_names_that_cannot_nest_are_refused_where_written(stem, expected):
    spec = HEADER + "".join(f"  - {entry}\n" for entry in stem)
    try:
        errors = archspec.check(archspec.load(spec)).errors
    except archspec.SpecError as error:
        errors = error.errors
    assert [(archspec.errors.format_path(e.path), e.line) for e in errors] == [(p, line) for p, line, _, _ in expected]
    for error, (_, _, words, hint) in zip(errors, expected):
        assert words in error.message
        assert hint is None or hint in error.hint


def test_the_name_rules_apply_to_any_parents_nodes():
    """For a block's nodes: clashes and reserved names at every level of their dotted names."""
    problems = sibling_problems([("conv.0.0", ("nodes", 0), True), ("conv.0.1", ("nodes", 1), True),
                                 ("conv.0.1", ("nodes", 2), True), ("conv.forward", ("nodes", 3), True),
                                 ("pool", ("nodes", 4), False)])
    assert [(path, message) for path, message, _ in problems] == [
        (("nodes", 3, "name"), ("module name `forward` in `conv.forward` is reserved: it is an attribute of "
                               "PyTorch's nn.Sequential, which holds this module")),
        (("nodes", 2, "name"), "module name `1` (in `conv.0.1`) is also the name of nodes[1]")]
    assert "`name: conv.0.2`" in problems[1][2]


def _conv(name: str, width: int, *inputs: str) -> Node:
    return layer_node(name, derived(Conv, layer="conv", width=width, kernel=1), ("nodes", name), *inputs,
                      written=True)


def _mobilenet_like() -> list[Node]:
    """torchvision's InvertedResidual: conv.0.0-2 (ConvBNReLU), conv.1.0-2 (depthwise), conv.2, conv.3."""
    norm, relu = derived(BatchNorm, layer="batchnorm"), derived(ReLU, layer="relu")
    nodes = []
    for prefix in ("conv.0", "conv.1"):
        nodes += [_conv(f"{prefix}.0", 8), layer_node(f"{prefix}.1", norm, ()), layer_node(f"{prefix}.2", relu, ())]
    nodes += [_conv("conv.2", 8), layer_node("conv.3", norm, ())]
    return [*chain(nodes), Node("add", "add", (INPUT, "conv.3"), JoinText("the residual", ("a", "b")))]


def test_nest_dotted_turns_a_blocks_dotted_chain_into_nested_sequentials():
    nodes, output = nest_dotted(_mobilenet_like(), "add")
    assert [(node.name, node.op, node.inputs) for node in nodes] == [
        ("conv", "block", (INPUT,)), ("add", "add", (INPUT, "conv"))]
    assert output == "add"
    conv: BlockGraph = nodes[0].payload
    assert conv.sequential and [node.name for node in conv.nodes] == ["0", "1", "2", "3"]
    assert [node.name for node in conv.nodes[0].payload.nodes] == ["0", "1", "2"]
    assert conv.nodes[1].inputs == ("0",) and conv.output == "3"
    evaluator = Evaluator()
    result = evaluator.run(block_node("block", BlockGraph("ir", nodes, output), ()), (8, 4, 4))
    assert not evaluator.problems and result is not None
    assert [r.qualname for r in result.children[0].children[0].children] == ["block.conv.0.0", "block.conv.0.1",
                                                                             "block.conv.0.2"]


def test_nest_dotted_rewrites_the_output_and_leaves_undotted_graphs_alone():
    plain = chain([_conv("a", 4), _conv("b", 4)])
    assert nest_dotted(plain, "b") == (plain, "b")
    nodes, output = nest_dotted(chain([_conv("a", 4), _conv("p.0", 4), _conv("p.1", 4)]), "p.1")
    assert output == "p" and nodes[1].inputs == ("a",)


@pytest.mark.parametrize(("nodes", "output", "words"), [
    # a member reading something besides the member before it
    ([_conv("p.0", 4, INPUT), _conv("x", 4, INPUT), _conv("p.1", 4, "x")], "p.1", "`x` comes between"),
    ([_conv("p.0", 4, INPUT), _conv("p.1", 4, INPUT)], "p.1", "`p.1` reads `input` instead of `p.0` alone"),
    # a member before the last read from outside the group, or returned
    ([_conv("p.0", 4, INPUT), _conv("p.1", 4, "p.0"), _conv("y", 4, "p.0")], "y",
     "`y` reads `p.0`, which is not the last of them"),
    ([_conv("p.0", 4, INPUT), _conv("p.1", 4, "p.0")], "p.0", "the output reads `p.0`"),
    # a join makes no module: it cannot be a member of an nn.Sequential
    ([_conv("p.0", 4, INPUT), Node("p.1", "add", ("p.0", INPUT))], "p.1", "`p.1` is an `add`, which makes no module"),
])
def test_nest_dotted_refuses_groups_that_are_not_a_chain(nodes, output, words):
    with pytest.raises(DottedNameError) as raised:
        nest_dotted(nodes, output)
    assert any(words in problem.message for problem in raised.value.problems), raised.value.problems
    assert all(problem.origin[-1] == "name" and problem.hint for problem in raised.value.problems)
