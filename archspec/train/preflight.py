"""What `archspec train` refuses before it loads data or builds anything: numeric settings out of
range, and a batch too small for the network's BatchNorm layers (training would fail in epoch 1)."""

from __future__ import annotations

import math
from typing import Any

from archspec.commands import UsageError
from archspec.train import validation


def check_numbers(config: Any) -> None:
    """The numeric settings of a TrainConfig, all refused at once before anything is loaded."""
    problems = [f"--{name.replace('_', '-')} must be {rule}, found {value}" for name, value, ok, rule in (
        ("epochs", config.epochs, config.epochs >= 1, "at least 1"),
        ("batch_size", config.batch_size, config.batch_size >= 1, "at least 1"),
        ("lr", config.lr, config.lr is None or (config.lr > 0 and math.isfinite(config.lr)), "positive"),
        ("momentum", config.momentum, 0 <= config.momentum < 1, "in [0, 1)"),
        ("weight_decay", config.weight_decay, 0 <= config.weight_decay < math.inf, "finite, zero or positive"),
        # numpy's generators (the validation split, np.random.seed) take seeds in [0, 2**32)
        ("seed", config.seed, 0 <= config.seed < 2**32, f"in [0, {2**32 - 1}]"),
        ("workers", config.workers, config.workers >= 0, "zero or positive"),
    ) if not ok]
    fraction_problem = validation.check_fraction(config.val_fraction)
    if fraction_problem:
        problems.append(fraction_problem)
    if problems:
        raise UsageError("; ".join(problems))


def check_batch_norm(report: Any, batch_size: int, world_size: int) -> None:
    """In training, BatchNorm needs more than one value per channel: the batch of one process times
    the layer's height and width. (No batch is smaller than the per-process batch: the last
    incomplete one is dropped.)"""
    per_process = batch_size // world_size
    for row in report.rows(None):
        if row.kind == "batchnorm" and per_process * math.prod(row.output_shape[1:]) == 1:
            split = f", {per_process} image per process over {world_size}" if world_size > 1 else ""
            raise UsageError(f"--batch-size {batch_size}{split}: the BatchNorm layer {row.name} (output "
                             f"{'x'.join(map(str, row.output_shape))}) would normalise each channel over "
                             f"a single value, which training cannot do; use --batch-size "
                             f"{2 * world_size} or more")
