"""`archspec export`: ONNX (onnx.checker, onnxruntime, dynamic batch), torch.export programs, SVG and
DOT diagrams, --weights on every format, and bad requests (exit 2, nothing written).

The network formats are tested on a small spec with every kind of node (zero-pad, projection and
identity shortcuts, an Inception concatenation, a list stage, BatchNorm1d and dropout in the head),
exported through the command line with trained-looking weights (random BatchNorm statistics).
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import archspec
from archspec.cli import main
from conftest import ROOT, SPECS

SMALL_SPEC = """\
# yaml-language-server: $schema=../schemas/archspec.schema.json
name: export-small
input: {channels: 3, size: 16}
stem:
  - {layer: conv, width: 8, kernel: 3, padding: 1, bias: false}
  - {layer: batchnorm}
  - {layer: relu}
stages:
  - {block: basic, width: 8, repeats: 2, shortcut: A}
  - {block: basic, width: 16, stride: 2, shortcut: A}
  - {block: bottleneck, width: 8, stride: 2, shortcut: B}
  - blocks:
      - {block: inception, c1: 8, c2: [8, 16], c3: [4, 8], c4: 8}
      - {layer: maxpool, kernel: 2}
head:
  - {layer: global_avgpool}
  - {layer: flatten}
  - {layer: linear, width: 24}
  - {layer: batchnorm}
  - {layer: relu}
  - {layer: dropout, p: 0.5}
  - {layer: linear, width: 5}
