"""The validation split of `archspec train` (best.pt chosen on it, never on the test set), the curves
figure, the progress figures, and the default thread count: one-epoch runs on the digits data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from test_data import write_folder

from archspec.cli import main
from archspec.train import threads, validation
from archspec.train.data import load_data
from archspec.train.report import ProgressBar, curves_figure, epoch_line
from conftest import SPECS

DIGITS_SPEC = SPECS / "digits-resnet.yaml"

pytestmark = pytest.mark.usefixtures("one_thread")


def train(out: Path, *args: str) -> int:
    return main(["train", str(DIGITS_SPEC), "--data", "digits", "--out", str(out), *args])


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def digits() -> object:
    return load_data("digits", Path("unused"), (1, 8, 8))


def test_the_split_is_stratified_deterministic_per_seed_and_unaugmented():
    data, split = validation.split(digits(), 0.1, seed=3)
    again, same = validation.split(digits(), 0.1, seed=3)
    _, other = validation.split(digits(), 0.1, seed=4)
    assert (len(data.train), len(data.val), split.count, split.train_size) == (1295, 142, 142, 1437)
    assert data.val.indices == again.val.indices and split == same and other.digest != split.digest
    assert not set(data.train.indices) & set(data.val.indices)
    labels = validation.targets(data.val)
    assert all(13 <= labels.count(digit) <= 16 for digit in range(10))  # 10% of each digit's ~144
    # The held-out images are read with the test transform: no augmentation even when training has it.
    augmented = load_data("digits", Path("unused"), (1, 8, 8), augment=("crop", "flip"))
    held = validation.split(augmented, 0.1, seed=3)[0].val
    assert torch.equal(held[0][0], data.val[0][0]) and torch.equal(held[0][0], held[0][0])


def test_a_folder_with_its_own_val_keeps_it(tmp_path):
    for part, counts in (("train", {"a": 4, "b": 4}), ("val", {"a": 1, "b": 2}), ("test", {"a": 2, "b": 1})):
        write_folder(tmp_path / part, counts)
    data, split = validation.split(load_data(f"folder:{tmp_path}", tmp_path, (3, 8, 8)), 0.1, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (8, 3, 3) and split.source == "official"
    assert "train/, val/ and test/" in data.location


def test_one_epoch_records_the_split_and_selects_on_validation(tmp_path, capsys):
    assert train(tmp_path / "run", "--epochs", "1") == 0
    out = capsys.readouterr().out
    row = metrics(tmp_path / "run")[0]
    assert row["val_acc"] is not None and row["val_loss"] is not None
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["validation"] == validation.split(digits(), 0.1, 0)[1].record()
    assert (best["best_acc"], best["best_test_acc"]) == (row["val_acc"], row["test_acc"])
    assert f"by validation accuracy {row['val_acc']:.2%}: test accuracy {row['test_acc']:.2%}" in out
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(tmp_path / "run" / "best.pt"),
                 "--split", "val", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["split"], result["images"], result["accuracy"]) == ("val", 142, row["val_acc"])


def test_resume_refuses_another_split(tmp_path, capsys):
    assert train(tmp_path / "run", "--epochs", "1") == 0
    capsys.readouterr()
    for change in (["--val-fraction", "0.2"], ["--seed", "1"], ["--val-fraction", "0"]):
        assert train(tmp_path / "run", "--epochs", "2", "--resume", *change) == 2
        error = capsys.readouterr().err
        assert "the run was trained with a held-out split, --val-fraction 0.1, --seed 0" in error
    assert len(metrics(tmp_path / "run")) == 1


def test_resume_trains_with_the_given_rate_momentum_and_weight_decay(tmp_path, capsys):
    """The optimizer's loaded state carried the old rate: `--resume --lr 0.5` printed that the rate had
    changed and trained on at 0.01."""
    run = tmp_path / "run"
    assert train(run, "--epochs", "1", "--optimizer", "sgd", "--lr", "0.01", "--schedule", "cosine") == 0
    assert train(run, "--epochs", "3", "--resume", "--optimizer", "sgd", "--lr", "0.5", "--schedule", "cosine",
                 "--momentum", "0.5", "--weight-decay", "0.001") == 0
    assert "--lr 0.5 (was 0.01)" in capsys.readouterr().err
    assert [row["lr"] for row in metrics(run)] == pytest.approx([0.01, 0.5 * 0.75, 0.5 * 0.25])
    optimizer = torch.load(run / "last.pt", weights_only=True)["optimizer"]["param_groups"][0]
    assert (optimizer["momentum"], optimizer["weight_decay"], optimizer["initial_lr"]) == (0.5, 0.001, 0.5)


def test_no_validation_split_warns_and_keeps_the_last_epoch(tmp_path, capsys):
    assert train(tmp_path / "run", "--epochs", "2", "--val-fraction", "0") == 0
    captured = capsys.readouterr()
    assert "warning: --val-fraction 0: no validation split, so best.pt is simply the last epoch" in captured.err
    assert "1,437 train / 0 validation / 360 test" in captured.out
    assert "best.pt is the last epoch, 2 (no validation split)" in captured.out
    rows = metrics(tmp_path / "run")
    assert all(row["val_acc"] is None and row["val_loss"] is None for row in rows)
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["best_epoch"] == 2 and best["validation"]["source"] == "none"
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(tmp_path / "run" / "best.pt"),
                 "--split", "val"]) == 2
    assert "the run had no validation split; use --split test" in capsys.readouterr().err
    assert train(tmp_path / "run", "--epochs", "3", "--resume") == 2  # the default 0.1: another split
    assert "the run was trained without a validation split (--val-fraction 0)" in capsys.readouterr().err


def test_selection_takes_the_best_validation_accuracy_and_on_a_tie_the_lower_loss():
    from archspec.train.loop import _better

    rows = [{"val_acc": 0.9, "val_loss": 0.3}, {"val_acc": 0.9, "val_loss": 0.2},
            {"val_acc": 0.9, "val_loss": 0.25}, {"val_acc": 0.8, "val_loss": 0.1}]
    best = {"acc": -1.0, "epoch": 0}
    for epoch, row in enumerate(rows, start=1):
        if _better(row, best, rows[:epoch]):
            best = {"acc": row["val_acc"], "epoch": epoch}
    assert best["epoch"] == 2
    assert _better({"val_acc": None, "val_loss": None}, best, rows)  # no split: the last epoch


@pytest.mark.parametrize("value", ["1", "-0.1", "1.5"])
def test_a_fraction_outside_0_1_is_refused(value, tmp_path, capsys):
    assert train(tmp_path / "run", "--val-fraction", value) == 2
    assert f"--val-fraction must be in [0, 1), found {float(value)}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_fraction_that_holds_out_every_image_says_so(tmp_path, capsys):
    """It read `the training set has 0 images, fewer than one batch of 128: lower --batch-size`."""
    assert train(tmp_path / "run", "--val-fraction", "0.999") == 2
    err = capsys.readouterr().err
    assert "--val-fraction 0.999 of 1437 training images holds out every one" in err and "batch" not in err
    assert not (tmp_path / "run").exists()


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def test_a_diverged_run_writes_strict_json(tmp_path, capsys):
    """A nan loss was written as `NaN` in metrics.jsonl and in eval --json: no JSON (jq refuses it)."""
    assert train(tmp_path / "run", "--epochs", "1", "--optimizer", "sgd", "--lr", "1e30") == 0
    assert "loss nan" in capsys.readouterr().out  # the run did diverge
    for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line, parse_constant=_no_constants)
        assert row["train_loss"] is None and row["test_loss"] is None and row["test_acc"] >= 0
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(tmp_path / "run" / "best.pt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out, parse_constant=_no_constants)["loss"] is None


ROWS = [{"epoch": 1, "train_loss": 2.0, "train_acc": 0.3, "val_loss": 1.5, "val_acc": 0.5, "test_loss": 1.6,
         "test_acc": 0.45, "lr": 0.1},
        {"epoch": 2, "train_loss": 1.0, "train_acc": 0.7, "val_loss": 0.9, "val_acc": 0.8, "test_loss": 1.0,
         "test_acc": 0.75, "lr": 0.01},
        {"epoch": 3, "train_loss": 0.5, "train_acc": 0.9, "val_loss": 1.1, "val_acc": 0.7, "test_loss": 1.2,
         "test_acc": 0.7, "lr": 0.001}]


def test_the_curves_show_every_split_the_learning_rate_and_the_best_epoch():
    figure = curves_figure(ROWS, 2, "digits-resnet on digits")
    loss_axes, accuracy_axes, rate_axes = figure.axes
    for axes, key in ((loss_axes, "loss"), (accuracy_axes, "acc")):
        lines = {line.get_label(): line for line in axes.get_lines()}
        for split in ("train", "val", "test"):
            label = f"{split} {'loss' if key == 'loss' else 'accuracy'}"
            assert list(lines[label].get_ydata()) == [row[f"{split}_{key}"] for row in ROWS]
        assert list(lines["best epoch (2)"].get_xdata()) == [2, 2]
    assert rate_axes.get_ylabel() == "learning rate" and rate_axes.get_yscale() == "log"
    assert list(rate_axes.get_lines()[0].get_ydata()) == [0.1, 0.01, 0.001]
    legend = [text.get_text() for text in loss_axes.get_legend().get_texts()]
    assert "learning rate" in legend and "val loss" in legend


def test_the_curves_without_a_split_have_no_validation_line():
    rows = [{**row, "val_loss": None, "val_acc": None, "lr": 0.001} for row in ROWS]
    _loss_axes, accuracy_axes, rate_axes = curves_figure(rows, 3, "t").axes
    assert [line.get_label() for line in accuracy_axes.get_lines()] == ["train accuracy", "test accuracy",
                                                                          "best epoch (3)"]
    assert rate_axes.get_yscale() == "linear"


def test_progress_shows_the_rate_and_the_time_left(monkeypatch):
    clock = iter([100.0, 102.0])  # the bar starts at 100 s; step 4 of 10 is drawn at 102 s
    monkeypatch.setattr("archspec.train.report.time.monotonic", lambda: next(clock))
    terminal = io.StringIO()
    bar = ProgressBar(2, 5, 10, stream=terminal, enabled=True, images_per_step=128)
    bar.update(4, 0.5, 0.75)
    # 0.5 s per step of 128 images: 256 images/s; 6 steps left (3 s), then 3 epochs of 10 steps (15 s).
    assert terminal.getvalue().endswith("acc 75.0% 256 img/s, epoch 3s left, run 18s left\x1b[K")
    row = {"epoch": 2, "train_loss": 1, "train_acc": 0.5, "val_loss": 1, "val_acc": 0.5, "test_loss": 1,
           "test_acc": 0.5, "seconds": 61.0, "images_per_s": 1000.0}
    assert epoch_line(row, 5).endswith("61.0 s  1,000 images/s  run 3m03s left")


def test_the_default_thread_count(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 16)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(threads, "load_average", lambda: 0.5)
    assert threads.default_threads(2_100_000, 128)[0] == 1  # the digits network: a small step
    assert threads.default_threads(556_000_000, 32)[0] == 8  # ResNet-18 on CIFAR, idle: at most 8
    assert threads.default_threads(556_000_000, 32, processes_per_node=4)[0] == 3  # 4 cores x 31/32
    monkeypatch.setattr(threads, "load_average", lambda: 12.0)  # 12 of 16 CPUs busy: 4 idle
    assert threads.default_threads(556_000_000, 32) == (4, "16 cores, load average 12.0: the idle ones, at most 8")
    monkeypatch.setattr(threads, "load_average", lambda: 40.0)  # oversubscribed: still one
    assert threads.default_threads(556_000_000, 32)[0] == 1
    monkeypatch.setattr(threads, "load_average", lambda: None)  # no load average (Windows)
    assert threads.default_threads(556_000_000, 32)[0] == 8
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads(2_100_000, 128) == (3, "OMP_NUM_THREADS")


def test_eval_errors_are_json_with_json(tmp_path, capsys):
    for arguments in (["--checkpoint", str(tmp_path / "none.pt")],
                      ["--checkpoint", str(tmp_path / "none.pt"), "--batch-size", "0"]):
        assert main(["eval", str(DIGITS_SPEC), *arguments, "--json"]) == 2
        captured = capsys.readouterr()
        assert json.loads(captured.out)["ok"] is False and captured.err == ""
    assert main(["eval", str(tmp_path / "missing.yaml"), "--checkpoint", "x.pt", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["errors"]
