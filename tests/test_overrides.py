"""`vars`, `${...}` in spec fields, `--set PATH=VALUE` and `archspec.load(overrides=...)`: resolved
before validation, errors that name the override or sit at the expression, derived specs that are
always validated, and training runs that remember their overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archspec
from archspec.cli import main
from archspec.loader import Document
from conftest import SPECS

DIGITS = SPECS / "digits-resnet.yaml"

VARS_SPEC = """\
name: "net${depth}"
vars: {classes: 10, base: 16, depth: 18, wide: "${base * 2}"}
input: {channels: 1, size: 8}
stem:
  - {layer: conv, width: "${base}", kernel: 3, padding: 1}
stages:
  - {block: basic, width: "${wide}", repeats: 1, stride: 2}
head:
  - {layer: global_avgpool}
  - {layer: flatten}
  - {layer: linear, width: "${classes}"}
"""


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, _ = run_cli(capsys, "check", *argv, "--json")
    result = json.loads(out)
    assert code == (0 if result["ok"] else 2)
    return result


@pytest.fixture
def vars_spec(tmp_path: Path) -> Path:
    path = tmp_path / "vars.yaml"
    path.write_text(VARS_SPEC, encoding="utf-8")
    return path


# ---- --set on the command line --------------------------------------------------------------

def test_set_changes_the_checked_network(capsys: pytest.CaptureFixture[str]):
    plain = check_json(capsys, str(DIGITS))
    changed = check_json(capsys, str(DIGITS), "--set", "head[-1].width=7", "--set", "stages[1].repeats=3",
                         "--set", "input.size=16", "--set", "shortcut=A")
    assert plain["output_shape"] == [10] and changed["output_shape"] == [7]
    assert changed["input_shape"] == [1, 16, 16]
    written = (DIGITS.read_text().replace("width: 10}", "width: 7}")
               .replace("repeats: 1, stride: 2", "repeats: 3, stride: 2")
               .replace("size: 8}", "size: 16}").replace("shortcut: B", "shortcut: A"))
    assert archspec.check(archspec.load(written)).params == changed["params"]  # as if written in the file


def test_set_on_compile_and_export(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    code, out, _ = run_cli(capsys, "compile", str(DIGITS), "--set", "stages[0].repeats=2", "--depth", "0")
    plain = archspec.check(archspec.load(DIGITS)).params
    assert code == 0 and f"total: {plain:,} parameters" not in out
    assert f"{archspec.check(archspec.load(DIGITS, {'stages[0].repeats': 2})).params:,} parameters" in out
    target = tmp_path / "net.dot"
    assert run_cli(capsys, "export", str(DIGITS), "--set", "head[-1].width=3", "-o", str(target))[0] == 0
    assert "linear" in target.read_text() and "3" in target.read_text()


@pytest.mark.parametrize(("override", "message", "hint"), [
    ("stages[9].width=1", "--set stages[9].width=1: the spec has 2 stages", "indices run from 0 to 1"),
    ("head[-4].width=1", "--set head[-4].width=1: the head has 3 layers", None),
    ("inptu.size=3", "--set inptu.size=3: the spec has no `inptu`", "did you mean `input`?"),
    ("classs=3", "--set classs=3: `classs` is neither a var nor a key of the spec", None),
    ("stages.width=3", "--set stages.width=3: `stages` is a list: index it, e.g. `stages[0]`", None),
    ("name.first=3", "--set name.first=3: `name` is 'digits-resnet', not a mapping or a list", None),
    ("head[0]]=3", "--set head[0]]=3: expected a path such as", None),
    ("description=[1,", "--set description=[1,: the value is not valid YAML", "quote it"),
])
def test_a_bad_override_is_named(capsys: pytest.CaptureFixture[str], override: str, message: str,
                                 hint: str | None):
    result = check_json(capsys, str(DIGITS), "--set", override)
    [error] = result["errors"]
    assert error["message"].startswith(message) and error["file"] == str(DIGITS)
    if hint is not None:
        assert hint in error["hint"]


def test_a_bad_value_names_the_override_and_every_error_is_reported(capsys: pytest.CaptureFixture[str]):
    code, _, err = run_cli(capsys, "check", str(DIGITS), "--set", "head[-1].width=-1", "--set", "shortcut=Z",
                           "--set", "stages[1].widht=3", "--set", "stages[7].width=1")
    assert code == 2 and "Traceback" not in err
    assert "error: head[2].width: --set head[-1].width=-1: expected >= 1, found -1" in err
    assert "error: shortcut: --set shortcut=Z: expected 'A', 'B'" in err
    # The stage already has `width`: an override means to change it, so that is the key to suggest.
    assert ("--set stages[1].widht=3: unknown key `widht`\n  hint: did you mean `width`, which the spec has there?"
            in err)
    assert "--set stages[7].width=1: the spec has 2 stages" in err
    assert err.rstrip().endswith("4 errors")


def test_a_value_that_is_not_unicode_text_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]):
    """A lone surrogate: what Python makes of command-line bytes that are not UTF-8 (`--set
    name=$'\\xff'`), or a Python string built from such bytes. libyaml cannot read it, and JSON
    cannot carry it into validation."""
    code, _, err = run_cli(capsys, "check", str(DIGITS), "--set", "name=a\udcff")
    assert code == 2 and "Traceback" not in err
    assert "--set name=a" in err and "found the character U+DCFF" in err and "remove the character" in err
    for overrides in ({"name": "x\ud800"}, {"stem[0].name": ["a", "b\udcff"]}):
        with pytest.raises(archspec.SpecError) as raised:
            archspec.load(DIGITS, overrides=overrides)
        [error] = raised.value.errors
        assert "expected Unicode text, found a string with a lone surrogate" in error.message
    with pytest.raises(archspec.SpecError) as raised:
        archspec.load(DIGITS).model_copy(update={"name": "q\ud800"})
    assert "model_copy(update=...)" in raised.value.errors[0].message
    with pytest.raises(archspec.SpecError) as raised:
        archspec.load('name: "a\udcffb"\n')
    [error] = raised.value.errors
    assert (error.line, error.column) == (1, 9) and "U+DCFF" in error.message


def test_a_network_error_after_an_override_is_placed_in_the_file(capsys: pytest.CaptureFixture[str]):
    """The value is fine but the network breaks: the place in the file, then which overrides applied."""
    result = check_json(capsys, str(DIGITS), "--set", "stem[0].kernel=11")
    [error] = result["errors"]
    line = next(number for number, text in enumerate(DIGITS.read_text().splitlines(), 1) if "layer: conv" in text)
    assert (error["path"], error["line"]) == ("stem[0].kernel", line)
    assert error["message"].endswith("(after --set stem[0].kernel=11)")


def test_set_needs_path_equals_value(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        main(["check", str(DIGITS), "--set", "shortcut"])
    assert exited.value.code == 2 and "expected PATH=VALUE" in capsys.readouterr().err


# ---- vars and expressions in a spec -------------------------------------------------------------

def test_vars_are_resolved_before_validation(vars_spec: Path):
    spec = archspec.load(vars_spec)
    assert spec.name == "net18" and spec.stem[0].width == 16 and spec.stages[0].width == 32
    assert spec.head[-1].width == 10
    assert "vars" not in spec.model_dump()  # the resolved network: vars are the file's business


def test_set_overrides_a_var_and_what_depends_on_it(capsys: pytest.CaptureFixture[str], vars_spec: Path):
    result = check_json(capsys, str(vars_spec), "--set", "classes=5", "--set", "base=8")
    assert result["output_shape"] == [5]
    spec = archspec.load(vars_spec, overrides={"classes": 5, "base": 8})
    assert (spec.stem[0].width, spec.stages[0].width, spec.head[-1].width) == (8, 16, 5)
    assert archspec.load(vars_spec, overrides=["vars.base=4"]).stages[0].width == 8


def test_an_expression_error_is_at_its_string(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(VARS_SPEC.replace('width: "${base}"', 'width: "${bse}"')
                    .replace('width: "${wide}"', 'width: "${base / 3}"'), encoding="utf-8")
    with pytest.raises(archspec.SpecError) as refused:
        archspec.load(path)
    unknown, fraction = refused.value.errors  # one error each: no echo from the validator
    text = path.read_text().splitlines()
    assert (unknown.path, unknown.line) == (("stem", 0, "width"), 5)
    assert "unknown name `bse`" in unknown.message and unknown.hint == "did you mean `base`?"
    assert unknown.column == text[4].index("bse") + 1  # the caret under the name
    assert (fraction.path, fraction.line, fraction.column) == (("stages", 0, "width"), 7, text[6].index('"') + 1)
    assert "expected an integer" in fraction.message and "5.333" in fraction.message
    assert "`${base / 3}` gives 5.333" in fraction.hint and "//" in fraction.hint


def test_var_errors(tmp_path: Path):
    path = tmp_path / "vars.yaml"
    path.write_text(VARS_SPEC.replace('wide: "${base * 2}"', 'wide: "${loop + 1}", loop: "${wide}", bad: [1]'),
                    encoding="utf-8")
    with pytest.raises(archspec.SpecError) as refused:
        archspec.load(path)
    [cycle, bad] = refused.value.errors  # stages[0].width uses the cycle: no second error for it
    assert cycle.path == ("vars", "wide") and "`wide` refers to itself: wide -> loop -> wide" in cycle.message
    assert bad.path == ("vars", "bad") and "found a list" in bad.message


def test_an_error_from_an_overridden_var_says_so(vars_spec: Path):
    with pytest.raises(archspec.SpecError) as refused:
        archspec.load(vars_spec, overrides=["classes=0"])
    [error] = refused.value.errors
    assert (error.path, error.line) == (("head", 2, "width"), 11)
    assert error.message == "expected >= 1, found 0 (after --set classes=0)"


def test_a_spec_without_vars_or_overrides_takes_the_plain_path():
    """Nothing to resolve: the document goes straight to validation, as before."""
    assert type(archspec.load(DIGITS).document) is Document


# ---- Python: load(overrides=...) and derived specs --------------------------------------------

def test_python_overrides_equal_the_command_line_ones():
    assert archspec.load(DIGITS, overrides={"head[-1].width": 7, "stages[1]": {"block": "basic", "width": 8}}) == \
        archspec.load(DIGITS, overrides=["head[-1].width=7", "stages[1]={block: basic, width: 8}"])
    with pytest.raises(archspec.SpecError, match=r"override head\[-1\].width=nan: expected a finite number"):
        archspec.load(DIGITS, overrides={"head[-1].width": float("nan")})
    with pytest.raises(TypeError, match="a mapping"):
        archspec.load(DIGITS, overrides="head[-1].width=7")


def test_with_overrides_derives_a_validated_spec(vars_spec: Path):
    spec = archspec.load(vars_spec)
    derived = spec.with_overrides({"classes": 3})  # through the vars of the source
    assert derived.head[-1].width == 3 and spec.head[-1].width == 10
    assert derived.with_overrides(["base=4"]).head[-1].width == 3  # earlier overrides are kept
    with pytest.raises(archspec.SpecError, match=r"override head\[-1\].width=-5: expected >= 1"):
        spec.with_overrides({"head[-1].width": -5})
    plain = archspec.load(DIGITS).with_overrides({"stages[0].repeats": 2})
    assert plain.stages[0].repeats == 2


def test_model_copy_can_no_longer_make_an_invalid_spec():
    spec = archspec.load(DIGITS)
    from pydantic import BaseModel

    broken_layer = BaseModel.model_copy(spec.head[-1], update={"width": -5})  # Pydantic's own: unvalidated
    with pytest.raises(archspec.SpecError, match="expected >= 1, found -5"):
        spec.model_copy(update={"head": (*spec.head[:-1], broken_layer)})
    with pytest.raises(archspec.SpecError, match="`nmae` is neither a var nor a key of the spec"):
        spec.model_copy(update={"nmae": "x"})
    renamed = spec.model_copy(update={"name": "renamed", "input": {"channels": 1, "size": 16}})
    assert renamed.name == "renamed" and archspec.check(renamed).input_shape == (1, 16, 16)
    assert spec.model_copy() == spec and spec.model_copy(deep=True) == spec
    with pytest.raises(TypeError, match="skip validation"):
        archspec.Spec.model_construct(name="x")


def test_no_part_of_a_spec_can_be_copied_or_constructed_without_validation():
    from pydantic import ValidationError

    spec = archspec.load(DIGITS)
    parts = [spec.head[-1], spec.stages[0], spec.input]
    for part in parts:
        field = next(name for name in ("width", "channels") if name in type(part).model_fields)
        with pytest.raises(ValidationError) as refused:
            part.model_copy(update={field: -5})
        assert [error["loc"] for error in refused.value.errors()] == [(field,)]
        assert getattr(part.model_copy(update={field: 7}), field) == 7
        assert part.model_copy() == part
        with pytest.raises(TypeError, match="skip validation"):
            type(part).model_construct(**{field: -5})
    narrower = spec.head[-1].model_copy(update={"width": 3})
    assert narrower.model_fields_set == spec.head[-1].model_fields_set  # defaults stay defaults
    rebuilt = archspec.Spec(name="copied", input=spec.input, stem=spec.stem, stages=spec.stages,
                            head=(*spec.head[:-1], narrower))
    assert archspec.check(rebuilt).output_shape == (3,)


# ---- training remembers its overrides ---------------------------------------------------------

@pytest.mark.usefixtures("one_thread")
def test_train_records_overrides_and_eval_and_export_reuse_them(capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path):
    run = tmp_path / "run"
    overrides = ["stages[1].width=48", "stem[0].width=16"]
    code, _, err = run_cli(capsys, "train", str(DIGITS), "--data", "digits", "--epochs", "1", "--out", str(run),
                           *(part for text in overrides for part in ("--set", text)))
    assert code == 0, err
    resolved = json.loads((run / "spec.resolved.json").read_text())
    assert resolved["overrides"] == overrides and resolved["spec"]["stages"][1]["width"] == 48
    assert (run / "spec.yaml").read_text() == DIGITS.read_text()  # the file as written
    import torch

    checkpoint = torch.load(run / "last.pt", weights_only=True)
    assert checkpoint["config"]["overrides"] == overrides

    code, out, err = run_cli(capsys, "eval", str(DIGITS), "--checkpoint", str(run / "last.pt"), "--json")
    assert code == 0, err  # the plain spec's network would not take these weights
    last_epoch = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert json.loads(out)["accuracy"] == pytest.approx(last_epoch["test_acc"])

    target = tmp_path / "net.py"
    code, _, err = run_cli(capsys, "export", str(DIGITS), "--weights", str(run / "last.pt"), "-o", str(target))
    assert code == 0, err
    assert torch.load(target.with_suffix(".pt"), weights_only=True)["layer2.0.conv1.weight"].shape[0] == 48

    resume = ["train", str(DIGITS), "--data", "digits", "--out", str(run), "--resume"]
    code, _, err = run_cli(capsys, *resume, "--epochs", "2")  # no --set: the recorded ones, again
    assert code == 0, err
    assert torch.load(run / "last.pt", weights_only=True)["config"]["overrides"] == overrides
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2 and "changed settings" not in err
    for other in (["--set", "stages[1].width=32"], ["--set", overrides[0]], ["--scale", "s"]):
        code, _, err = run_cli(capsys, *resume, "--epochs", "3", *other)
        assert code == 2 and "Traceback" not in err
        assert f"--set {overrides[0]} --set {overrides[1]}" in err and " ".join(other) in err, err
    code, _, err = run_cli(capsys, *resume, "--epochs", "3", *(part for text in overrides for part in ("--set", text)))
    assert code == 0, err  # the same overrides, repeated: accepted
