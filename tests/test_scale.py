"""Scaling (archspec/scale.py, `archspec scale`, `scales:` and `--scale NAME`): EfficientNet's rounding
rules, the widths that scale and the one that does not (the output), the file rewritten in place with
its comments, named scales on every command, and every bad request a located error."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from torchvision.models._utils import _make_divisible
from torchvision.models.efficientnet import MBConvConfig, _efficientnet_conf

import archspec
from archspec.cli import main
from archspec.scale import Scale, changes, factor, scaled_repeats, scaled_width
from conftest import SPECS

RESNET50 = SPECS / "resnet50.yaml"
FACTORS = ["0.25", "0.33", "0.5", "0.67", "0.75", "1", "1.1", "1.2", "1.4", "1.6", "1.8", "2", "2.2", "2.6", "3.1"]

SCALED_SPEC = """\
# a small network with named scales
name: small
input: {channels: 3, size: 32}
scales:
  n: {depth: 0.33, width: 0.25}   # the smallest
  s: {depth: 0.5, width: 0.5}
stem:
  - {layer: conv, width: 64, kernel: 3, padding: 1, bias: false}
  - {layer: batchnorm}
  - {layer: relu}
stages:
  - {block: basic, width: 64, repeats: 3}    # three blocks
  - {block: basic, width: 128, repeats: 4, stride: 2}
head:
  - {layer: global_avgpool}
  - {layer: flatten}
  - {layer: linear, width: 100}   # the classes: never scaled
