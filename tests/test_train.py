"""`archspec train` and `archspec eval` end to end on the real (offline) digits data: accuracy, the run
directory, the checkpoint format, bit-identical resume, progress output and every refused request."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import archspec
from archspec.cli import main
from archspec.train import loop
from archspec.train.data import digits_split
from archspec.train.report import ProgressBar
from conftest import SPECS

DIGITS_SPEC = SPECS / "digits-resnet.yaml"
EPOCHS = 10

pytestmark = pytest.mark.usefixtures("one_thread")


def train(*args: str) -> int:
    return main(["train", str(DIGITS_SPEC), "--data", "digits", *args])


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """The shipped digits spec trained as the README shows it; (run directory, stdout)."""
    run = tmp_path_factory.mktemp("digits") / "run"
    capture = io.StringIO()
    from contextlib import redirect_stdout

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the `one_thread` fixture, which is per test
    try:
        with redirect_stdout(capture):
            assert train("--epochs", str(EPOCHS), "--out", str(run)) == 0
    finally:
        torch.set_num_threads(threads)
    return run, capture.getvalue()


def test_digits_reach_95_percent_and_the_run_directory_holds_everything(trained_run):
    run, stdout = trained_run
    rows = metrics(run)
    assert [row["epoch"] for row in rows] == list(range(1, EPOCHS + 1))
    assert rows[-1]["test_acc"] >= 0.95 and rows[-1]["train_loss"] < rows[0]["train_loss"] / 5
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr",
                            "seconds", "images_per_s"}
    lines = stdout.splitlines()
    assert lines[0].startswith("training digits-resnet (77,290 parameters) on digits: 1,437 train")
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == EPOCHS
    for part in ("loss", "train acc", "test acc", " s ", "images/s"):
        assert part in epoch_lines[-1]
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "spec.yaml").read_text() == DIGITS_SPEC.read_text()
    resolved = json.loads((run / "spec.resolved.json").read_text())
    assert resolved["params"] == 77_290 and resolved["spec"]["stages"][1]["shortcut"] is None
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "curves.png", "last.pt",
                                                    "metrics.jsonl", "spec.resolved.json", "spec.yaml"]


def test_checkpoint_holds_weights_states_and_spec(trained_run):
    run, _ = trained_run
    checkpoint = torch.load(run / "last.pt", weights_only=True)  # plain data: no code runs
    assert checkpoint["format"] == "archspec-checkpoint" and checkpoint["epoch"] == EPOCHS
    assert {"model", "optimizer", "scheduler", "rng", "config", "metrics"} <= set(checkpoint)
    assert checkpoint["spec"] == DIGITS_SPEC.read_text() and checkpoint["config"]["normalization"] == "none"
    assert set(checkpoint["rng"][0]) == {"python", "numpy", "torch", "cuda", "loader"}
    network = archspec.compile(archspec.load(checkpoint["spec"]))  # the spec text rebuilds the network
    network.load_state_dict(checkpoint["model"])  # strict: every key and shape fits
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["epoch"] == best["best_epoch"] == max(metrics(run), key=lambda r: r["test_acc"])["epoch"]


def test_eval_reproduces_the_runs_test_accuracy(trained_run, capsys):
    run, _ = trained_run
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(run / "last.pt"), "--json",
                 "--confusion"]) == 0
    result = json.loads(capsys.readouterr().out)
    last = metrics(run)[-1]
    assert result["images"] == 360 and result["accuracy"] == last["test_acc"]
    assert result["loss"] == pytest.approx(last["test_loss"], rel=1e-5)
    confusion = torch.tensor(result["confusion"])
    assert confusion.sum() == 360 and confusion.trace() == result["correct"]
    _, labels, _, test_index = digits_split()
    assert confusion.sum(dim=1).tolist() == np.bincount(labels[test_index]).tolist()  # rows: truth
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(run / "best.pt"), "--data", "digits",
                 "--confusion"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert "test accuracy" in text[0] and text[1].split()[-1] == "recall" and len(text) == 12


def interrupt_in_epoch(monkeypatch, epoch: int) -> None:
    """Make the run die in the middle of `epoch`, after two real optimiser steps, like a killed job."""
    real_train_epoch = loop.train_epoch
    calls = {"count": 0}

    def dying_epoch(network, loader, optimizer, scaler, precision, progress):
        calls["count"] += 1
        if calls["count"] == epoch:
            for step, (images, labels) in enumerate(loader):
                if step == 2:
                    raise KeyboardInterrupt
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(network(images), labels).backward()
                optimizer.step()
        return real_train_epoch(network, loader, optimizer, scaler, precision, progress)

    monkeypatch.setattr(loop, "train_epoch", dying_epoch)


def test_resumed_run_ends_with_bit_identical_weights(tmp_path, monkeypatch, capsys):
    # Augmentation and SGD with momentum and a schedule: every random and stateful part takes part.
    options = ["--epochs", "4", "--batch-size", "256", "--augment", "crop,flip", "--optimizer", "sgd",
               "--lr", "0.05", "--schedule", "cosine", "--weight-decay", "1e-4", "--seed", "7"]
    assert train(*options, "--out", str(tmp_path / "whole")) == 0
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 3)
        assert train(*options, "--out", str(tmp_path / "killed")) == 130
    assert "--resume continues" in capsys.readouterr().err
    assert torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["epoch"] == 2
    assert len(metrics(tmp_path / "killed")) == 2
    assert train(*options, "--out", str(tmp_path / "killed"), "--resume") == 0
    assert "resuming after epoch 2" in capsys.readouterr().out
    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert whole["model"].keys() == resumed["model"].keys()
    for name, tensor in whole["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    for key, state in whole["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"], resumed["optimizer"]["state"][key]["momentum_buffer"])
    timing = {"seconds", "images_per_s"}
    assert ([{k: v for k, v in row.items() if k not in timing} for row in metrics(tmp_path / "whole")]
            == [{k: v for k, v in row.items() if k not in timing} for row in metrics(tmp_path / "killed")])
    assert train(*options, "--out", str(tmp_path / "killed"), "--resume") == 0
    assert "nothing to do" in capsys.readouterr().out


def wrong_head_spec(tmp_path: Path) -> str:
    spec = tmp_path / "digits-100.yaml"
    text = DIGITS_SPEC.read_text()
    spec.write_text(text.replace("{layer: linear, width: 10}", "{layer: linear, width: 100}"))
    return str(spec)


@pytest.mark.parametrize("case", ["unknown dataset", "wrong classes", "missing files", "out is a file",
                                  "out under a file", "nothing to resume", "run exists", "bad augment",
                                  "zero epochs", "no cuda", "batch too big"])
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
    elif case == "no cuda":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        extra, expected = ["--device", "cuda"], "no CUDA GPU is available"
    else:
        extra, expected = ["--batch-size", "5000"], "fewer than one batch of 5000"
    code = main(["train", spec, "--data", data, "--out", str(out), "--epochs", "1", *extra])
    captured = capsys.readouterr()
    assert code == 2 and expected in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and not (out.is_dir() and (out / "metrics.jsonl").exists())
    if case == "wrong classes":  # a spec problem: located in the file, with what to do
        assert f"{spec}:22:" in captured.err and "head[2].width" in captured.err
        assert "hint: set the last layer's `width: 10`" in captured.err
    else:
        assert captured.err.startswith("archspec train: error: ") and captured.err.count("\n") == 1
    if case in ("unknown dataset", "wrong classes", "missing files", "bad augment", "batch too big"):
        assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_threads_must_be_a_positive_whole_number(command, value, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, str(DIGITS_SPEC), "--data", "digits", "--checkpoint", "x.pt", "--threads", value]
             if command == "eval" else [command, str(DIGITS_SPEC), "--data", "digits", "--threads", value])
    assert exited.value.code == 2
    assert f"--threads: expected a whole number of at least 1, found {value!r}" in capsys.readouterr().err


def test_threads_sets_torchs_thread_count(tmp_path, capsys):
    torch.set_num_threads(2)  # `one_thread` restores the count afterwards
    assert train("--epochs", "1", "--threads", "1", "--out", str(tmp_path / "run")) == 0
    assert torch.get_num_threads() == 1


def test_eval_refuses_a_checkpoint_of_another_network(trained_run, tmp_path, capsys):
    run, _ = trained_run
    other = SPECS / "resnet18.yaml"
    assert main(["eval", str(other), "--checkpoint", str(run / "last.pt")]) == 2
    assert "the network outputs 1000 class scores, but digits has 10" in capsys.readouterr().err
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert f"no checkpoint at {tmp_path / 'none.pt'}" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(tmp_path / "junk.pt")]) == 2
    assert "is not a readable archspec checkpoint" in capsys.readouterr().err


def test_progress_bar_draws_only_on_a_terminal():
    plain = io.StringIO()
    bar = ProgressBar(2, 5, 10, stream=plain)  # StringIO is not a terminal
    bar.update(3, 0.5, 0.75)
    bar.close()
    assert plain.getvalue() == "" and not bar.wants_update
    terminal = io.StringIO()
    bar = ProgressBar(2, 5, 10, stream=terminal, enabled=True)
    assert bar.wants_update
    bar.update(5, 0.5, 0.75)
    assert terminal.getvalue().startswith("\repoch 2/5 [############............] 5/10 loss 0.5000 acc 75.0%")
    bar.close()
    assert terminal.getvalue().endswith("\r\x1b[K")


class ReferenceBasicBlock(torch.nn.Module):
    """A ResNet basic block written by hand: relu(bn(conv(relu(bn(conv x)))) + shortcut x)."""

    def __init__(self, channels_in: int, channels: int, stride: int):
        super().__init__()
        nn = torch.nn
        self.main = nn.Sequential(
            nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))
        self.shortcut = nn.Identity() if stride == 1 and channels_in == channels else nn.Sequential(
            nn.Conv2d(channels_in, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.main(x) + self.shortcut(x))


def test_digits_spec_equals_a_hand_written_network():
    """The independent source of tests/golden/digits-resnet.json: the network written in plain torch."""
    from torch.utils.flop_counter import FlopCounterMode

    nn = torch.nn
    reference = nn.Sequential(
        nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        ReferenceBasicBlock(32, 32, 1), ReferenceBasicBlock(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)).eval()
    golden = json.loads((SPECS.parent / "tests" / "golden" / "digits-resnet.json").read_text())
    assert sum(p.numel() for p in reference.parameters()) == golden["params"] == 77_290
    counter = FlopCounterMode(display=False)
    with counter:
        output = reference(torch.rand(1, 1, 8, 8))
    assert counter.get_total_flops() // 2 == golden["macs"] == 2_116_224
    assert list(output.shape[1:]) == golden["output_shape"] == [10]
    compiled = archspec.compile(archspec.load(DIGITS_SPEC)).eval()
    # Same tensors in the same order: the compiled weights in the reference give the same scores.
    reference.load_state_dict(dict(zip(reference.state_dict(), compiled.state_dict().values(), strict=True)))
    images = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(reference(images), compiled(images))
