"""`archspec train` and `archspec eval` refusing what cannot run, before any file is written: the
command line's settings, a network that cannot train (no parameters, BatchNorm over one value)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import archspec
from archspec.cli import main
from archspec.commands import UsageError
from archspec.commands.train import augment_list
from archspec.train import loop, preflight
from conftest import SPECS

DIGITS_SPEC = SPECS / "digits-resnet.yaml"

pytestmark = pytest.mark.usefixtures("one_thread")


def wrong_head_spec(tmp_path: Path) -> str:
    spec = tmp_path / "digits-100.yaml"
    text = DIGITS_SPEC.read_text()
    spec.write_text(text.replace("{layer: linear, width: 10}", "{layer: linear, width: 100}"))
    return str(spec)


@pytest.mark.parametrize("case", ["unknown dataset", "wrong classes", "missing files", "out is a file",
                                  "out under a file", "nothing to resume", "run exists", "bad augment",
                                  "zero epochs", "no cuda", "batch too big", "run file is a FIFO",
                                  "negative seed", "seed too big", "infinite weight decay"])
def test_bad_requests_exit_2_with_one_clear_line(case, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    spec, data, extra = str(DIGITS_SPEC), "digits", []
    if case == "unknown dataset":
        data, expected = "digit", "unknown dataset 'digit'; expected one of: digits, mnist"
    elif case == "wrong classes":
        spec = wrong_head_spec(tmp_path)
        expected = "the network outputs 100 class scores, but digits has 10 classes"
    elif case == "missing files":
        data, expected = "fashion-mnist", f"4 files missing in {tmp_path / 'FashionMNIST' / 'raw'}"
        extra = ["--data-root", str(tmp_path)]
    elif case == "out is a file":
        out.write_text("not a directory")
        expected = "is a file, not a directory"
    elif case == "out under a file":
        (tmp_path / "file").write_text("")
        out, expected = tmp_path / "file" / "run", "is not writable"
    elif case == "nothing to resume":
        extra, expected = ["--resume"], "there is no"
    elif case == "run exists":
        out.mkdir()
        (out / "last.pt").write_bytes(b"")
        expected = "already holds a run (last.pt): pass --resume"
    elif case == "bad augment":
        extra, expected = ["--augment", "flip,crpo"], "unknown augmentation 'crpo'"
    elif case == "zero epochs":
        extra, expected = ["--epochs", "0"], "--epochs must be at least 1, found 0"
    elif case == "negative seed":  # numpy's generators refused it with a traceback
        extra, expected = ["--seed", "-1"], "--seed must be in [0, 4294967295], found -1"
    elif case == "seed too big":
        extra, expected = ["--seed", str(2**32)], f"--seed must be in [0, 4294967295], found {2**32}"
    elif case == "infinite weight decay":
        extra, expected = ["--weight-decay", "inf"], "--weight-decay must be finite, zero or positive, found inf"
    elif case == "no cuda":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        extra, expected = ["--device", "cuda"], "no CUDA GPU is available"
    elif case == "run file is a FIFO":
        out.mkdir()
        os.mkfifo(out / "metrics.jsonl")  # written through, it would block the run for ever
        expected = "cannot write metrics.jsonl there: it is a FIFO (named pipe), not a regular file"
    else:
        extra, expected = ["--batch-size", "5000"], "fewer than one batch of 5000"
    code = main(["train", spec, "--data", data, "--out", str(out), "--epochs", "1", *extra])
    captured = capsys.readouterr()
    assert code == 2 and expected in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and not (out.is_dir() and (out / "metrics.jsonl").is_file())
    if case == "wrong classes":  # a spec problem: located in the file, with what to do
        assert f"{spec}:22:" in captured.err and "head[2].width" in captured.err
        assert "hint: set the last layer's `width: 10`" in captured.err
    else:
        assert captured.err.startswith("archspec train: error: ") and captured.err.count("\n") == 1
    if case in ("unknown dataset", "wrong classes", "missing files", "bad augment", "batch too big"):
        assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize(("spec", "line", "where", "hint"), [
    # a conv classifier then a pool and a flatten: the flatten has no width to set
    ("squeezenet1_1", 25, "head[1].width", ("set `width: 10` on head[1], the head's last `width` "
                                           "(on the command line `--set head[1].width=10`)")),
    ("resnetv2_50", 23, "head[3].width", "`--set head[3].width=10`"),
    # the classifier's width is a var: that is what to change
    ("efficientnet_b0", 42, "head[3].width", "set the var `classes: 10` (on the command line `--set classes=10`)"),
])
def test_a_wrong_class_count_names_the_width_that_sets_it(spec, line, where, hint, tmp_path, capsys):
    """The hint said "set the last layer's `width: 10`" at a flatten, which has no width."""
    path = SPECS / f"{spec}.yaml"
    assert main(["train", str(path), "--data", "digits", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:{line}:") and f"error: {where}: the network outputs 1000 class scores" in err
    assert hint in err and not (tmp_path / "run").exists()
    fixed = hint.split("`--set ")[1].split("`")[0]
    assert archspec.check(archspec.load(path, [fixed])).output_shape == (10,)


@pytest.mark.parametrize("value", [",", "", "crop,,flip", "none,flip", "flip,"])
def test_augment_refuses_an_empty_name_or_none_beside_a_name(value, capsys):
    """`--augment ,` and `crop,,flip` were read as fewer augmentations, `none,flip` as flip, silently."""
    with pytest.raises(SystemExit) as exited:
        main(["train", str(DIGITS_SPEC), "--data", "digits", "--augment", value])
    assert exited.value.code == 2
    assert f"--augment: expected a comma-separated list of flip, crop, rotate (or `none` alone), found {value!r}" in \
        capsys.readouterr().err


def test_augment_none_alone_is_no_augmentation():
    assert augment_list("none") == () and augment_list(" crop , flip") == ("crop", "flip")


@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_threads_must_be_a_positive_whole_number(command, value, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, str(DIGITS_SPEC), "--data", "digits", "--checkpoint", "x.pt", "--threads", value]
             if command == "eval" else [command, str(DIGITS_SPEC), "--data", "digits", "--threads", value])
    assert exited.value.code == 2
    assert f"--threads: expected a whole number of at least 1, found {value!r}" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize(("flag", "value", "limit"), [
    ("--threads", "100000", "4 (the CPUs of this machine)"),  # torch.set_num_threads's MemoryError traceback
    ("--workers", "17", "16 (4 per CPU of this machine)"),  # taken as is: as many DataLoader processes
])
def test_threads_and_workers_beyond_the_cpus_are_refused(command, flag, value, limit, capsys, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    arguments = ["--checkpoint", "x.pt"] if command == "eval" else []
    with pytest.raises(SystemExit) as exited:
        main([command, str(DIGITS_SPEC), "--data", "digits", *arguments, flag, value])
    assert exited.value.code == 2
    assert f"{flag}: expected at most {limit}, found {value!r}" in capsys.readouterr().err


NO_PARAMETERS = """\
name: no-parameters
input: {channels: 1, size: [1, 10]}
head:
  - {layer: flatten}
