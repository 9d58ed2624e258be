"""`--format python`: the generated source, run in a process where archspec cannot be imported, gives
bit-identical outputs to the compiled module with the same weights, for every shipped spec; it loads
the compiled module's state_dict with strict=True, imports only torch, and is ruff-clean.

One generated file per spec at a small input (the spec's own size where it accepts no other), all run
by one subprocess (tests/export_python_runner.py) to pay for `import torch` once.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from archspec.build import build_module
from archspec.check import Report
from archspec.export.python_source import python_source
from archspec.shapes import Shape
from archspec.testing import to_spec, valid_specs
from conftest import SPECS

RUNNER_PATH = Path(__file__).with_name("export_python_runner.py")
_runner_spec = importlib.util.spec_from_file_location("export_python_runner", RUNNER_PATH)
assert _runner_spec is not None and _runner_spec.loader is not None
runner = importlib.util.module_from_spec(_runner_spec)
_runner_spec.loader.exec_module(runner)

# What the shipped specs may not show: a layer named with a Python keyword, a list stage with a named
# layer (a stage class instead of nn.Sequential), zero-pad, plain-convolution, per-block (C) and no
# shortcuts, ReLU before the addition, a grouped bottleneck with the stride on the 1x1 convolution.
EDGE_CASES = """
name: export-edge-cases
input: {channels: 3, size: 20}
stem:
  - {layer: conv, width: 8, kernel: 3, padding: 1, name: lambda}
  - {layer: batchnorm}
  - {layer: relu}
stages:
  - {block: basic, width: 8, repeats: 2, shortcut: A, activation_before_add: true}
  - {block: basic, width: 16, stride: 2, shortcut: A}
  - {block: basic, width: 24, stride: 2, projection_norm: false, projection_bias: true}
  - blocks:
      - {block: bottleneck, width: 8, groups: 2, width_per_group: 32, stride: 2, stride_on: 1x1,
         shortcut: C}
      - {layer: maxpool, kernel: 2, name: pool}
  - {block: basic, width: 32, repeats: 2, shortcut: none}
head:
  - {layer: global_avgpool}
  - {layer: flatten}
  - {layer: dropout, p: 0.3}
  - {layer: linear, width: 7}
"""
CASES: dict[str, str | Path] = {path.stem: path for path in sorted(SPECS.glob("*.yaml"))}
CASES["edge-cases"] = EDGE_CASES
SMALL = 32  # the side of the test inputs, where a spec accepts it
RUFF = [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,W,F,I,B,UP,C4,SIM",
        "--line-length", "100", "--target-version", "py310"]


def small_input(report: Report) -> Shape:
    accepted = report.input_range
    assert accepted is not None

    def side(declared: int, low: int, high: int | None) -> int:
        size = max(low, min(declared, SMALL))
        return size if high is None else min(size, high)

    channels, height, width = report.input_shape
    return (channels, side(height, accepted.min_size[0], accepted.max_size[0]),
            side(width, accepted.min_size[1], accepted.max_size[1]))


def compiled(report: Report) -> torch.nn.Module:
    """The compiled module without its initialisation (its tensors on the meta device)."""
    with torch.device("meta"):
        return build_module(report)


def batch(report: Report) -> int:
    return 2 if report.macs < 300_000_000 else 1  # the specs with a fixed large input run one image


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    """Generates every case's file, runs the compiled modules here and the generated ones there."""
    folder = tmp_path_factory.mktemp("generated")
    threads = torch.get_num_threads()
    torch.set_num_threads(runner.THREADS)
    try:
        manifest, expected = _run_compiled(folder)
    finally:
        torch.set_num_threads(threads)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    process = subprocess.run([sys.executable, "-I", str(RUNNER_PATH), str(folder / "manifest.json")],
                             cwd=folder, capture_output=True, text=True, timeout=300, env={}, check=False)
    assert process.returncode == 0, process.stderr[-3000:]
    got = {name: torch.load(entry["output"]) for name, entry in zip(CASES, manifest)}
    return {"folder": folder, "expected": expected, "got": got,
            "runner": json.loads(process.stdout.strip().splitlines()[-1])}


