"""Design-space sampling: the RegNet generator against torchvision, determinism, the outputs, and
located errors for bad spaces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.errors import SpecError
from archspec.generators import expand
from archspec.regnet import adjust_compatibility, bottleneck_fields, generate_regnet, inner_width
from archspec.sample import Sampler
from archspec.space import MAX_TRIES

ROOT = Path(__file__).resolve().parent.parent
SPACES = ROOT / "spaces"

# torchvision's published RegNetX parameters (models/regnet.py): (name, depth, w0, wa, wm, group width)
REGNET_X = [("regnet_x_400mf", 22, 24, 24.48, 2.54, 16), ("regnet_x_800mf", 16, 56, 35.73, 2.28, 16),
            ("regnet_x_1_6gf", 18, 80, 34.01, 2.25, 24), ("regnet_x_3_2gf", 25, 88, 26.31, 2.25, 48),
            ("regnet_x_8gf", 23, 80, 49.56, 2.88, 120), ("regnet_x_16gf", 22, 216, 55.59, 2.1, 128),
            ("regnet_x_32gf", 23, 320, 69.86, 2.0, 168)]

SPACE_400MF = """
name: regnet_x_400mf
input: {channels: 3, size: 224}
shortcut: B
stem:
  - {layer: conv, width: 32, kernel: 3, stride: 2, padding: 1, bias: false}
  - {layer: batchnorm}
  - {layer: relu}
stages:
  regnet: {w0: 24, wa: 24.48, wm: 2.54, depth: 22, group_width: 16}
