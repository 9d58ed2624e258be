"""The public interfaces of issue 2: the Python API (load, check, compile, SpecError) and the command line,
both as `python -m archspec` in a fresh process and as the `archspec` console-script function."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from torch import nn

import archspec
from archspec.cli import main as console_main
from conftest import ROOT, SPECS

RESNET18 = SPECS / "resnet18.yaml"
CIFAR = SPECS / "resnet20-cifar.yaml"

# Identity shortcuts where stages[1] halves the size and doubles the width: the static check must refuse.
IDENTITY_ACROSS_STRIDE = """\
name: identity-across-stride
input: {channels: 3, size: 32}
shortcut: B
stem:
  - {layer: conv, width: 16, padding: 1, bias: false}
stages:
  - {block: basic, width: 16, repeats: 1, stride: 1}
  - {block: basic, width: 32, repeats: 2, stride: 2, shortcut: identity}
head:
  - {layer: global_avgpool}
  - {layer: flatten}
  - {layer: linear, width: 10}
"""

# Four validation errors on four lines, written out of the order the spec's fields are declared in.
MANY_ERRORS = """\
name: many-errors
input: {channels: 3, size: 32}
head:
  - {layer: global_avgpol}
stem:
  - {layer: conv, width: 16, colour: red}
stages:
  - {block: basic, width: 16, repeats: 2, stride: 0}
  - {block: basic, width: -32, repeats: 2, stride: 2}