def _run_compiled(folder: Path) -> tuple[list[dict], dict[str, tuple[torch.Tensor, list[str]]]]:
    """Writes each case's source and runs its compiled module; the manifest tells the runner the rest."""
    manifest, expected = [], {}
    for number, (name, source) in enumerate(CASES.items()):
        spec = archspec.load(source)
        report = archspec.check(spec, small_input(archspec.check(spec)))
        network = compiled(report)
        file = folder / f"{name.replace('-', '_')}.py"
        file.write_text(python_source(report, network), encoding="utf-8")
        entries = [[key, list(value.shape), str(value.dtype)] for key, value in network.state_dict().items()]
        network.load_state_dict(runner.deterministic_state(entries, number), strict=True, assign=True)
        shape = [batch(report), *report.input_shape]
        with torch.no_grad():
            expected[name] = (network.eval()(runner.example_input(shape, number)),
                              list(network.state_dict()))
        manifest.append({"file": str(file), "class": _top_class(file), "state": entries, "seed": number,
                         "input": shape, "output": str(folder / f"{name}.out.pt")})
    return manifest, expected


def _top_class(file: Path) -> str:
    return _top_class_of(file.read_text())


def test_the_generated_files_ran_where_archspec_is_not_importable(runs):
    assert runs["runner"] == {"archspec_importable": False}


@pytest.mark.parametrize("name", list(CASES))
def test_generated_source_gives_bit_identical_outputs(runs, name):
    expected, keys = runs["expected"][name]
    got = runs["got"][name]
    assert got["keys"] == keys  # the same state_dict keys, in the same order
    assert torch.isfinite(expected).all() and expected.std() > 0  # a comparison that can fail
    assert got["output"].shape == expected.shape
    assert torch.equal(got["output"], expected)


def test_generated_sources_are_ruff_clean(runs):
    process = subprocess.run([*RUFF, str(runs["folder"])], capture_output=True, text=True, check=False)
    assert process.returncode == 0, process.stdout[-3000:]


def test_generated_sources_import_only_torch(runs):
    for file in runs["folder"].glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
        assert imported == {"torch"}, file.name


def _source(spec: str | Path, shape: Shape | None = None) -> str:
    report = archspec.check(archspec.load(spec), shape)
    return python_source(report, compiled(report))


def test_resnet18_reads_like_hand_written_pytorch():
    text = _source(SPECS / "resnet18.yaml")
    classes = [line for line in text.splitlines() if line.startswith("class ")]
    assert classes == ["class BasicBlock(nn.Module):", "class BasicBlockProjection(nn.Module):",
                       "class Resnet18(nn.Module):"]
    assert "    def __init__(self, channels: int) -> None:" in text
    assert "    def __init__(self, in_channels: int, out_channels: int) -> None:" in text
    lines = [line.strip() for line in text.splitlines()]
    # Shape comments where the shape changes, exact for every block a class builds.
    assert "x = self.conv1(x)  # N x 64 x 112 x 112" in lines
    assert "x = self.bn1(x)" in lines  # no comment: the shape did not change
    assert "x = self.layer2(x)  # N x 128 x 28 x 28" in lines
    assert "x = self.fc(x)  # N x 1000" in lines
    assert "out = self.conv1(x)  # N x out_channels x H/2 x W/2" in lines
    assert "out = out + self.downsample(x)  # projection shortcut" in lines
    assert "out = out + x  # identity shortcut" in lines
    assert "BasicBlockProjection(64, 128),  # N x 128 x 28 x 28" in lines
    assert "nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=2, bias=False)," in lines


def test_names_python_cannot_write_after_a_dot_and_every_shortcut_kind():
    text = _source(EDGE_CASES)
    lines = [line.strip() for line in text.splitlines()]
    assert 'self.add_module("lambda", nn.Conv2d(3, 8, kernel_size=3, padding=1))' in lines
    assert 'x = getattr(self, "lambda")(x)  # N x 8 x 20 x 20' in lines
    # A list stage with a named layer is a class of its own; its block is named "0".
    assert "self.layer4 = Layer4()" in lines
    assert 'self.add_module("0", BottleneckBlock())' in lines
    assert 'x = getattr(self, "0")(x)  # N x 32 x 3 x 3' in lines
    assert "class ZeroPadShortcut(nn.Module):" in text
    assert "self.downsample = ZeroPadShortcut(stride=2, extra_channels=8)" in lines
    assert "self.downsample = nn.Conv2d(16, 24, kernel_size=1, stride=2)" in lines  # with a bias
    assert "out = self.relu2(out)" in lines and "out = out + x  # identity shortcut" in lines
    assert '"""`basic` block without a shortcut (layer5.0, layer5.1)."""' in lines
    plain = text[text.index("class BasicBlockPlain"):text.index("class ExportEdgeCases")]
    assert " + " not in plain  # no addition at all


