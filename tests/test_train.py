"""`archspec train` and `archspec eval` end to end on the real (offline) digits data: accuracy, the run
directory, the checkpoint format, bit-identical resume, progress output and every refused request."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import archspec
from archspec.cli import main
from archspec.train import loop, outdir
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
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss",
                            "test_acc", "lr", "seconds", "images_per_s"}
    lines = stdout.splitlines()
    assert lines[0].startswith("training digits-resnet (77,290 parameters) on digits: 1,295 train / "
                               "142 validation / 360 test")
    assert lines[1] == "threads: 1 (a small step, 0.27 GMACs: one thread is fastest; --threads to change)"
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == EPOCHS
    for part in ("loss", "train acc", "val acc", "test acc", " s ", "images/s", "run 0s left"):
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
    chosen = max(metrics(run), key=lambda r: (r["val_acc"], -r["val_loss"]))  # a tie: the lower loss
    assert best["epoch"] == best["best_epoch"] == chosen["epoch"]
    assert best["best_acc"] == chosen["val_acc"] and best["best_test_acc"] == chosen["test_acc"]


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


def test_a_run_interrupted_in_its_first_epoch_does_not_send_to_resume(tmp_path, monkeypatch, capsys):
    """It said `last.pt holds the last completed epoch; ... --resume continues`: there was none, and
    --resume was refused."""
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 1)
        assert train("--epochs", "1", "--batch-size", "256", "--out", str(out)) == 130
    err = capsys.readouterr().err
    assert "interrupted before the first epoch ended" in err and "--resume" not in err
    assert not (out / "last.pt").exists() and not (out / "best.pt").exists()
    assert train("--epochs", "1", "--batch-size", "256", "--out", str(out)) == 0  # as it says


def test_overwrite_interrupted_in_its_first_epoch_keeps_no_checkpoint_of_the_run_before(tmp_path, monkeypatch,
                                                                                        capsys):
    """The run before's last.pt stayed beside the new run's empty metrics, and --resume continued it."""
    out = tmp_path / "run"
    assert train("--epochs", "1", "--batch-size", "256", "--out", str(out)) == 0
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 1)
        assert train("--epochs", "2", "--batch-size", "256", "--out", str(out), "--overwrite") == 130
    assert "holds no checkpoint" in capsys.readouterr().err
    assert not (out / "last.pt").exists() and not (out / "best.pt").exists() and metrics(out) == []
    assert train("--epochs", "2", "--batch-size", "256", "--out", str(out), "--resume") == 2


def test_threads_sets_torchs_thread_count(tmp_path, capsys):
    torch.set_num_threads(2)  # `one_thread` restores the count afterwards
    assert train("--epochs", "1", "--threads", "1", "--out", str(tmp_path / "run")) == 0
    assert torch.get_num_threads() == 1
    capsys.readouterr()
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(tmp_path / "run" / "last.pt")]) == 0
    assert capsys.readouterr().out.startswith("digits-resnet after 1 epoch on digits ")  # not "1 epochs"


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


def test_eval_says_every_kind_of_mismatch_of_a_checkpoint_that_does_not_fit(trained_run, capsys):
    """It showed only the first line of torch's message (one missing key); now what `--weights` says."""
    run, _ = trained_run
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(run / "last.pt"),
                 "--set", "stages[1].width=48", "--set", "stem[0].bias=true"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"archspec eval: error: {run / 'last.pt'} does not fit {DIGITS_SPEC}: "
                          "1 missing tensor: conv1.bias; 16 tensors of another shape: ") and err.count("\n") == 1
    assert "layer2.0.conv1.weight (checkpoint 64x32x3x3, model 48x32x3x3)" in err


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


# ---- refusing bad setups before anything is written (issue 12, section 5) --------------------------

