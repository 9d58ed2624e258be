"""`archspec train` under torchrun: 2 CPU processes (gloo, DistributedDataParallel) against one.

With --batch-size as the global batch and the shared sampler, both runs take the same batches in the
same order. Without BatchNorm (whose statistics are per process) the curves must agree to rounding;
with it, within a tolerance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from archspec.cli import main
from conftest import ROOT, SPECS

# The same layers as the shipped digits spec's stem and head, without BatchNorm.
PLAIN_SPEC = """\
name: digits-plain
input: {channels: 1, size: 8}
stem:
  - {layer: conv, width: 16, kernel: 3, padding: 1}
  - {layer: relu}
  - {layer: maxpool, kernel: 2}
  - {layer: conv, width: 32, kernel: 3, padding: 1}
  - {layer: relu}
head:
  - {layer: global_avgpool}
  - {layer: flatten}
  - {layer: linear, width: 10}
"""


# Each torchrun process runs on one thread (torchrun sets OMP_NUM_THREADS=1); so does the single one.
pytestmark = pytest.mark.usefixtures("one_thread")


def torchrun(*args: str) -> subprocess.CompletedProcess:
    paths = [str(ROOT), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "archspec", "train", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def curves(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def run_both(tmp_path: Path, spec: Path, options: list[str]) -> tuple[list[dict], list[dict], str]:
    result = torchrun(str(spec), "--data", "digits", *options, "--out", str(tmp_path / "ddp"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert main(["train", str(spec), "--data", "digits", *options, "--out", str(tmp_path / "one")]) == 0
    return curves(tmp_path / "ddp"), curves(tmp_path / "one"), result.stdout


def test_two_processes_match_one_exactly_without_batchnorm(tmp_path, capsys):
    spec = tmp_path / "digits-plain.yaml"
    spec.write_text(PLAIN_SPEC)
    ddp, one, stdout = run_both(tmp_path, spec, ["--epochs", "2", "--batch-size", "64", "--lr", "0.01"])
    assert "x 2 processes" in stdout and stdout.count("epoch 1/2 ") == 1  # rank 0 alone prints
    assert len(ddp) == len(one) == 2  # and writes metrics.jsonl once
    for distributed, single in zip(ddp, one, strict=True):
        for key in ("train_loss", "val_loss", "test_loss"):
            assert distributed[key] == pytest.approx(single[key], rel=1e-5, abs=1e-6)
        for key in ("train_acc", "val_acc", "test_acc"):
            assert distributed[key] == single[key]
    assert one[-1]["train_loss"] < one[0]["train_loss"]
    checkpoint = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert len(checkpoint["rng"]) == 2  # each process's random state, for --resume
    assert not any(key.startswith("module.") for key in checkpoint["model"])  # DDP unwrapped
    single = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    # Every process held out the same images (the run checks the ranks agree), those of one process.
    assert checkpoint["validation"] == single["validation"] and checkpoint["validation"]["count"] == 142
    for name, tensor in checkpoint["model"].items():
        torch.testing.assert_close(tensor, single["model"][name], rtol=1e-4, atol=1e-5)


def test_two_processes_follow_the_single_process_curve_with_batchnorm(tmp_path, capsys):
    ddp, one, _ = run_both(tmp_path, SPECS / "digits-resnet.yaml",
                           ["--epochs", "3", "--batch-size", "64"])
    # BatchNorm normalises each process's 32 samples instead of all 64: close, not equal.
    for distributed, single in zip(ddp, one, strict=True):
        assert abs(distributed["train_loss"] - single["train_loss"]) < 0.05 + 0.1 * single["train_loss"]
        assert abs(distributed["train_acc"] - single["train_acc"]) < 0.03
    assert ddp[-1]["test_acc"] > 0.9 and abs(ddp[-1]["test_acc"] - one[-1]["test_acc"]) < 0.03


def test_a_locked_run_directory_stops_every_process_before_any_file(tmp_path):
    from test_train import hold_the_lock

    out = tmp_path / "run"
    holder = hold_the_lock(out)
    try:
        result = torchrun(str(SPECS / "digits-resnet.yaml"), "--data", "digits", "--epochs", "1",
                          "--out", str(out))
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("archspec train: error: ") == 1  # rank 0 alone prints it
    assert f"is in use by another `archspec train` (pid {holder.pid} on " in result.stderr
    assert [path.name for path in out.iterdir()] == [".archspec.lock"]  # the holder's, nothing else