def _runs_like_the_compiled_module(report: Report, network: torch.nn.Module, text: str) -> None:
    """The generated text is printable, compiles, loads the state_dict strictly and computes the same."""
    assert all(character.isprintable() or character == "\n" for character in text)
    namespace: dict[str, object] = {}
    exec(compile(text, "generated.py", "exec"), namespace)
    model = namespace[_top_class_of(text)]().eval()
    model.load_state_dict(network.state_dict(), strict=True)
    assert list(model.state_dict()) == list(network.state_dict())
    x = torch.randn(2, *report.input_shape)
    with torch.no_grad():
        assert torch.equal(model(x), network(x))


# Every block kind and shortcut the strategies draw, in combinations no shipped spec has, under any
# name and description the validator accepts (the strategies' defaults).
@settings(max_examples=12, deadline=None)
@given(valid_specs(max_stages=3, max_repeats=2, max_width=12))
def test_any_valid_spec_exports_to_source_that_computes_the_same(document):
    report = archspec.check(to_spec(document))
    network = build_module(report).eval()
    _runs_like_the_compiled_module(report, network, python_source(report, network))


# The longest strings the validator accepts, which Hypothesis seldom draws by itself.
@settings(max_examples=10, deadline=None)
@given(valid_specs(max_stages=1, max_repeats=1, max_width=4,
                   spec_names=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{99}", fullmatch=True),
                   descriptions=st.text(st.characters(exclude_categories=["Cs"]), min_size=1900, max_size=2000)
                   .filter(lambda text: "${" not in text)))  # `${` starts an expression
def test_the_longest_names_and_descriptions_export(document):
    assert len(document["name"]) == 100 and len(document.get("description", "x" * 1900)) >= 1900
    report = archspec.check(to_spec(document))
    network = build_module(report).eval()
    _runs_like_the_compiled_module(report, network, python_source(report, network))


ZERO_PAD_STAGES = "stages: [{block: basic, width: 8, stride: 2, shortcut: A}]\nhead: [{layer: flatten}]\n"


@pytest.mark.parametrize("name", ["zero_pad_shortcut", "ZeroPadShortcut", "zero-pad.shortcut_net"])
def test_the_network_class_never_shadows_a_copied_module(name: str):
    report = archspec.check(archspec.load(f"name: {name}\ninput: {{channels: 4, size: 4}}\n{ZERO_PAD_STAGES}"))
    network = build_module(report).eval()
    text = python_source(report, network)
    classes = [node.name for node in ast.parse(text).body if isinstance(node, ast.ClassDef)]
    assert len(set(classes)) == len(classes) and "ZeroPadShortcut" in classes
    _runs_like_the_compiled_module(report, network, text)


@pytest.mark.parametrize("description", [
    "\x00", "a NUL \x00 and an escape \x1b[0m", "line\rbreaks\r\nof\x85every\u2028kind\u2029\x0b\x0c\x1c",
    'ends in a quote"', 'three """ quotes', '""', "\\", "a backslash at the end \\", "\\N{not a name} \\x",
    "x" * 95 + "\\x00 \\" + "\\" * 10, "tab\there", "soft\xadhyphen and \u200b zero width", " ", "\x7f\x9f",
])
def test_any_description_becomes_a_docstring_that_compiles(description: str):
    document = {"name": "described", "description": description, "input": {"channels": 4, "size": 4},
                "stages": [{"block": "basic", "width": 8, "stride": 2, "shortcut": "A"}]}
    report = archspec.check(to_spec(document))
    network = build_module(report).eval()
    text = python_source(report, network)
    _runs_like_the_compiled_module(report, network, text)
    namespace: dict[str, object] = {}
    exec(compile(text, "generated.py", "exec"), namespace)
    doc = namespace["Described"].__doc__
    # The description is all there, line by line, every other character that is not printable
    # written as its escape.
    escaped = "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1]
                      for line in description.splitlines() for c in line)
    assert "".join(escaped.split()) in "".join(doc.split())


