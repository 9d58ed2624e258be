"""Edges of composing specs found by hunting: scale factors written as text, numbers too long to
read, hints that name where a value came from, and override paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_scale import SCALED_SPEC, run_cli

import archspec
from archspec.scale import factor


@pytest.mark.parametrize("text", ["1e400", "1e100000000", "1/2", "inf", "nan", "1e-400"])
def test_a_factor_given_as_text_is_read_as_a_number(text: str):
    # Fraction alone reads `1/2`, and computes 10**100000000 digit by digit (minutes) for `1e100000000`
    assert factor(text) is None
    assert factor("0.33") == factor(0.33) and factor(" 2 ") == 2


def test_a_huge_factor_on_the_command_line_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (spec := tmp_path / "small.yaml").write_text(SCALED_SPEC)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, "scale", str(spec), "--depth", "1e400")
    assert exit_info.value.code == 2 and "expected a positive number" in capsys.readouterr().err


def test_a_scale_factor_written_as_a_string_is_refused_once_at_its_place(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]):
    (spec := tmp_path / "small.yaml").write_text(SCALED_SPEC.replace(
        "s: {depth: 0.5, width: 0.5}", 's: {depth: "0.5", width: "${nope}", divisor: true}'))
    code, _, err = run_cli(capsys, "check", str(spec))
    assert code == 2 and "3 errors" in err  # as the schema: a number, not text that reads as one
    assert f'{spec}:6:14: error: scales.s.depth: expected a positive number, found "0.5"' in err
    assert "unknown name `nope`" in err and "found '${nope}'" not in err  # the expression's error only
    assert "scales.s.divisor: expected a whole number of at least 1, found true" in err


def test_an_integer_too_long_for_python_to_read_is_a_located_error(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]):
    digits = "9" * 5000  # Python reads at most 4,300 digits of an integer: PyYAML raised a bare ValueError
    (spec := tmp_path / "small.yaml").write_text(SCALED_SPEC.replace("size: 32", f"size: {digits}"))
    code, _, err = run_cli(capsys, "check", str(spec))
    assert code == 2 and "Traceback" not in err
    assert f"{spec}:3:28: error: input.size: the number is too long: 5,000 characters" in err
    (spec := tmp_path / "plain.yaml").write_text(SCALED_SPEC)
    code, _, err = run_cli(capsys, "check", str(spec), "--set", f"input.size={digits}")
    assert code == 2 and "--set input.size=" in err and "the number is too long" in err


@pytest.mark.parametrize("value", [10**5000, [1, -10**5000]], ids=["number", "list"])
@pytest.mark.parametrize("text", [SCALED_SPEC, SCALED_SPEC.replace("size: 32", 'size: "${16 * 2}"')],
                         ids=["plain", "expressions"])
def test_an_override_too_long_to_write_is_refused_naming_it(tmp_path: Path, value: object, text: str):
    (spec := tmp_path / "small.yaml").write_text(text)
    with pytest.raises(archspec.SpecError) as error:
        archspec.load(spec, overrides={"input.size": value})
    assert "override input.size=" in str(error.value) and "too long to write" in str(error.value)


def test_a_hint_says_what_the_expression_gave_before_the_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (spec := tmp_path / "small.yaml").write_text(SCALED_SPEC.replace("name: small\n", "name: small\nvars: {base: 64}\n")
                                                 .replace("width: 128", 'width: "${base * 2}"')
                                                 .replace("s: {depth: 0.5, width: 0.5}", "s: {width: 1000}"))
    code, _, err = run_cli(capsys, "check", str(spec), "--scale", "s")
    assert code == 2 and "stages[1].width: expected <= 65536, found 128000 (after --scale s)" in err
    assert "hint: `${base * 2}` gives 128, which the scale makes 128000" in err  # not "gives 128000"


@pytest.mark.parametrize("index", ["99999999999999999999", "-" + "9" * 5000])
def test_an_index_beyond_any_list_says_how_long_the_list_is(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            index: str):
    (spec := tmp_path / "small.yaml").write_text(SCALED_SPEC)
    code, _, err = run_cli(capsys, "check", str(spec), "--set", f"stages[{index}].width=8")
    assert code == 2 and f"--set stages[{index}].width=8: the spec has 2 stages" in err  # not "expected a path"


def test_a_scale_can_be_given_with_set_to_a_spec_without_scales(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scales = "scales:\n  n: {depth: 0.33, width: 0.25}   # the smallest\n  s: {depth: 0.5, width: 0.5}\n"
    (spec := tmp_path / "small.yaml").write_text(SCALED_SPEC.replace(scales, ""))
    given = ["--set", "scales={s: {depth: 0.5, width: 0.5}}", "--scale", "s"]
    code, out, err = run_cli(capsys, "check", str(spec), *given)
    assert code == 0, err  # `scales` is a key of the language: it was "neither a var nor a key of the spec"
    (spec := tmp_path / "named" / "small.yaml").parent.mkdir()
    spec.write_text(SCALED_SPEC)
    assert out == run_cli(capsys, "check", str(spec), "--scale", "s")[1]


@pytest.mark.parametrize("pattern", ["conv", "{index}", "x{index}{index}", "a.{index}.b"])
def test_a_copy_names_that_is_no_pattern_says_what_a_pattern_is(tmp_path: Path, pattern: str):
    stage = f'repeats: 3, copy_names: "{pattern}"}}'
    (spec := tmp_path / "small.yaml").write_text(SCALED_SPEC.replace("repeats: 3}", stage))
    with pytest.raises(archspec.SpecError) as error:
        archspec.load(spec)
    (found,) = error.value.errors  # was "expected a name of letters, digits and `_`" (which `conv` is) and a regex
    assert found.path == ("stages", 0, "copy_names") and "holds one `{index}`" in found.message
    assert f'found "{pattern}"' in found.message and "^(?:" not in found.message