"""
BROKEN_SPEC = SMALL_SPEC.replace("{layer: linear, width: 24}",
                                 "{layer: linear, width: 24}\n  - {layer: conv, width: 3}")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, object]:
    """The small spec, a compiled module with trained-looking weights, and those weights on disk."""
    folder = tmp_path_factory.mktemp("export")
    spec_path = folder / "small.yaml"
    spec_path.write_text(SMALL_SPEC, encoding="utf-8")
    torch.manual_seed(0)
    network = archspec.compile(archspec.load(spec_path))
    for module in network.modules():  # statistics a training run would leave, not the defaults
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    network.eval()
    checkpoint = folder / "last.pt"  # what `archspec train` saves: the state_dict under "model"
    torch.save({"format": "archspec-checkpoint", "version": 1, "model": network.state_dict(),
                "epoch": 3, "spec_name": "export-small"}, checkpoint)
    return {"folder": folder, "spec": spec_path, "network": network, "checkpoint": checkpoint}


def export(*arguments: object) -> int:
    """The exit code of `archspec export ARGUMENTS` (argparse's own errors exit via SystemExit)."""
    try:
        return main(["export", *map(str, arguments)])
    except SystemExit as stop:
        return int(stop.code or 0)


def reference(small: dict, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(batch, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return x, small["network"](x)


def test_onnx_passes_the_checker_and_matches_pytorch_at_two_batch_sizes(small, tmp_path, capsys):
    target = tmp_path / "small.onnx"
    assert export(small["spec"], "--format", "onnx", "-o", target, "--weights", small["checkpoint"]) == 0
    assert "ONNX opset" in capsys.readouterr().out
    onnx.checker.check_model(str(target), full_check=True)
    model = onnx.load(str(target))
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.HasField("dim_value")  # a named, dynamic batch size
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    for batch in (1, 3):
        x, expected = reference(small, batch, batch)
        (got,) = session.run(None, {"input": x.numpy()})
        assert got.shape == (batch, 5)
        assert np.abs(got - expected.numpy()).max() < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.onnx"]  # no temporary left


@pytest.mark.parametrize("count_include_pad", ["true", "false"])
def test_onnx_writes_pooling_that_onnx_computes_otherwise(tmp_path, count_include_pad):
    """Adaptive max pooling whose size does not divide the map (5 rows from 7, 3 columns from 7): torch's
    exporter has no ONNX form of it. ceil_mode where PyTorch drops the last window, which ONNX keeps
    (13 -> 7 where ONNX says 8; 5 -> 3 where ONNX says 4): the model failed onnx.checker."""
    spec_path = tmp_path / "pools.yaml"
    spec_path.write_text("name: pools\ninput: {channels: 2, size: 13}\nstem:\n"
                         "  - {layer: conv, width: 4, kernel: 3, padding: 1}\n"
                         "  - {layer: maxpool, kernel: 2, stride: 2, padding: 1, ceil_mode: true}\n"
                         "  - {layer: adaptive_maxpool, size: [5, 3]}\n"
                         "  - {layer: avgpool, kernel: 2, stride: 2, padding: 1, ceil_mode: true, "
                         f"count_include_pad: {count_include_pad}}}\n"
                         "  - {layer: adaptive_maxpool, size: [3, 1]}\n"
                         "head:\n  - {layer: flatten}\n  - {layer: linear, width: 3}\n", encoding="utf-8")
    torch.manual_seed(0)
    network = archspec.compile(archspec.load(spec_path)).eval()
    torch.save(network.state_dict(), tmp_path / "weights.pt")
    target = tmp_path / "pools.onnx"
    assert export(spec_path, "-o", target, "--weights", tmp_path / "weights.pt") == 0
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = torch.randn(batch, 2, 13, 13, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = network(x)
        (got,) = session.run(None, {"input": x.numpy()})
        assert np.abs(got - expected.numpy()).max() < 1e-5


def test_a_model_onnx_shape_inference_refuses_is_an_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    """onnx.checker's shape inference raises its own InferenceError, which went up as a traceback."""
    import archspec.export.onnx as onnx_export

    monkeypatch.setattr(onnx_export, "DECOMPOSITIONS", {})  # ceil_mode as torch writes it: ONNX says 3 x 3
    spec_path = tmp_path / "ceil.yaml"
    spec_path.write_text("name: ceil\ninput: {channels: 1, size: 5}\nstem:\n"
                         "  - {layer: maxpool, kernel: 2, stride: 2, padding: 1, ceil_mode: true}\n", encoding="utf-8")
    assert export(spec_path, "-o", tmp_path / "ceil.onnx") == 2
    assert "fails onnx.checker" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ceil.yaml"]


def test_exported_program_reloads_and_runs_with_a_dynamic_batch(small, tmp_path):
    target = tmp_path / "small.pt2"
    assert export(small["spec"], "-o", target, "--weights", small["checkpoint"]) == 0  # format from suffix
    program = torch.export.load(str(target)).module()
    for batch in (1, 4):
        x, expected = reference(small, batch, 10 + batch)
        with torch.no_grad():
            got = program(x)
        assert got.shape == (batch, 5)
        assert torch.allclose(got, expected, rtol=0, atol=1e-5)


def test_python_with_weights_writes_a_state_dict_that_loads_strictly(small, tmp_path):
    target = tmp_path / "small_net.py"
    assert export(small["spec"], "-f", "python", "-o", target, "--weights", small["checkpoint"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small_net.pt", "small_net.py"]
    text = target.read_text()
    assert 'model.load_state_dict(torch.load("small_net.pt"))' in text
    namespace: dict[str, object] = {}
    exec(compile(text, str(target), "exec"), namespace)
    model = namespace["ExportSmall"]()
    model.load_state_dict(torch.load(tmp_path / "small_net.pt", weights_only=True), strict=True)
    x, expected = reference(small, 2, 7)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), expected)


@pytest.mark.parametrize("saved", ["bare", "wrapped"])
def test_weights_also_load_from_a_bare_or_wrapped_state_dict(small, tmp_path, saved):
    state = small["network"].state_dict()
    if saved == "wrapped":  # saved from DataParallel: every key starts with "module."
        state = {f"module.{key}": value for key, value in state.items()}
    torch.save(state, tmp_path / "weights.pt")
    assert export(small["spec"], "-o", tmp_path / "net.py", "--weights", tmp_path / "weights.pt") == 0
    written = torch.load(tmp_path / "net.pt", weights_only=True)  # the weights the export used
    expected = small["network"].state_dict()
    assert list(written) == list(expected)
    assert all(torch.equal(written[key], expected[key]) for key in expected)


def test_svg_diagram_shows_stages_blocks_shortcuts_and_shapes(tmp_path):
    target = tmp_path / "resnet34.svg"
    assert export(SPECS / "resnet34.yaml", "-o", target) == 0
    root = ET.parse(target).getroot()  # well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = ["".join(element.itertext()) for element in root.iter("{http://www.w3.org/2000/svg}text")]
    for expected in ("stem", "layer1", "layer4", "head", "input 3x224x224", "output",
                     "conv1  conv 7x7/2, 64", "layer2.0  basic", "layer3.1-5  5 × basic",
                     "identity shortcut", "projection shortcut", "conv 1x1/2, 128 + batchnorm",
                     "64x112x112", "128x28x28", "512x7x7", "512", "1000"):
        assert expected in texts, expected
    assert texts.count("projection shortcut") == 3 and texts.count("identity shortcut") == 4


def test_a_small_networks_diagram_counts_its_multiply_accumulates_whole(tmp_path):
    """lenet's 0.4 M read well, but a network of 20,736 MACs was drawn as "0.0 M multiply-accumulates"."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text("name: tiny\ninput: {channels: 3, size: 8}\nstem: [{layer: conv, width: 4, kernel: 3}]\n")
    assert export(spec, "-o", tmp_path / "tiny.svg") == 0
    text = "\n".join(ET.parse(tmp_path / "tiny.svg").getroot().itertext())
    assert "112 parameters, 3,888 multiply-accumulates at 3x8x8" in text


def test_merged_alike_blocks_keep_the_first_ones_name_when_copy_names_hold_a_dash(tmp_path):
    """regnet's copies are `block3-0` .. `block3-6`: the merged box read `block3-block3-6`, having cut the
    first name at its own dash."""
    assert export(SPECS / "regnet_x_400mf.yaml", "-o", tmp_path / "regnet.svg") == 0
    texts = ["".join(element.itertext()) for element in ET.parse(tmp_path / "regnet.svg").getroot().iter(
        "{http://www.w3.org/2000/svg}text")]
    assert any(text.startswith("trunk_output.block3.block3-1..block3-6  6 × ") for text in texts), texts


def test_svg_draws_zero_pad_and_missing_shortcuts_and_concatenations(small, tmp_path):
    assert export(small["spec"], "-o", tmp_path / "small.svg") == 0
    texts = "\n".join(ET.parse(tmp_path / "small.svg").getroot().itertext())
    assert "zero-pad shortcut" in texts and "subsample /2, zero-pad to 16" in texts
    assert "inception (4 branches, concatenated)" in texts and "branch2: conv 1x1, 8 → conv 3x3, 16" in texts
    assert export(SPECS / "plain18.yaml", "-o", tmp_path / "plain.svg") == 0
    assert "no shortcut" in "\n".join(ET.parse(tmp_path / "plain.svg").getroot().itertext())


def test_readme_diagram_is_up_to_date(tmp_path):
    assert export(SPECS / "resnet34.yaml", "-o", tmp_path / "resnet34.svg") == 0
    assert (tmp_path / "resnet34.svg").read_text() == (ROOT / "docs" / "resnet34.svg").read_text(), \
        "regenerate it: archspec export specs/resnet34.yaml -o docs/resnet34.svg"


def test_dot_is_a_graph_with_a_cluster_per_stage_and_shapes_on_edges(tmp_path):
    target = tmp_path / "resnet18.dot"
    assert export(SPECS / "resnet18.yaml", "--format", "dot", "-o", target) == 0
    text = target.read_text()
    assert text.startswith('digraph "resnet18" {') and text.rstrip().endswith("}")
    assert text.count("subgraph ") == 6  # stem, layer1..layer4, head
    assert '"layer1.0-1" -> "layer2.0" [label="64x56x56"];' in text  # alike blocks share a node
    assert "shortcut: projection (conv 1x1/2, 256 + batchnorm)" in text
    assert '"fc" -> "(output)" [label="1000"];' in text


def test_dot_layers_named_input_and_output_are_boxes_of_their_own(tmp_path):
    """A layer named `input` had the input oval's node ID: the oval took the layer's label and the
    first edge looped on it ("input" -> "input")."""
    spec = tmp_path / "io.yaml"
    spec.write_text("name: io\ninput: {channels: 3, size: 8}\nstem: [{layer: conv, width: 4, name: input}]\n"
                    "head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: 3, name: output}]\n")
    assert export(spec, "-f", "dot", "-o", tmp_path / "io.dot") == 0
    edges = [line.split(" [")[0].strip().split(" -> ") for line in (tmp_path / "io.dot").read_text().splitlines()
             if " -> " in line]
    chain = [edges[0][0], *(head for _, head in edges)]
    assert all(tail == before for (tail, _), before in zip(edges, chain))  # one path, input to output
    assert len(set(chain)) == len(chain) == 5 and chain[1] == '"input"' and chain[-2] == '"output"'


def test_diagrams_and_the_command_module_do_not_import_torch(tmp_path):
    code = ("import sys; from archspec.cli import main; "
            f"assert main(['export', {str(SPECS / 'resnet50.yaml')!r}, '-o', {str(tmp_path / 'r.svg')!r}]) == 0; "
            f"assert main(['export', {str(SPECS / 'resnet50.yaml')!r}, '-o', {str(tmp_path / 'r.dot')!r}]) == 0; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    process = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                             check=False)
    assert process.returncode == 0, process.stderr


@pytest.mark.parametrize("arguments, message", [
    (["--format", "pdf"], "invalid choice: 'pdf'"),
    (["-o", "{tmp}/model.txt"], "give --format"),
    (["-f", "onnx", "-o", "{tmp}/missing/model.onnx"], "the folder {tmp}/missing does not exist"),
    (["-f", "svg", "-o", "{tmp}"], "is a folder"),
    (["-f", "svg", "-o", "{tmp}/x.svg", "--weights", "{tmp}/nothing.pt"],
     "weights file {tmp}/nothing.pt does not exist"),
    (["-f", "onnx", "-o", "{tmp}/x.onnx", "--weights", "{tmp}/garbage.pt"], "is not a PyTorch checkpoint"),
    (["-f", "python", "-o", "{tmp}/x.py", "--weights", "{tmp}/other.pt"], "do not fit this spec"),
    # the hint named --input alone; --set and --scale change the network as often
    (["-f", "svg", "-o", "{tmp}/x.svg", "--weights", "{tmp}/other.pt"], "with the same --set, --scale and --input?"),
    # the state_dict goes to -o's name with .pt: it was written, then replaced by the source ("wrote net.pt
    # and net.pt"); a folder there was reported as if -o named it
    (["-f", "python", "-o", "{tmp}/net.pt", "--weights", "{checkpoint}"],
     "the state_dict written beside the source, {tmp}/net.pt, would be the source file itself"),
    (["-f", "python", "-o", "{tmp}/folder.py", "--weights", "{checkpoint}"],
     "the state_dict written beside the source, {tmp}/folder.pt, is a folder; choose another -o"),
])
def test_bad_requests_exit_2_with_a_message_and_write_nothing(small, tmp_path, capsys, arguments, message):
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    torch.save({"model": {"fc.weight": torch.zeros(3, 3)}}, tmp_path / "other.pt")
    (tmp_path / "folder.pt").mkdir()
    before = sorted(os.listdir(tmp_path))
    assert export(small["spec"], *[a.format(tmp=tmp_path, checkpoint=small["checkpoint"]) for a in arguments]) == 2
    error = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in error and "Traceback" not in error
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("format_name", ["python", "svg", "dot"])
def test_dash_writes_a_text_format_to_standard_output_and_no_file(small, tmp_path, monkeypatch, capsys, format_name):
    """`-o -` wrote a file named `-` in the current folder (as `archspec scale -o -` does not)."""
    monkeypatch.chdir(tmp_path)
    assert export(small["spec"], "-f", format_name, "-o", "-") == 0
    printed = capsys.readouterr().out
    assert os.listdir(tmp_path) == []
    assert export(small["spec"], "-f", format_name, "-o", "net.txt") == 0
    assert printed == (tmp_path / "net.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("arguments, message", [
    ([], "-o - (standard output) needs --format"),
    (["-f", "onnx"], "--format onnx writes a binary file"),
    (["-f", "exported"], "--format exported writes a binary file"),
    (["-f", "python", "--weights", "{checkpoint}"], "give -o PATH.py, not -o -"),
])
def test_dash_refuses_what_standard_output_cannot_hold(small, tmp_path, monkeypatch, capsys, arguments, message):
    monkeypatch.chdir(tmp_path)
    assert export(small["spec"], "-o", "-", *[a.format(checkpoint=small["checkpoint"]) for a in arguments]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err and captured.out == ""
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("format_name, output, message", [
    ("dot", "spec.yaml", "-o {tmp}/spec.yaml is the spec being exported"),
    ("svg", "link.svg", "-o {tmp}/link.svg is the spec being exported"),  # a link to it
    ("exported", "trained.pt", "-o {tmp}/trained.pt is the checkpoint given to --weights"),
    ("onnx", "spec.yaml", "-o {tmp}/spec.yaml is the spec being exported"),
    ("python", "spec.yaml", "-o {tmp}/spec.yaml is the spec being exported"),
])
def test_an_export_never_replaces_its_spec_or_its_checkpoint(small, tmp_path, capsys, format_name, output, message):
    """-o naming the spec or the --weights checkpoint replaced it with the export: the spec, or the
    trained weights, were lost."""
    spec, weights = tmp_path / "spec.yaml", tmp_path / "trained.pt"
    spec.write_bytes(small["spec"].read_bytes())
    weights.write_bytes(small["checkpoint"].read_bytes())
    (tmp_path / "link.svg").symlink_to(spec)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert export(spec, "-f", format_name, "-o", tmp_path / output, "--weights", weights) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


@pytest.mark.parametrize("output, extra", [
    ("blocks/unit.yaml", ()), ("blocks/outer.yaml", ()),  # imported with blocks, and importing only
    ("link.yaml", ()),  # a link to an imported file
    ("blocks/outer.yaml", ("--set", "stages[0].width=5")),  # a spec resolved from overrides
])
def test_an_export_never_replaces_a_block_file_the_spec_imports(tmp_path, capsys, output, extra):
    """-o naming a file of the spec's `imports:` (or one those import) replaced it with the export,
    as it once did the spec itself: the block definitions were lost."""
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "unit.yaml").write_text(
        "blocks:\n  unit:\n    nodes:\n      - {name: conv, layer: conv, width: \"${width}\", padding: 1}\n")
    (tmp_path / "blocks" / "outer.yaml").write_text("imports: [unit.yaml]\n")
    spec = tmp_path / "net.yaml"
    spec.write_text("name: net\ninput: {channels: 1, size: 8}\nimports: [blocks/outer.yaml]\n"
                    "stages:\n  - {block: unit, width: 4}\n")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "blocks" / "unit.yaml")
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert export(spec, *extra, "-f", "dot", "-o", tmp_path / output) == 2
    imported = (tmp_path / output).resolve()
    assert f"is a block file the spec imports ({imported}): the export would replace it" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before


def test_a_spec_failing_the_check_exits_2_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN_SPEC, encoding="utf-8")
    assert export(spec, "-f", "onnx", "-o", tmp_path / "broken.onnx") == 2
    error = capsys.readouterr().err
    assert "broken.yaml:" in error and "conv expects an image" in error
    assert sorted(os.listdir(tmp_path)) == ["broken.yaml"]


def test_a_failure_while_writing_leaves_no_file_and_keeps_the_old_one(small, tmp_path, monkeypatch, capsys):
    target = tmp_path / "small.pt2"
    target.write_bytes(b"the previous export")

    def disk_full(_program, path, *_args, **_kwargs):
        Path(path).write_bytes(b"half a program")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch.export, "save", disk_full)
    assert export(small["spec"], "-f", "exported", "-o", target) == 2
    assert f"cannot write {target}: No space left on device" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["small.pt2"] and target.read_bytes() == b"the previous export"


@pytest.mark.parametrize("suffix", [".onnx", ".pt2"])
def test_a_keyword_module_name_is_refused_by_the_torch_export_formats(tmp_path, capsys, suffix):
    """A stage named `def` exported a .pt2 whose program failed with a SyntaxError when loaded, and ONNX
    export failed with torch's multi-line report; -f python writes it (getattr)."""
    spec = tmp_path / "keyword.yaml"
    spec.write_text("name: keyword\ninput: {channels: 1, size: 8}\nstem:\n  - {layer: conv, width: 4}\n"
                    "stages:\n  - {block: basic, width: 4, name: def}\n"
                    "head:\n  - {layer: global_avgpool}\n  - {layer: flatten}\n  - {layer: linear, width: 2}\n")
    assert export(spec, "-o", tmp_path / f"net{suffix}") == 2
    error = capsys.readouterr().err
    assert "module names with a Python keyword (`def`, `def.0`" in error and "Traceback" not in error
    assert error.count("\n") == 1 and sorted(os.listdir(tmp_path)) == ["keyword.yaml"]
    assert export(spec, "-o", tmp_path / "net.py") == 0


def test_a_keyword_module_name_is_refused_from_the_static_names_before_anything_is_built(
        tmp_path, capsys, monkeypatch):
    """The refusal came after the whole module was built (and any --weights loaded): the report's
    names are the module's, so the check needs neither."""
    import archspec.build

    def no_build(*_args, **_kwargs):
        raise AssertionError("the module was built")

    monkeypatch.setattr(archspec.build, "build_module", no_build)
    spec = tmp_path / "keyword.yaml"
    spec.write_text("name: keyword\ninput: {channels: 1, size: 8}\nstem:\n  - {layer: conv, width: 4, name: class}\n")
    assert export(spec, "-o", tmp_path / "net.onnx") == 2
    error = capsys.readouterr().err
    assert "onnx: module names with a Python keyword (`class`) cannot be written" in error
    assert sorted(os.listdir(tmp_path)) == ["keyword.yaml"]