@pytest.mark.parametrize("name", ["__hidden", "_dunder__", "_", "x", "out", "self", "torch", "nn", "getattr"])
def test_any_layer_name_keeps_its_state_dict_key(name: str):
    """`self.__hidden` inside a class would be `_Class__hidden`; Python's own names must not be
    shadowed where the generated code uses them."""
    document = {"name": "named", "input": {"channels": 3, "size": 8},
                "stem": [{"layer": "conv", "width": 4, "kernel": 3, "name": name}],
                "stages": [{"name": f"{name}_stage", "blocks": [
                    {"layer": "relu", "name": name},
                    {"block": "inception", "c1": 4, "c2": [4, 4], "c3": [4, 4], "c4": 4}]}],
                "head": [{"layer": "flatten", "name": f"{name}_flat"}]}
    report = archspec.check(to_spec(document))
    network = build_module(report).eval()
    _runs_like_the_compiled_module(report, network, python_source(report, network))


def test_source_that_would_not_compile_is_an_error_and_nothing_is_written(tmp_path: Path, monkeypatch):
    from archspec.cli import main
    from archspec.export import python_source as module

    monkeypatch.setattr(module, "_top_docstring", lambda report: "a NUL: \x00")
    monkeypatch.setattr(module, "_docstring", lambda text, indent: [f'{indent}"""{text}"""'])
    target = tmp_path / "broken.py"
    assert main(["export", str(SPECS / "resnet18.yaml"), "-o", str(target)]) == 2
    assert not target.exists() and list(tmp_path.iterdir()) == []


def _top_class_of(text: str) -> str:
    return [node.name for node in ast.parse(text).body if isinstance(node, ast.ClassDef)][-1]


def test_arguments_too_long_for_one_line_get_one_line_each():
    """se-resnet50's exported 3x3 conv (`conv1_out_channels` twice) does not fit on one argument line."""
    from archspec.export.python_source import WIDTH, _fit

    line = ("        self.conv2 = nn.Conv2d(conv1_out_channels, conv1_out_channels, kernel_size=3, "
            "stride=(1, 2), padding=1, bias=False, name=\"a, b\")  # N x width x H x W")
    fitted = _fit(line)
    assert all(len(part) <= WIDTH for part in fitted)
    assert fitted[:2] == ["        # N x width x H x W", "        self.conv2 = nn.Conv2d("]
    assert fitted[2:5] == ["            conv1_out_channels,", "            conv1_out_channels,",
                           "            kernel_size=3,"]
    assert "            stride=(1, 2)," in fitted and '            name="a, b",' in fitted
    assert fitted[-1] == "        )"
    ast.parse("\n".join(part.strip() for part in fitted[1:]))


def test_containers_of_dotted_names_are_classes_named_after_their_modules():
    """`denseblock1.denselayer1` makes a container `denseblock1`: its class is Denseblock1 (a container
    used under one name everywhere is named after it), not a numbered `SequentialBlock`."""
    text = _source("""name: dotted
input: {channels: 3, size: 8}
stem: [{layer: conv, width: 4, kernel: 3, padding: 1}]
stages:
  - blocks:
      - {block: basic, width: 4, repeats: 2, copy_names: "denseblock1.layer{number}"}
      - {block: basic, width: 8, repeats: 1, name: transition}
      - {block: basic, width: 8, repeats: 3, copy_names: "denseblock2.layer{number}"}
head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: 2}]
""")
    classes = [line.split("(")[0] for line in text.splitlines() if line.startswith("class ")]
    assert "class Denseblock1" in classes and "class Denseblock2" in classes
    assert not any("Sequential" in name for name in classes)
    assert "self.denseblock1 = Denseblock1()" in [line.strip() for line in text.splitlines()]