"""
MANY_ERRORS_PATHS = ["head[0].layer", "stem[0].colour", "stages[0].stride", "stages[1].width"]


def _archspec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archspec", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def _write(tmp_path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- Python API -------------------------------------------------------------------------------------

def test_load_from_path_and_from_text_give_the_same_spec() -> None:
    from_path = archspec.load(CIFAR)
    from_str_path = archspec.load(str(CIFAR))
    from_text = archspec.load(CIFAR.read_text(encoding="utf-8"))
    assert isinstance(from_path, archspec.Spec) and from_path.name == "resnet20-cifar"
    assert from_path.model_dump() == from_str_path.model_dump() == from_text.model_dump()
    assert from_path.document.file == str(CIFAR) and from_text.document.file is None


def test_check_reports_the_static_figures() -> None:
    report = archspec.check(archspec.load(RESNET18))
    assert report.ok and report.errors == ()
    assert (report.input_shape, report.output_shape) == ((3, 224, 224), (1000,))
    assert (report.params, report.macs) == (11_689_512, 1_814_073_344)
    assert report.to_json()["params"] == 11_689_512
    smaller = archspec.check(RESNET18, (3, 64, 64))  # a path works too; MACs scale with the input
    assert smaller.ok and smaller.params == report.params and smaller.macs < report.macs


def test_compile_returns_a_module_matching_the_check() -> None:
    network = archspec.compile(CIFAR)
    assert isinstance(network, nn.Module)
    assert sum(p.numel() for p in network.parameters()) == 269_722
    assert [name for name, _ in network.named_children()] == \
        ["conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "flatten", "fc"]


def test_spec_error_is_a_value_error_with_located_errors() -> None:
    with pytest.raises(ValueError) as caught:
        archspec.load(MANY_ERRORS)
    error = caught.value
    assert isinstance(error, archspec.SpecError)
    assert [d.path_text for d in error.errors] == MANY_ERRORS_PATHS  # all of them, sorted by line
    assert [d.line for d in error.errors] == [4, 6, 8, 9]
    stride = error.errors[2]
    assert stride.column == MANY_ERRORS.splitlines()[7].index("0") + 1
    assert "found 0" in stride.message and ">= 1" in stride.message
    assert "global_avgpool" in error.errors[0].hint  # did you mean
    assert "stages[0].stride" in str(error)


def test_compile_raises_spec_error_for_a_spec_that_fails_the_check() -> None:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.compile(IDENTITY_ACROSS_STRIDE)
    assert [d.path_text for d in caught.value.errors] == ["stages[1].shortcut"]


def test_identity_shortcut_across_a_stride_is_refused_statically() -> None:
    report = archspec.check(IDENTITY_ACROSS_STRIDE)
    assert not report.ok and report.output_shape is None
    (error,) = report.errors  # one per stage, not one per repeated block
    assert error.path_text == "stages[1].shortcut"
    assert error.line == 8  # the stage's line
    assert "32x16x16" in error.message and "16x32x32" in error.message  # main path vs shortcut
    assert "stride 2" in error.hint and "shortcut A or B" in error.hint


def test_check_reports_every_shape_error_sorted_by_line() -> None:
    text = IDENTITY_ACROSS_STRIDE.replace(
        "  - {block: basic, width: 32, repeats: 2, stride: 2, shortcut: identity}\n",
        "  - {block: basic, width: 32, repeats: 2, stride: 2, shortcut: identity}\n"
        "  - {block: basic, width: 64, repeats: 1, stride: 2, shortcut: identity}\n")
    report = archspec.check(text)
    assert [(d.line, d.path_text) for d in report.errors] == \
        [(8, "stages[1].shortcut"), (9, "stages[2].shortcut")]


# ---- command line, in a fresh process ---------------------------------------------------------------

def test_cli_check_prints_the_table() -> None:
    result = _archspec("check", CIFAR)
    assert result.returncode == 0, result.stderr
    assert "layer3.0" in result.stdout and "64x8x8" in result.stdout
    assert "total: 269,722 parameters, 40,551,040 MACs" in result.stdout


def test_cli_check_json_and_no_torch_import() -> None:
    code = ("import sys; from archspec.cli import main; code = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'check imported torch'; sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, "check", str(RESNET18), "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["errors"] == []
    assert (data["output_shape"], data["params"], data["macs"]) == ([1000], 11_689_512, 1_814_073_344)


def test_cli_compile_check_shapes() -> None:
    result = _archspec("compile", CIFAR, "--check-shapes", "--input", "3x40x40")
    assert result.returncode == 0, result.stderr
    assert "shapes verified" in result.stdout and "64x10x10" in result.stdout


def test_cli_bad_spec_exits_2_with_located_errors_and_no_traceback(tmp_path) -> None:
    path = _write(tmp_path, MANY_ERRORS)
    result = _archspec("compile", path)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    for line, path_text in zip([4, 6, 8, 9], MANY_ERRORS_PATHS):
        assert f"{path}:{line}:" in result.stderr and path_text in result.stderr
    assert "4 errors" in result.stderr


def test_cli_bad_input_exits_2_without_traceback() -> None:
    result = _archspec("check", RESNET18, "--input", "3x224")
    assert result.returncode == 2
    assert "CHANNELSxHEIGHTxWIDTH" in result.stderr and "Traceback" not in result.stderr


# ---- the `archspec` console script ------------------------------------------------------------------

def test_console_script_points_at_the_cli_main() -> None:
    # a regex, not tomllib: the project supports Python 3.10, which has no tomllib
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    scripts = re.search(r"^\[project\.scripts\]\n(.*?)(?:^\[|\Z)", pyproject, re.MULTILINE | re.DOTALL)
    assert scripts and re.search(r'^archspec\s*=\s*"archspec\.cli:main"', scripts.group(1), re.MULTILINE)


def test_console_check_json_reports_errors(tmp_path, capsys) -> None:
    path = _write(tmp_path, IDENTITY_ACROSS_STRIDE)
    assert console_main(["check", str(path), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["params"] is None and data["output_shape"] is None
    (error,) = data["errors"]
    assert (error["path"], error["line"], error["file"]) == ("stages[1].shortcut", 8, str(path))
    assert isinstance(error["column"], int) and "residual addition" in error["message"]


def test_console_check_json_reports_every_validation_error(tmp_path, capsys) -> None:
    path = _write(tmp_path, MANY_ERRORS)
    assert console_main(["check", str(path), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["macs"] is None
    assert [(e["path"], e["line"]) for e in data["errors"]] == list(zip(MANY_ERRORS_PATHS, [4, 6, 8, 9]))
    assert all(isinstance(e["column"], int) and e["message"] for e in data["errors"])


def test_console_check_and_compile_succeed(capsys) -> None:
    assert console_main(["check", str(RESNET18)]) == 0
    assert "11,689,512 parameters" in capsys.readouterr().out
    assert console_main(["compile", str(CIFAR), "--check-shapes"]) == 0
    assert "shapes verified" in capsys.readouterr().out


def test_console_bad_input_and_bad_spec_exit_2(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:  # argparse's own exit, with code 2 and a usage line
        console_main(["check", str(RESNET18), "--input", "0x1x1"])
    assert caught.value.code == 2
    assert "--input" in capsys.readouterr().err
    path = _write(tmp_path, "name: broken\n  input: {channels: 3, size: 32}\n")  # bad indentation
    assert console_main(["check", str(path)]) == 2
    assert f"{path}:2:8: error: invalid YAML" in capsys.readouterr().err
    assert console_main(["check", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read spec file" in capsys.readouterr().err


@pytest.mark.parametrize("rank", ["0", "1"])
def test_errors_under_torchrun_print_once(tmp_path, capsys, monkeypatch, rank) -> None:
    """Every torchrun process gets the same arguments and spec, so the same error: rank 0 prints it,
    the others exit 2 silently (two processes once printed every message twice)."""
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("LOCAL_RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", "2")
    path = _write(tmp_path, IDENTITY_ACROSS_STRIDE)
    with pytest.raises(SystemExit) as caught:  # argparse's own error
        console_main(["train", str(path), "--epochs", "zero"])
    assert console_main(["check", str(path)]) == 2  # a spec error
    assert console_main(["eval", str(path), "--checkpoint", str(tmp_path / "none.pt"), "--batch-size", "0"]) == 2
    errors = capsys.readouterr().err
    assert caught.value.code == 2
    if rank == "0":
        assert "--epochs" in errors and "residual addition" in errors and "--batch-size" in errors
    else:
        assert errors == ""


def test_a_stray_rank_variable_is_not_a_launch(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "3")  # set by some cluster environment, without torchrun's others
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert console_main(["check", str(_write(tmp_path, IDENTITY_ACROSS_STRIDE))]) == 2
    assert "residual addition" in capsys.readouterr().err


# ---- --input on a spec whose head depends on the input size ------------------------------------------

LENET = SPECS / "lenet.yaml"  # 1x28x28 -> ... -> 16x5x5 -> flatten -> fc1 (linear 120) -> ...


def test_input_that_changes_a_linear_layers_in_features_is_noted_in_the_table_and_json(capsys) -> None:
    # At 1x32x32 the second pool gives 16x6x6 = 576 features instead of 16x5x5 = 400: fc1 has
    # 576 * 120 + 120 = 69,240 parameters instead of 48,120, the network 61,706 + 21,120 = 82,826.
    note = ("at input 1x32x32, fc1's in_features is 576 instead of 400 at the spec's input 1x28x28: "
            "parameters differ from the spec's (82,826 instead of 61,706)")
    assert console_main(["check", str(LENET), "--input", "1x32x32"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"note: {note}"
    assert console_main(["check", str(LENET), "--input", "1x32x32", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["notes"] == [note] and data["params"] == 82_826
    assert archspec.check(LENET, (1, 32, 32)).notes == (note,)


def test_an_input_that_changes_only_the_channels_notes_the_parameters() -> None:
    # conv1 (7x7, 64 filters, no bias) loses 2 input channels: 2 * 64 * 49 = 6,272 weights.
    note = ("at input 1x64x64 instead of the spec's 3x224x224, parameters differ from the spec's "
            "(11,683,240 instead of 11,689,512)")
    assert archspec.check(RESNET18, (1, 64, 64)).notes == (note,)


@pytest.mark.parametrize("spec, shape", [(LENET, None), (LENET, (1, 28, 28)), (LENET, (1, 29, 31)),
                                         (RESNET18, (3, 64, 64))])
def test_no_note_where_the_parameters_are_the_specs(spec, shape) -> None:
    report = archspec.check(spec, shape)
    assert report.ok and report.notes == () and report.to_json()["notes"] == []


def test_json_has_the_same_keys_whether_it_passed_the_check_failed_or_loading_failed(tmp_path, capsys) -> None:
    runs = [[str(LENET), "--input", "1x32x32"], [str(_write(tmp_path, IDENTITY_ACROSS_STRIDE))],
            [str(_write(tmp_path, MANY_ERRORS, "many.yaml"))]]
    key_sets = []
    for args in runs:
        console_main(["check", *args, "--json"])
        key_sets.append(list(json.loads(capsys.readouterr().out)))
    assert key_sets[0] == key_sets[1] == key_sets[2] and "notes" in key_sets[0]


# ---- usage errors, --version, spec paths (issue 12, section 5) -------------------------------------

ERROR_OBJECT_KEYS = {"ok", "name", "input_shape", "output_shape", "params", "macs", "input_range",
                     "memory_bytes", "errors", "notes"}


def test_version_prints_the_package_version_without_importing_torch() -> None:
    code = ("import sys; from archspec.cli import main\ntry: main(['--version'])\n"
            "finally: assert 'torch' not in sys.modules, 'imported torch'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and result.stdout == f"archspec {archspec.__version__}\n", result.stderr


@pytest.mark.parametrize("command", [["check", str(RESNET18), "--json", "--depth", "x"],
                                     ["check", "--json"],
                                     ["check", str(RESNET18), "--js", "--colour"],
                                     ["eval", str(RESNET18), "--json"]])  # --checkpoint is required
def test_a_usage_error_with_json_prints_a_json_error_object(command, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        console_main(command)
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert caught.value.code == 2 and set(data) == ERROR_OBJECT_KEYS and data["ok"] is False
    (error,) = data["errors"]
    assert error["message"] and error["hint"].startswith("usage: archspec")
    assert captured.err == ""


def test_a_refused_request_with_json_prints_a_json_error_object(tmp_path, capsys) -> None:
    missing = tmp_path / "none.pt"
    assert console_main(["eval", str(RESNET18), "--checkpoint", str(missing), "--batch-size", "0",
                         "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert set(data) == ERROR_OBJECT_KEYS and "--batch-size must be at least 1" in data["errors"][0]["message"]


@pytest.mark.parametrize("depth", ["-5", "-1", "1.5", "one"])
def test_depth_must_be_a_whole_number_of_at_least_0(depth, capsys) -> None:
    for command in ("check", "compile"):
        with pytest.raises(SystemExit) as caught:
            console_main([command, str(CIFAR), "--depth", depth])
        assert caught.value.code == 2
        assert f"--depth: expected a whole number of at least 0, found '{depth}'" in capsys.readouterr().err
    assert console_main(["check", str(CIFAR), "--depth", "0"]) == 0
    assert "layer3 " in capsys.readouterr().out


@pytest.mark.parametrize("name", ["we:ird.yaml", "C:\\specs\\net.yaml", "a: b"])
def test_a_spec_path_with_a_colon_is_a_path(name, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert console_main(["check", name]) == 2  # missing: a clean error naming the file
    assert f"{name}: error: cannot read spec file" in capsys.readouterr().err
    (tmp_path / name).write_text(CIFAR.read_text(), encoding="utf-8")
    for command in (["check", name], ["compile", name], ["export", name, "-o", "net.dot"]):
        assert console_main(command) == 0, command
    assert "269,722 parameters" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["check", str(SPECS / "resnet18.yaml"), "--depth", "2"],
                                  ["check", str(SPECS / "resnet18.yaml"), "--json", "--set", "head[-1].width=-1"],
                                  ["blocks"]])
def test_a_reader_that_stops_reading_ends_the_command_quietly(argv: list[str]) -> None:
    """`archspec check SPEC | head -1`: the output's reader has gone before archspec writes (its end
    of the pipe closed here at once), so the first write fails; the command stops with exit 1 and no
    traceback, as Python's documentation recommends for a broken pipe."""
    process = subprocess.Popen([sys.executable, "-m", "archspec", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors


@pytest.mark.parametrize("argv", [["check", str(SPECS / "lenet.yaml")], ["gallery", str(SPECS)],
                                  ["completion", "bash"], ["blocks"], ["--version"], ["--help"],
                                  ["check", "--help"]])
@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_an_output_that_takes_nothing_more_is_one_line_not_a_traceback(argv: list[str], unbuffered: str) -> None:
    """`archspec check SPEC > /dev/full` (or a full disk): the write's OSError was a traceback; argparse's
    own `--version` and `--help` exited 0, their text lost, saying nothing (unbuffered: the write failed
    inside argparse, which ignores it; buffered: Python's flush at exit failed without a status)."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    if unbuffered:
        environment["PYTHONUNBUFFERED"] = unbuffered
    with open("/dev/full", "w") as full:
        process = subprocess.run([sys.executable, "-m", "archspec", *argv], check=False, cwd=ROOT, stdout=full,
                                 stderr=subprocess.PIPE, text=True, timeout=120, env=environment)
    assert process.returncode == 1
    assert process.stderr.startswith("archspec: error: cannot write the output: ")
    assert process.stderr.count("\n") == 1, process.stderr


@pytest.mark.parametrize("given", [(0, 1, 1), (3, -1, 5), (3, 5), "3x224x224", (3, 224, 224.0), (True, 8, 8),
                                   (3, 8, 70_000)])
def test_check_and_compile_refuse_an_input_that_is_not_an_image_shape(given: object) -> None:
    """`input=(0, 1, 1)` gave a report with ok True and output (1000,): a network of no channels."""
    spec = archspec.load(SPECS / "resnet18.yaml")
    for call in (archspec.check, archspec.compile):
        with pytest.raises(ValueError, match=r"input: expected \(channels, height, width\) in whole numbers") as raised:
            call(spec, given)  # type: ignore[arg-type]
        assert not isinstance(raised.value, archspec.SpecError) and repr(given) in str(raised.value)
    assert archspec.check(spec, [3, 64, 64]).output_shape == (1000,)  # a list is a shape too


@pytest.mark.parametrize("budget", [0, -1, 1.5, "4GiB"])
def test_check_refuses_a_memory_budget_that_is_not_a_positive_number_of_bytes(budget: object) -> None:
    with pytest.raises(ValueError, match="max_memory: expected a number of bytes above 0, or None"):
        archspec.check(archspec.load(SPECS / "resnet18.yaml"), max_memory=budget)  # type: ignore[arg-type]


@pytest.mark.parametrize(("source", "overrides", "message"), [
    (123, None, "expected a spec's path (str or pathlib.Path) or its YAML text (str), found int"),
    (b"name: x\n", None, "found bytes: decode bytes first"),
    (SPECS / "resnet18.yaml", [1], "overrides: expected 'PATH=VALUE' strings in the list, found 1"),
])
def test_load_names_an_argument_of_the_wrong_type(source: object, overrides: object, message: str) -> None:
    with pytest.raises(TypeError) as raised:
        archspec.load(source, overrides)  # type: ignore[arg-type]
    assert message in str(raised.value)