head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: 1000}]
"""


def _stages(depth: int, w0: int, wa: float, wm: float, group_width: int) -> list[dict]:
    return expand({"stages": {"regnet": {"w0": w0, "wa": wa, "wm": wm, "depth": depth,
                                         "group_width": group_width}}})["stages"]


def test_regnet_x_400mf_has_torchvisions_stage_widths_and_depths():
    from torchvision.models import regnet_x_400mf

    network = regnet_x_400mf()
    stages = list(network.trunk_output.children())
    expected = [(len(stage), next(iter(stage.children())).f.c[0].out_channels) for stage in stages]
    generated = [(s["repeats"], s["width"] * s["expansion"]) for s in _stages(22, 24, 24.48, 2.54, 16)]
    assert generated == expected


@pytest.mark.parametrize(("name", "depth", "w0", "wa", "wm", "group_width"), REGNET_X)
def test_regnet_generator_equals_torchvisions_block_params(name, depth, w0, wa, wm, group_width):
    from torchvision.models.regnet import BlockParams

    params = BlockParams.from_init_params(depth=depth, w_0=w0, w_a=wa, w_m=wm, group_width=group_width)
    widths, depths = generate_regnet(w0, wa, wm, depth)
    adjusted = [adjust_compatibility(width, 1, group_width) for width in widths]
    assert depths == params.depths
    assert [width for width, _ in adjusted] == params.widths
    assert [group for _, group in adjusted] == params.group_widths


def test_regnet_x_400mf_space_builds_torchvisions_network():
    """The X block expressed with the built-in bottleneck: the same parameters, layer by layer."""
    import torch
    from torchvision.models import regnet_x_400mf

    sample = Sampler(SPACE_400MF, 0).sample(0)
    spec = archspec.load(archspec.loader.dump(sample.data))
    with torch.device("meta"):
        built = archspec.compile(spec)
    reference = regnet_x_400mf()
    assert sample.params == sum(p.numel() for p in built.parameters()) == sum(
        p.numel() for p in reference.parameters())
    # torchvision registers a block's projection before its main path: the same tensors, in another order
    assert sorted(tuple(p.shape) for p in built.parameters()) == sorted(
        tuple(p.shape) for p in reference.parameters())


@pytest.mark.parametrize(("ratio", "group_width"), [(1, 1), (1, 16), (1, 24), (2, 8), (4, 32), (1, 232)])
def test_bottleneck_fields_give_exactly_the_x_blocks_channels(ratio, group_width):
    from archspec.blocks.residual import BottleneckStage

    expressed = 0
    for drawn in range(8, 1032, 8):
        width, group = adjust_compatibility(drawn, ratio, group_width)
        inner = inner_width(width, ratio)
        fields = bottleneck_fields(width, inner, group)
        if fields is None:
            continue  # rejected as `inexpressible`, never approximated
        expressed += 1
        stage = BottleneckStage(block="bottleneck", **fields)
        assert (stage.inner_width(), stage.out_width(), stage.groups) == (inner, width, inner // group)
    assert expressed > 64


def test_widths_with_a_large_prime_factor_are_expressed_exactly():
    """1016 = 8 * 127 and 664 = 8 * 83 in groups of 8: only a `bottleneck` of width 8 and
    expansion 127 (83) has these channels; the paper's spaces draw such widths in about 1 sample in 10."""
    from archspec.blocks.residual import BottleneckStage

    for width, group_width in ((1016, 8), (664, 8), (1328, 4), (7184, 16)):
        fields = bottleneck_fields(width, width, group_width)
        assert fields is not None, (width, group_width)
        stage = BottleneckStage(block="bottleneck", **fields)
        assert (stage.inner_width(), stage.out_width(), stage.groups) == (width, width, width // group_width)


def test_a_large_expansion_builds_the_network_its_figures_count():
    import torch

    spec = archspec.load(SPACE_400MF.replace("regnet: {w0: 24, wa: 24.48, wm: 2.54, depth: 22, group_width: 16}",
                                             "- {block: bottleneck, width: 8, expansion: 83, groups: 83, "
                                             "width_per_group: 64, repeats: 2}"))
    with torch.device("meta"):
        built = archspec.compile(spec)
    assert archspec.check(spec).params == sum(p.numel() for p in built.parameters())
    assert built.layer1[0].conv2.out_channels == built.layer1[0].conv3.out_channels == 664


def test_an_inexpressible_block_is_reported_not_approximated():
    assert bottleneck_fields(8, 8, 3) is None  # 3 does not divide 8: the width is not group-compatible


@pytest.mark.parametrize("space", ["regnet_x.yaml", "anynet_x.yaml"])
def test_the_shipped_spaces_draw_no_inexpressible_sample(space):
    sampler = Sampler(SPACES / space, 0)
    assert [s.detail for s in sampler.run(300) if s.reason == "inexpressible"] == []


def _run(space: Path | str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archspec", "sample", str(space), "-o", str(out), *extra],
                          capture_output=True, text=True, cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def regnet_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("regnet") / "run"
    result = _run(SPACES / "regnet_x.yaml", out, "-n", "40", "--seed", "3", "--max-macs", "600M")
    assert result.returncode == 0, result.stderr
    return out


def test_same_space_seed_and_n_give_byte_identical_outputs(regnet_run, tmp_path):
    again = tmp_path / "again"
    assert _run(SPACES / "regnet_x.yaml", again, "-n", "40", "--seed", "3", "--max-macs", "600M").returncode == 0
    names = sorted(p.name for p in regnet_run.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert "samples.png" in names
    for name in names:
        assert (regnet_run / name).read_bytes() == (again / name).read_bytes(), name


def test_another_seed_draws_other_samples(regnet_run, tmp_path):
    other = tmp_path / "other"
    assert _run(SPACES / "regnet_x.yaml", other, "-n", "40", "--seed", "4", "--max-macs", "600M").returncode == 0
    assert (other / "samples.jsonl").read_text() != (regnet_run / "samples.jsonl").read_text()


def test_each_accepted_spec_checks_as_written_with_the_figures_of_its_row(regnet_run):
    rows = [json.loads(line) for line in (regnet_run / "samples.jsonl").read_text().splitlines()]
    assert [row["index"] for row in rows] == list(range(40))
    accepted = [row for row in rows if row["status"] == "accepted"]
    assert accepted and all(row["macs"] <= 600_000_000 for row in accepted)
    assert all(row["reason"] == "macs" for row in rows if row["status"] == "rejected" and row["macs"])
    for row in accepted:
        report = archspec.check(regnet_run / row["file"])
        assert report.ok
        assert (report.params, report.macs, report.memory.total) == (row["params"], row["macs"], row["memory"])
    files = {p.name for p in regnet_run.glob("sample-*.yaml")}
    assert files == {row["file"] for row in accepted}


def test_a_sample_is_the_same_drawn_alone():
    sampler = Sampler(SPACES / "anynet_x.yaml", 11)
    together = sampler.run(6)
    alone = Sampler(SPACES / "anynet_x.yaml", 11).sample(5)
    assert alone.values == together[5].values and alone.params == together[5].params


def test_anynet_samples_meet_the_constraint_and_build():
    import torch

    for sample in Sampler(SPACES / "anynet_x.yaml", 0).run(5):
        widths = [sample.values[f"vars.w{i}"] for i in range(1, 5)]
        assert widths == sorted(widths)
        if sample.status == "accepted":
            with torch.device("meta"):
                built = archspec.compile(archspec.load(archspec.loader.dump(sample.data)))
            assert sum(p.numel() for p in built.parameters()) == sample.params


def test_budgets_reject_with_their_reason_and_the_summary_counts_them(tmp_path):
    result = _run(SPACES / "regnet_x.yaml", tmp_path / "out", "-n", "12", "--max-params", "1")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert {row["status"] for row in rows} == {"rejected"}
    params = sum(1 for row in rows if row["reason"] == "params")
    assert "sampled 12, accepted 0, rejected 12" in result.stdout
    assert f"params: {params}" in result.stdout
    assert result.stderr == ""  # not a terminal: no progress bar
    assert not list((tmp_path / "out").glob("sample-*.yaml"))


def test_a_sample_the_check_refuses_is_rejected_with_its_reason(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("""name: t
input: {channels: 3, size: {choice: [2, 16]}}
stem: [{layer: conv, width: 8, kernel: 5}]
head: [{layer: global_avgpool}, {layer: flatten}, {layer: linear, width: 10}]
""")
    samples = Sampler(space, 0).run(20)
    sizes = {sample.values["input.size"]: sample for sample in samples}
    assert sizes[2].status == "rejected" and sizes[2].reason == "check" and sizes[2].params is None
    assert sizes[16].status == "accepted" and sizes[16].params == 3 * 8 * 25 + 8 + 8 * 10 + 10


def test_a_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = _run(SPACES / "regnet_x.yaml", tmp_path, "-n", "2", "--overwrite")
    assert result.returncode == 2 and "notes.txt" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_folder_under_a_file_is_refused_before_sampling(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = _run(SPACES / "regnet_x.yaml", tmp_path / "notes.txt" / "run", "-n", "2")
    assert result.returncode == 2 and "Traceback" not in result.stderr  # was NotADirectoryError from mkdir
    assert "cannot create the folder" in result.stderr and "notes.txt is a file" in result.stderr


BASE = """name: t
input: {{channels: 3, size: 32}}
vars:
  w: {{int: [8, 64, 8]}}
{extra}stem: [{{layer: conv, width: "${{w}}", kernel: 3, padding: 1}}]
stages:
  - {{block: basic, width: 16, repeats: 1, stride: {stride}}}
head: [{{layer: global_avgpool}}, {{layer: flatten}}, {{layer: linear, width: 10}}]
"""


@pytest.mark.parametrize(("stride", "extra", "line", "words"), [
    ("{float: [1, 2]}", "", 7, "integer"),
    ("{int: [3, 1]}", "", 7, "empty range"),
    ("{log_int: [0, 4]}", "", 7, "lo > 0"),
    ("{choice: []}", "", 7, "non-empty list"),
    ("{int: [1, 2], step: 1}", "", 7, "one key"),
    ("{int: [1, 2], choice: [1]}", "", 7, "found `choice` beside it"),  # two kinds: was a StopIteration
    ("1", "  f: {float: [-1e308, 1e308]}\n", 5, "within +-2**40"),  # drew infinity
    ("{log_int: [1, 1" + "0" * 400 + "]}", "", 7, "within +-2**40"),  # exp() overflowed
    ("1", "  f: {float: [0.5, 2.0, 1e-320]}\n", 5, "a larger step"),  # 0.5 / 1e-320 overflowed
    ("1", "constraints: [\"${w > 64}\"]\n", 5, f"no draw of {MAX_TRIES:,}"),
    ("1", "constraints: [\"${w + 1}\"]\n", 5, "true or false"),
    ("1", "constraints: [\"w > 8\"]\n", 5, "expression"),
])
def test_bad_spaces_get_located_errors(tmp_path, stride, extra, line, words):
    space = tmp_path / "space.yaml"
    space.write_text(BASE.format(stride=stride, extra=extra))
    with pytest.raises(SpecError) as caught:
        Sampler(space, 0).run(3)
    error = caught.value.errors[0]
    assert (error.file, error.line) == (str(space), line)
    assert words in error.message
    result = _run(space, tmp_path / "out", "-n", "3")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize(("fields", "words"), [
    ("{w0: 20, wa: 8, wm: 2, depth: 10, group_width: 8}", "multiple of 8"),
    ("{w0: 24, wa: 8, wm: 1, depth: 10, group_width: 8}", "greater than 1"),
    ("{w0: 24, wa: 8, wm: 2, depth: 10, group_widht: 8}", "did you mean `group_width`"),
])
def test_bad_generators_get_located_errors(tmp_path, fields, words):
    space = tmp_path / "space.yaml"
    space.write_text(SPACE_400MF.replace("{w0: 24, wa: 24.48, wm: 2.54, depth: 22, group_width: 16}", fields))
    with pytest.raises(SpecError) as caught:
        Sampler(space, 0).sample(0)
    error = caught.value.errors[0]
    assert error.line == 10 and words in (error.message + str(error.hint))