"""

# EfficientNet-B0's widths and depths (torchvision's `_efficientnet_conf`) as archspec stages; the
# blocks are `basic` ones, since only the channel and repeat counts matter here.
B0_STAGES = [(16, 1), (24, 2), (40, 2), (80, 3), (112, 3), (192, 4), (320, 1)]
EFFICIENTNETS = {"b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4), "b4": (1.4, 1.8), "b5": (1.6, 2.2),
                 "b6": (1.8, 2.6), "b7": (2.0, 3.1)}


def b0_like() -> str:
    scales = "".join(f"  {name}: {{width: {w}, depth: {d}}}\n" for name, (w, d) in EFFICIENTNETS.items())
    stages = "".join(f"  - {{block: basic, width: {width}, repeats: {repeats}}}\n" for width, repeats in B0_STAGES)
    return ("name: b0_like\ninput: {channels: 3, size: 8}\nscales:\n" + scales +
            "stem:\n  - {layer: conv, width: 32, kernel: 3, padding: 1}\nstages:\n" + stages +
            "head:\n  - {layer: conv, width: 1280, kernel: 1}\n  - {layer: global_avgpool}\n"
            "  - {layer: flatten}\n  - {layer: linear, width: 1000}\n")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SCALED_SPEC, encoding="utf-8")
    return path


# ---- the rounding rules -----------------------------------------------------------------------

def test_widths_round_as_torchvisions_make_divisible():
    disagree = []
    for channels in range(1, 700, 3):
        for text in FACTORS:
            for divisor in (1, 4, 8, 16):
                ours = scaled_width(channels, factor(text), divisor)
                assert ours % divisor == 0 and ours >= divisor
                if ours != _make_divisible(channels * float(text), divisor):
                    disagree.append((channels, text))
    # Only where torchvision's float product misses the exact one: 340 x 1.4 = 475.99999999999994.
    assert all(float(channels * Fraction(text)) != channels * float(text) for channels, text in disagree)
    assert len(disagree) < 10 and scaled_width(340, factor("1.4")) == 480


def test_repeats_round_up_as_torchvisions_adjust_depth():
    disagree = []
    for repeats in range(1, 60):
        for text in FACTORS:
            ours = scaled_repeats(repeats, factor(text))
            assert ours == max(1, math.ceil(repeats * Fraction(text)))
            if ours != MBConvConfig.adjust_depth(repeats, float(text)):
                disagree.append((repeats, text))
    # Only where the float product lands just above a whole number: 50 x 1.1 = 55.00000000000001.
    assert all(float(repeats * Fraction(text)) != repeats * float(text) for repeats, text in disagree)
    assert (50, "1.1") in disagree and scaled_repeats(50, factor("1.1")) == 55


def test_a_width_never_rounds_to_zero():
    assert scaled_width(4, factor("0.1")) == 8
    assert scaled_width(3, factor("0.01"), 1) == 1


@pytest.mark.parametrize("name", sorted(EFFICIENTNETS))
def test_scaling_b0_gives_torchvisions_efficientnet_widths_and_depths(tmp_path: Path, name: str):
    path = tmp_path / "b0.yaml"
    path.write_text(b0_like(), encoding="utf-8")
    width, depth = EFFICIENTNETS[name]
    setting, _ = _efficientnet_conf(f"efficientnet_{name}", width_mult=width, depth_mult=depth)
    spec = archspec.load(path, scale=name)
    assert [(stage.width, stage.repeats) for stage in spec.stages] == [
        (config.out_channels, config.num_layers) for config in setting]
    assert spec.stem[0].width == setting[0].input_channels  # torchvision's stem: the first block's input
    assert spec.head[0].width == 4 * setting[-1].out_channels  # its last conv: 4 x the last block's
    assert spec.head[-1].width == 1000  # the classifier is not scaled


# ---- what scales ------------------------------------------------------------------------------

def test_resnet50_at_half_depth_and_width(capsys: pytest.CaptureFixture[str]):
    code, out, err = run_cli(capsys, "scale", str(RESNET50), "--depth", "0.5", "--width", "0.5")
    assert code == 0, err
    original = RESNET50.read_text()
    comments = [line[line.index("#"):] for line in original.splitlines() if "#" in line]
    assert comments and all(comment in out for comment in comments)
    assert len(out.splitlines()) == len(original.splitlines())
    scaled = archspec.load(out)
    assert [(s.width, s.repeats) for s in scaled.stages] == [(32, 2), (64, 2), (128, 3), (256, 2)]
    assert scaled.stem[0].width == 32 and scaled.head[-1].width == 1000
    report = archspec.check(scaled)
    assert report.ok and report.output_shape == archspec.check(archspec.load(RESNET50)).output_shape
    assert report.params < archspec.check(archspec.load(RESNET50)).params / 3


def test_inception_scales_its_channel_fields_and_recomputes_its_total(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]):
    code, out, err = run_cli(capsys, "scale", str(SPECS / "googlenet.yaml"), "--width", "0.5")
    assert code == 0, err
    original, scaled = archspec.load(SPECS / "googlenet.yaml"), archspec.load(out)
    first, scaled_first = original.stages[0].blocks[0], scaled.stages[0].blocks[0]
    assert (scaled_first.c1, scaled_first.c2, scaled_first.c3, scaled_first.c4) == (
        scaled_width(first.c1, Fraction(1, 2)), tuple(scaled_width(c, Fraction(1, 2)) for c in first.c2),
        tuple(scaled_width(c, Fraction(1, 2)) for c in first.c3), scaled_width(first.c4, Fraction(1, 2)))
    assert archspec.check(scaled).ok  # the anchored block and those merging it scaled alike
    path = tmp_path / "total.yaml"
    path.write_text("name: t\ninput: {channels: 3, size: 8}\nstages:\n"
                    "  - {blocks: [{block: inception, c1: 64, c2: [96, 128], c3: [16, 32], c4: 32, width: 256}]}\n"
                    "head:\n  - {layer: global_avgpool}\n  - {layer: flatten}\n  - {layer: linear, width: 10}\n")
    code, out, err = run_cli(capsys, "scale", str(path), "--width", "0.5")
    assert code == 0, err
    assert archspec.load(out).stages[0].blocks[0].width == 128


def test_the_output_keeps_its_width_when_no_linear_layer_sets_it():
    spec = archspec.load(SPECS / "nin.yaml")
    data = spec.model_dump(mode="json", exclude_none=True)
    found = {change.path: change.new for change in changes(data, Scale(width=Fraction(1, 2)))}
    assert found[("stages", 0, "width")] == 48 and ("stages", 7, "width") not in found  # its 10 classes


def test_named_scale_on_check_equals_the_written_scaled_spec(small: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]):
    code, out, _ = run_cli(capsys, "check", str(small), "--scale", "s", "--json")
    assert code == 0
    checked = json.loads(out)
    target = tmp_path / "small-s.yaml"
    assert run_cli(capsys, "scale", str(small), "--scale", "s", "-o", str(target))[0] == 0
    code, out, _ = run_cli(capsys, "check", str(target), "--json")
    assert json.loads(out)["params"] == checked["params"] != json.loads(
        run_cli(capsys, "check", str(small), "--json")[1])["params"]
    assert "# the classes: never scaled" in target.read_text()
    code, out, err = run_cli(capsys, "compile", str(small), "--scale", "n", "--depth", "0")
    assert code == 0, err and "16x32x32" in out


def test_scale_applies_after_set_and_vars_and_stays_on_derived_specs(small: Path):
    spec = archspec.load(small, ["stages[0].width=96"], scale="s")
    assert spec.stages[0].width == 48 and spec.stages[0].repeats == 2
    derived = spec.with_overrides({"head[-1].width": 5})
    assert derived.stages[0].width == 48 and derived.head[-1].width == 5
    assert archspec.load(small, ["scales.s.width=2"], scale="s").stem[0].width == 128
    assert archspec.load(small).stages[0].width == 64  # `scales` alone changes nothing


def test_train_records_the_scale_and_eval_reuses_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = tmp_path / "digits.yaml"
    spec.write_text((SPECS / "digits-resnet.yaml").read_text() + "scales: {half: {width: 0.5}}\n")
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", str(spec), "--data", "digits", "--epochs", "1", "--out", str(run),
                           "--scale", "half")
    assert code == 0, err
    assert json.loads((run / "spec.resolved.json").read_text())["overrides"] == ["--scale=half"]
    code, _, err = run_cli(capsys, "eval", str(spec), "--checkpoint", str(run / "last.pt"), "--json")
    assert code == 0, err  # the unscaled network would not take these weights


# ---- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--depth", "0"], ["--width", "-1"], ["--width", "abc"], ["--width", "nan"],
                                  ["--divisor", "0"], []])
def test_bad_factors_are_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]):
    target = tmp_path / "out.yaml"
    try:
        code = main(["scale", str(RESNET50), *argv, "-o", str(target)])
    except SystemExit as exit_info:  # argparse refused the value
        code = exit_info.code
    assert code == 2 and not target.exists()
    assert "error" in capsys.readouterr().err


def test_an_unknown_scale_name_is_located_and_lists_the_names(small: Path, capsys: pytest.CaptureFixture[str]):
    code, _, err = run_cli(capsys, "check", str(small), "--scale", "m")
    assert code == 2
    assert f"{small}:4:1" in err and "n, s" in err and "--scale m" in err
    code, _, err = run_cli(capsys, "check", str(RESNET50), "--scale", "m")
    assert code == 2 and "no scale `m`" in err and "scales:" in err


def test_bad_scales_are_all_reported_at_their_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "bad.yaml"
    path.write_text(SCALED_SPEC.replace("n: {depth: 0.33, width: 0.25}", "n: {depth: 0, widht: 0.25}")
                    .replace("  s: {depth: 0.5, width: 0.5}", "  s-2: {depth: 0.5}\n  m: {width: true}"))
    code, _, err = run_cli(capsys, "check", str(path))
    assert code == 2 and "4 errors" in err
    assert f"{path}:5:" in err and "did you mean `width`" in err.lower() and "s-2" in err and "true" in err.lower()


def test_an_invalid_scaled_spec_is_reported_and_nothing_is_written(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "out.yaml"
    code, _, err = run_cli(capsys, "scale", str(SPECS / "resnext50_32x4d.yaml"), "--width", "0.125", "-o",
                           str(target))
    assert code == 2 and not target.exists()
    assert "resnext50_32x4d.yaml:15:" in err and "after scaling by" in err


@pytest.mark.parametrize("name", ["nin", "googlenet", "googlenet-d2l"])
def test_repeats_left_at_their_default_are_written_in(capsys: pytest.CaptureFixture[str], name: str):
    code, out, err = run_cli(capsys, "scale", str(SPECS / f"{name}.yaml"), "--depth", "2")
    assert code == 0, err
    original, scaled = archspec.load(SPECS / f"{name}.yaml"), archspec.load(out)
    blocks = [(o, s) for o_stage, s_stage in zip(original.stages, scaled.stages, strict=True)
              for o, s in (zip(o_stage.blocks, s_stage.blocks, strict=True) if hasattr(o_stage, "blocks")
                           else [(o_stage, s_stage)]) if hasattr(o, "block")]
    assert blocks and all(s.repeats == 2 * o.repeats for o, s in blocks)
    assert out.count("\n") == (SPECS / f"{name}.yaml").read_text().count("\n")  # flow style: inserted inline


def test_repeats_are_written_into_a_block_style_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "block.yaml"
    path.write_text(SCALED_SPEC.replace("  - {block: basic, width: 64, repeats: 3}    # three blocks\n",
                                        "  - block: basic   # one block\n    width: 64\n"))
    code, out, err = run_cli(capsys, "scale", str(path), "--depth", "2")
    assert code == 0, err
    assert "  - block: basic\n    repeats: 2   # one block\n    width: 64\n" in out
    assert [stage.repeats for stage in archspec.load(out).stages] == [2, 8]


def test_expressions_are_refused_at_their_place(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "vars.yaml"
    path.write_text(SCALED_SPEC.replace("{block: basic, width: 64, repeats: 3}", "{block: basic, width: \"${w}\"}")
                    .replace("input:", "vars: {w: 64}\ninput:"))
    code, _, err = run_cli(capsys, "scale", str(path), "--width", "0.5", "--depth", "2")
    assert code == 2 and "1 error" in err
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if "${w}" in text)
    assert f"{path}:{line}:" in err and "`${w}` is an expression" in err and "--scale NAME" in err
    code, _, err = run_cli(capsys, "check", str(path), "--set", "scales.s.width=0.5", "--scale", "s")
    assert code == 0, err  # a named scale scales the resolved values


def test_a_value_shared_by_a_scaled_and_a_kept_place_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "alias.yaml"
    path.write_text(SCALED_SPEC.replace("width: 64, kernel: 3", "width: &w 100, kernel: 3")
                    .replace("{layer: linear, width: 100}", "{layer: linear, width: *w}"))
    target = tmp_path / "out.yaml"
    code, _, err = run_cli(capsys, "scale", str(path), "--width", "0.5", "-o", str(target))
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if "&w" in text)
    assert code == 2 and "anchor" in err and not target.exists()
    assert f"{path}:{line}:" in err and "head[2].width" in err and "not 100" in err


def test_a_key_written_beside_a_merge_is_located_at_its_own_value(tmp_path: Path):
    path = tmp_path / "merge.yaml"
    path.write_text(SCALED_SPEC.replace("  - {block: basic, width: 128, repeats: 4, stride: 2}",
                                        "  - &b {block: basic, width: 128, repeats: 4, stride: 2}\n"
                                        "  - {<<: *b, width: 128, repeats: 0, widht: 1}"))
    with pytest.raises(archspec.SpecError) as error:
        archspec.load(path)
    lines = path.read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "<<: *b" in text)
    found = {d.path[-1]: (d.line, d.column) for d in error.value.errors}
    assert found["repeats"] == (line, lines[line - 1].index("0,") + 1)
    assert found["widht"] == (line, lines[line - 1].index("widht") + 1)


def test_the_schema_accepts_scales_and_refuses_bad_ones():
    import jsonschema

    from archspec.commands.schema import schema_text
    from archspec.loader import load_document

    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    assert not list(validator.iter_errors(load_document(SCALED_SPEC).data))
    bad = load_document(SCALED_SPEC.replace("depth: 0.33", "depth: 0").replace("width: 0.5}", "widht: 0.5}")).data
    assert len(list(validator.iter_errors(bad))) == 2