"""

# BatchNorm on a flat vector (BatchNorm1d): one value per feature and image.
FLAT_BATCHNORM = """\
name: flat-batchnorm
input: {channels: 1, size: 8}
head:
  - {layer: flatten}
  - {layer: linear, width: 32}
  - {layer: batchnorm}
  - {layer: relu}
  - {layer: linear, width: 10}
"""


@pytest.mark.parametrize("case", ["no parameters", "batch of one", "batch of one per process"])
def test_a_spec_that_cannot_train_is_a_usage_error_before_any_file(case, tmp_path, capsys, monkeypatch):
    spec, extra = tmp_path / "spec.yaml", ["--batch-size", "1"]
    spec.write_text(NO_PARAMETERS if case == "no parameters" else FLAT_BATCHNORM)
    if case == "no parameters":
        extra, expected = [], f"{spec}: this spec has no parameters to train"
    elif case == "batch of one":
        expected = ("--batch-size 1: the BatchNorm layer bn1 (output 32) would normalise each channel "
                    "over a single value, which training cannot do; use --batch-size 2 or more")
    else:  # a world of 2 processes, as torchrun starts it (the group itself is not needed to refuse)
        world = (loop.distributed.Context(rank=0, world_size=2), torch.device("cpu"))
        monkeypatch.setattr(loop.distributed, "start", lambda device: world)
        extra = ["--batch-size", "2"]
        expected = "--batch-size 2, 1 image per process over 2: the BatchNorm layer bn1"
    code = main(["train", str(spec), "--data", "digits", "--out", str(tmp_path / "run"), *extra])
    captured = capsys.readouterr()
    assert code == 2 and expected in captured.err and captured.err.count("\n") == 1
    assert captured.out == "" and not (tmp_path / "run").exists()


@pytest.mark.parametrize(("spec", "batch"), [(FLAT_BATCHNORM, 1), (FLAT_BATCHNORM, 2),
                                             (DIGITS_SPEC, 1), (SPECS / "resnet18.yaml", 1)])
def test_the_batchnorm_check_agrees_with_a_training_forward_pass(spec, batch):
    """Static figures equal reality: refused exactly when PyTorch's training forward pass fails."""
    report = archspec.check(archspec.load(spec), (3, 32, 32) if spec == SPECS / "resnet18.yaml" else None)
    try:
        preflight.check_batch_norm(report, batch, 1)
        refused = False
    except UsageError:
        refused = True
    network = archspec.compile(report.spec, report.input_shape).train()
    try:
        network(torch.rand(batch, *report.input_shape))
        fails = False
    except ValueError:  # "Expected more than 1 value per channel when training"
        fails = True
    assert refused == fails
    assert refused == (batch == 1 and spec != DIGITS_SPEC)  # digits: BatchNorm over 8x8 maps only