def hold_the_lock(out: Path) -> subprocess.Popen:
    """Another process holding the run directory `out`, as a running `archspec train` does."""
    out.mkdir(parents=True, exist_ok=True)
    code = ("import sys, time; from pathlib import Path; from archspec.train import outdir; "
            "lock = outdir.claim(Path(sys.argv[1])); print('locked', flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    return holder


def listing(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_second_run_on_a_locked_directory_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    holder = hold_the_lock(out)
    try:
        before = listing(out)
        for extra in ([], ["--overwrite"]):
            assert train("--epochs", "1", "--out", str(out), *extra) == 2
            captured = capsys.readouterr()
            assert captured.out == "" and captured.err.count("\n") == 1
            assert f"is in use by another `archspec train` (pid {holder.pid} on " in captured.err
            assert listing(out) == before
    finally:
        holder.send_signal(signal.SIGKILL)  # kill -9: the kernel drops the lock with the process
        holder.wait()
    # A path with a ':' is a path (not YAML text), also for `train`.
    monkeypatch.chdir(tmp_path)
    Path("we:ird.yaml").write_text(DIGITS_SPEC.read_text())
    assert main(["train", "we:ird.yaml", "--data", "digits", "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "last.pt").is_file() and not (out / outdir.LOCK).exists()  # released at the end


def test_leftovers_of_a_write_killed_with_kill_9_are_removed_when_a_run_starts(tmp_path, capsys):
    from test_files import hold_a_write_open

    out = tmp_path / "run"
    assert train("--epochs", "1", "--out", str(out)) == 0
    writer = hold_a_write_open(out)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    old_style = out / ".metrics.jsonl.k3j4h5g6.part.jsonl"  # an older archspec's name: no pid
    old_style.write_text("")
    assert len(list(out.glob(".*.part.*"))) == 2
    assert train("--epochs", "2", "--out", str(out), "--resume") == 0
    assert list(out.glob(".*.part.*")) == [] and not (out / outdir.LOCK).exists()
    writer = hold_a_write_open(out)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert train("--epochs", "1", "--out", str(out), "--overwrite") == 0
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "curves.png", "last.pt", "metrics.jsonl",
                                                    "spec.resolved.json", "spec.yaml"]


DAMAGES = {  # entry: (how the checkpoint is damaged, what the message must say)
    "rng": (lambda c: c.pop("rng"), ("entry `rng`: expected a list of one dict per process with python, "
            "numpy, torch, cuda, loader, found no such entry")),
    "optimizer": (lambda c: c.pop("optimizer"), "entry `optimizer`: expected an optimizer's state_dict"),
    "epoch": (lambda c: c.update(epoch="abc"), "entry `epoch`: expected a whole number of epochs, found str 'abc'"),
    "model": (lambda c: c.update(model=[1, 2]), ("entry `model`: expected a state_dict (a dict of tensors by "
              "name), found list [1, 2]")),
    "validation": (lambda c: c.update(validation="10%"), ("entry `validation`: expected a dict with source, "
                   "fraction, seed, train_size, count and digest, found str '10%'")),
    "two at once": (lambda c: c.update(config=None, classes="0-9"),
                    "entry `classes`: expected a list of class names, found str '0-9'; entry `config`"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_checkpoint_names_the_entry(damage, trained_run, tmp_path, capsys):
    run, _ = trained_run
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    change, expected = DAMAGES[damage]
    change(checkpoint)
    out = tmp_path / "run"
    out.mkdir()
    torch.save(checkpoint, out / "last.pt")
    before = listing(out)
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(out / "last.pt")]) == 2
    assert train("--epochs", str(EPOCHS + 1), "--out", str(out), "--resume") == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and len(lines) == 2 and listing(out) == before
    for line, command in zip(lines, ("eval", "train"), strict=True):
        assert line.startswith(f"archspec {command}: error: {out / 'last.pt'} is a damaged archspec "
                               "checkpoint: ") and expected in line


@pytest.mark.parametrize("entry", ["optimizer", "scheduler", "rng"])
def test_an_entry_of_the_right_type_that_does_not_fit_is_named_on_resume(entry, trained_run, tmp_path, capsys):
    run, _ = trained_run
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    checkpoint[entry] = {"optimizer": {"state": {}, "param_groups": []}, "scheduler": {"last_epoch": "x"},
                         "rng": [dict.fromkeys(("python", "numpy", "torch", "cuda", "loader"), 1)]}[entry]
    out = tmp_path / "run"
    out.mkdir()
    torch.save(checkpoint, out / "last.pt")
    assert train("--epochs", str(EPOCHS + 1), "--out", str(out), "--resume") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"archspec train: error: --resume: {out / 'last.pt'}: entry `{entry}` does not fit: ")
    assert err.count("\n") == 1 and sorted(p.name for p in out.iterdir()) == ["last.pt"]


def unreadable_files(folder: Path) -> dict[str, Path]:
    """Files torch.load(weights_only=True) refuses, each for another reason."""
    import argparse

    files = {name: folder / f"{name}.pt" for name in ("code", "junk", "pickle", "truncated")}
    torch.save({"format": "archspec-checkpoint", "args": argparse.Namespace(a=1)}, files["code"])
    files["junk"].write_bytes(b"not a checkpoint")
    files["pickle"].write_bytes(__import__("pickle").dumps({"a": 1}, protocol=4))
    files["truncated"].write_bytes(files["code"].read_bytes()[:200])
    return files


def test_unreadable_files_are_one_line_without_torchs_advice(tmp_path, capsys):
    for name, path in unreadable_files(tmp_path).items():
        assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(path)]) == 2
        assert main(["export", str(DIGITS_SPEC), "-o", str(tmp_path / "net.onnx"), "--weights", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 2, name  # no warnings either
        assert f"archspec eval: error: {path} is not a readable archspec checkpoint: " in err
        assert "weights_only=False" not in err and "trust" not in err and "\x1b" not in err, name
        assert "safe_globals" not in err, name
        if name == "code":  # what the file holds that is not plain data
            assert "argparse.Namespace" in err
        else:  # not a zip archive, or a cut one: what torch.load's own words leave unsaid
            assert "not a whole file that torch.save writes (a zip archive)" in err, name


def test_load_problem_keeps_what_is_wrong_and_drops_any_advice():
    from archspec.train.checkpoint import load_problem

    wordings = [("Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` will "
                "likely succeed. Do it only if you trust the source.\nWeightsUnpickler error: Unsupported "
                "global: GLOBAL os.system. Please use `torch.serialization.add_safe_globals([os.system])`."),
                "Loading failed: the file is truncated. If you trust it, pass weights_only=False."]
    assert [load_problem(RuntimeError(text)) for text in wordings] == [
        "Unsupported global: GLOBAL os.system", "Loading failed: the file is truncated"]
    assert load_problem(RuntimeError("Pass weights_only=False to load it.")) == \
        "torch.load refused it (RuntimeError)"
    assert load_problem(KeyError(101)) == "torch.load refused it (KeyError)"  # a text file's first byte


def test_a_run_directory_as_checkpoint_names_the_files_in_it(tmp_path, capsys):
    """`--checkpoint runs/x` read `no checkpoint at runs/x`, though the folder is there."""
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"archspec eval: error: {tmp_path} is a folder, not a checkpoint file; "
                                       f"a run's are {tmp_path / 'best.pt'} and {tmp_path / 'last.pt'}\n")


def test_a_text_file_as_checkpoint_is_not_explained_by_a_bare_number(tmp_path, capsys):
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")
    assert main(["eval", str(DIGITS_SPEC), "--checkpoint", str(text)]) == 2
    assert capsys.readouterr().err.rstrip().endswith("torch.load says: torch.load refused it (KeyError)")
