"""`archspec train`: the seed tutorials' training loop (train_ch6) for any spec, as one function.

Per epoch: train on the shuffled training set (cross-entropy, Adam or SGD), evaluate on the
validation split (validation.py) and the test set, print one line (loss, accuracies, seconds,
images/s), append to metrics.jsonl, redraw the plot, and save `last.pt` (and `best.pt` when the
validation accuracy improves: the test set never chooses anything, so the test accuracy reported for
the best epoch is an honest estimate). The same function runs alone or as one process of a torchrun
job (see distributed.py).

Reproducibility: everything random is seeded from --seed; the shuffling order depends only on
(seed, epoch); the checkpoint holds every random state. So on the CPU a run resumed with --resume
ends with bit-identical weights to a run that was never interrupted.
"""

from __future__ import annotations

import gc
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archspec.commands import EXIT_OK, UsageError
from archspec.train import distributed, outdir, threads, validation
from archspec.train.checkpoint import (
    BEST,
    FORMAT,
    LAST,
    VERSION,
    capture_rng,
    keep_given_settings,
    load_checkpoint,
    load_entry,
    restore_rng,
    save_checkpoint,
    unwrap,
)
from archspec.train.data import check_augment, known_class_count, load_data
from archspec.train.network import build_network, check_classes, checked_spec, load_trained_weights
from archspec.train.preflight import check_batch_norm, check_numbers
from archspec.train.report import MetricsLog, ProgressBar, epoch_line
from archspec.train.steps import Precision, Totals, evaluate, train_epoch

DEFAULT_LR = {"adam": 1e-3, "sgd": 0.1}  # the seeds' Adam rate; the usual ResNet SGD rate
# Settings that change what a run computes: a resumed run that changes one gets a note.
RESUME_SETTINGS = ("data", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "schedule",
                   "augment", "normalize", "seed", "amp", "overrides", "val_fraction")


@dataclass(frozen=True)
class TrainConfig:
    spec: str
    data: str
    out: str
    data_root: str = "data"
    epochs: int = 10
    batch_size: int = 128
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"
    augment: tuple[str, ...] = field(default_factory=tuple)
    normalize: str | None = None  # None: the dataset's preset
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    download: bool = False
    workers: int = 0
    overrides: tuple[str, ...] = ()  # --set PATH=VALUE, applied to the spec; kept in the checkpoint
    val_fraction: float = validation.DEFAULT_FRACTION  # of the training set, held out for selection
    threads: int | None = None  # torch's CPU threads; None: threads.default_threads

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]


def lr_factor(schedule: str, epochs: int) -> Any:
    """Epoch -> multiplier of the base learning rate (stepped once per epoch)."""
    if schedule == "step":  # x0.1 at half and at three quarters of the run, the CIFAR ResNet recipe
        return lambda epoch: 0.1 ** sum(epoch >= m for m in (epochs // 2, epochs * 3 // 4) if m > 0)
    if schedule == "cosine":
        return lambda epoch: 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))
    return lambda epoch: 1.0


def train(config: TrainConfig) -> int:
    check_numbers(config)
    check_augment(config.augment)
    spec, report, spec_text = checked_spec(config.spec, config.overrides)
    if report.params == 0:  # torch's optimizers refuse an empty parameter list
        raise UsageError(f"{config.spec}: this spec has no parameters to train (only layers without "
                         "weights); add a layer with weights, such as `{layer: linear, width: N}`")
    classes = known_class_count(config.data)
    if classes is not None:  # before loading anything: a wrong head fails at once
        check_classes(spec, report, classes, config.data)

    context, device = distributed.start(config.device)
    finished = False
    try:
        code = _train_in_group(config, spec, report, spec_text, context, device)
        finished = True
        return code
    finally:
        # DistributedDataParallel's reducer must be gone before its gloo group is: one that outlives
        # the group can abort the process at exit, failing a run that succeeded.
        gc.collect()
        distributed.stop(context, finished)


def _train_in_group(config: TrainConfig, spec: Any, report: Any, spec_text: str,
                    context: distributed.Context, device: Any) -> int:
    import numpy as np
    import torch

    out: Path | None = None
    run_lock: outdir.RunLock | None = None
    try:
        if config.batch_size % context.world_size:
            raise UsageError(f"--batch-size {config.batch_size} (the global batch) does not split "
                             f"evenly over {context.world_size} processes")
        check_batch_norm(report, config.batch_size, context.world_size)
        threads_line = threads.apply(config.threads, report.macs, config.batch_size // context.world_size,
                                     int(os.environ.get("LOCAL_WORLD_SIZE", context.world_size)))
        data, split = validation.split(_load_data(config, report.input_shape, context),
                                       config.val_fraction, config.seed)
        _check_same_split(split, context)
        check_classes(spec, report, len(data.classes), config.data)
        if len(data.train) < config.batch_size:
            raise UsageError(f"the training set has {len(data.train)} images, fewer than one batch of "
                             f"{config.batch_size}: lower --batch-size")
        # Only now, with everything checked, does the run directory come into being.
        out = outdir.create(Path(config.out))
        run_lock = _claim(out, context)
        outdir.check_previous_run(out, resume=config.resume, overwrite=config.overwrite)
        checkpoint = load_checkpoint(out / LAST) if config.resume else None
        random.seed(config.seed)
        np.random.seed(config.seed)
        torch.manual_seed(config.seed)  # the same initial weights in every process
        precision = Precision(device, config.amp, config.channels_last)
        network = build_network(report, device, config.channels_last)
        optimizer = _optimizer(config, network)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config.schedule, config.epochs))
        scaler = torch.amp.GradScaler("cuda") if config.amp and device.type == "cuda" else None
        torch.manual_seed(config.seed + context.rank)  # each process its own augmentation draws
        loader_generator = torch.Generator().manual_seed(config.seed + context.rank)
        start, best, rows = 0, {"acc": -1.0, "epoch": 0, "test_acc": math.nan}, []
        if checkpoint is not None:
            validation.check_same(checkpoint.get("validation"), split, f"--resume {out / LAST}")
            start, best, rows = _resume(checkpoint, config, spec_text, network, optimizer, scheduler,
                                        scaler, loader_generator, context)
        train_loader, val_loader, test_loader = _loaders(data, config, context, loader_generator, device)
        model = _wrap(network, config, context, device)
        log = MetricsLog(out, f"{spec.name} on {config.data}") if context.is_main else None
        if context.is_main:
            if checkpoint is None:
                outdir.remove_checkpoints(out)
            outdir.write_spec_files(out, spec, report, spec_text, config.spec, config.overrides)
            log.start(rows, best["epoch"] or None)
            print(f"training {spec.name} ({report.params:,} parameters) on {config.data}: "
                  f"{len(data.train):,} train / {split.count:,} validation / {len(data.test):,} test "
                  "images, "
                  f"{len(data.classes)} classes, {device.type}"
                  + (f" x {context.world_size} processes" if context.distributed else "")
                  + (f", resuming after epoch {start}" if checkpoint is not None else ""), flush=True)
            print(threads_line, flush=True)
            if split.source == validation.NONE:
                print("warning: --val-fraction 0: no validation split, so best.pt is simply the last "
                      "epoch (selection uses nothing else)", file=sys.stderr, flush=True)
        if start >= config.epochs and context.is_main:
            print(f"nothing to do: {out / LAST} already has {start} epochs; raise --epochs to "
                  "train longer")
        for epoch in range(start, config.epochs):
            train_loader.sampler.set_epoch(epoch)
            began = time.perf_counter()
            progress = ProgressBar(epoch + 1, config.epochs, len(train_loader),
                                   enabled=None if context.is_main else False,
                                   images_per_step=config.batch_size)
            lr = optimizer.param_groups[0]["lr"]
            train_totals = _summed(train_epoch(model, train_loader, optimizer, scaler, precision,
                                               progress), context, device)
            train_seconds = time.perf_counter() - began
            scheduler.step()
            distributed.broadcast_buffers(network, context)
            val_totals = (_summed(evaluate(network, val_loader, precision)[0], context, device)
                          if val_loader is not None else None)
            test_totals = _summed(evaluate(network, test_loader, precision)[0], context, device)
            row = {"epoch": epoch + 1, "train_loss": train_totals.mean_loss,
                   "train_acc": train_totals.accuracy,
                   "val_loss": val_totals.mean_loss if val_totals else None,
                   "val_acc": val_totals.accuracy if val_totals else None,
                   "test_loss": test_totals.mean_loss, "test_acc": test_totals.accuracy, "lr": lr,
                   "seconds": time.perf_counter() - began,
                   "images_per_s": train_totals.count / max(train_seconds, 1e-9)}
            rows.append(row)
            if _better(row, best, rows):
                best = {"acc": math.nan if row["val_acc"] is None else row["val_acc"],
                        "epoch": epoch + 1, "test_acc": row["test_acc"]}
            states = distributed.gather_objects(capture_rng(loader_generator), context)
            if context.is_main:
                _save(out, epoch + 1, best, rows, states, config, data, split, spec, spec_text,
                      network, optimizer, scheduler, scaler)
                log.add(row, final=epoch + 1 == config.epochs, best_epoch=best["epoch"])
                print(epoch_line(row, config.epochs), flush=True)
        if context.is_main and rows:
            print(f"{_chosen(best, split)}; checkpoints {out / LAST} and {out / BEST}"
                  + (f"; {log.plot_note}" if log.plot_note else ""), flush=True)
        return EXIT_OK
    except KeyboardInterrupt:
        if context.is_main and out is not None:
            if (out / LAST).is_file():
                print(f"\ninterrupted: {out / LAST} holds the last completed epoch; the same command "
                      "with --resume continues from there", file=sys.stderr)
            else:  # --resume would find nothing to continue
                print(f"\ninterrupted before the first epoch ended: {out} holds no checkpoint; the "
                      "same command starts the run again", file=sys.stderr)
        raise
    finally:
        if run_lock is not None:
            run_lock.release()


def _better(row: dict[str, Any], best: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """Selection on the validation accuracy, a tie going to the lower validation loss (a split of a
    few hundred images ties often); without a split, the last epoch. Never on the test set."""
    if row["val_acc"] is None or row["val_acc"] > best["acc"]:
        return True
    chosen = rows[best["epoch"] - 1] if 0 < best["epoch"] <= len(rows) else {}
    return row["val_acc"] == best["acc"] and row["val_loss"] < (chosen.get("val_loss") or math.inf)


def _chosen(best: dict[str, Any], split: validation.Split) -> str:
    test = f"test accuracy {best['test_acc']:.2%}"
    if split.source == validation.NONE:
        return f"best.pt is the last epoch, {best['epoch']} (no validation split): {test}"
    return f"best epoch {best['epoch']} by validation accuracy {best['acc']:.2%}: {test}"


def _check_same_split(split: validation.Split, context: distributed.Context) -> None:
    """Every process must hold out the same images (a rank that differed would validate on others)."""
    digests = distributed.gather_objects(split.record(), context)
    if any(record != digests[0] for record in digests):
        raise UsageError(f"the validation split differs between processes: {digests}; the training "
                         "data must be the same files on every node")


def _claim(out: Path, context: distributed.Context) -> outdir.RunLock | None:
    """Rank 0 locks the run directory (the one process that writes there); every process learns
    whether it could, so that all stop together when another run holds it."""
    run_lock, problem = None, None
    if context.is_main:
        try:
            run_lock = outdir.claim(out)
        except UsageError as error:
            problem = str(error)
        except OSError as error:
            problem = f"--out {out}: cannot lock it for this run: {error.strerror or error}"
    problem = distributed.from_main(problem, context)
    if problem is not None:
        raise UsageError(problem)
    return run_lock


def _load_data(config: TrainConfig, input_shape: Any, context: distributed.Context) -> Any:
    def load(download: bool) -> Any:
        return load_data(config.data, Path(config.data_root).expanduser(), input_shape,
                         augment=config.augment, normalization=config.normalize, download=download)

    if not (config.download and context.distributed):
        return load(config.download)
    import torch.distributed as dist

    # One process downloads while the others wait, then they read what it fetched.
    data = load(True) if context.is_main else None
    dist.barrier()
    return data if data is not None else load(False)


def _optimizer(config: TrainConfig, network: Any) -> Any:
    import torch

    if config.optimizer == "sgd":
        return torch.optim.SGD(network.parameters(), lr=config.learning_rate, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    return torch.optim.Adam(network.parameters(), lr=config.learning_rate,
                            weight_decay=config.weight_decay)


def _loaders(data: Any, config: TrainConfig, context: distributed.Context, generator: Any,
             device: Any) -> tuple[Any, Any | None, Any]:
    from torch.utils.data import DataLoader, Subset

    per_process = config.batch_size // context.world_size
    common = {"num_workers": config.workers, "pin_memory": device.type == "cuda"}
    # Workers are not persistent: each epoch's workers are seeded afresh from `generator`, whose
    # state the checkpoint keeps, so a resumed epoch draws the same augmentations.
    # The last incomplete batch is dropped, as timm does: a batch of one would break BatchNorm, and
    # every batch then is the same set of samples on one process or split over several.
    train_loader = DataLoader(data.train, batch_size=per_process,
                              sampler=distributed.train_sampler(data.train, context, config.seed),
                              generator=generator, drop_last=True, **common)

    def evaluation_loader(dataset: Any) -> Any:
        share = Subset(dataset, distributed.test_indices(len(dataset), context))
        return DataLoader(share, batch_size=per_process, shuffle=False, **common)

    return (train_loader, evaluation_loader(data.val) if data.val is not None else None,
            evaluation_loader(data.test))


def _wrap(network: Any, config: TrainConfig, context: distributed.Context, device: Any) -> Any:
    model = network
    if context.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda"
                                        else None)
    if config.compile:
        import torch

        model = torch.compile(model)
    return model


def _summed(totals: Totals, context: distributed.Context, device: Any) -> Totals:
    return Totals.from_list(distributed.sum_over_processes(totals.as_list(), context, device))


def _resume(checkpoint: dict[str, Any], config: TrainConfig, spec_text: str, network: Any,
            optimizer: Any, scheduler: Any, scaler: Any, loader_generator: Any,
            context: distributed.Context) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    previous = checkpoint.get("config", {})
    if previous.get("optimizer", config.optimizer) != config.optimizer:
        raise UsageError(f"--resume: the run used --optimizer {previous['optimizer']}; its state cannot "
                         f"continue as {config.optimizer}")
    load_trained_weights(network, checkpoint, "--resume: the checkpoint was trained with a different "
                         f"network than {config.spec}")
    problem = f"--resume: {Path(config.out) / LAST}"
    load_entry("optimizer", lambda: optimizer.load_state_dict(checkpoint["optimizer"]), problem)
    load_entry("scheduler", lambda: scheduler.load_state_dict(checkpoint["scheduler"]), problem)
    keep_given_settings(optimizer, scheduler, config.learning_rate, config.momentum, config.weight_decay)
    if scaler is not None and checkpoint["scaler"]:
        load_entry("scaler", lambda: scaler.load_state_dict(checkpoint["scaler"]), problem)
    states = checkpoint["rng"]
    if context.rank < len(states):
        load_entry("rng", lambda: restore_rng(states[context.rank], loader_generator), problem)
    if context.is_main:
        changed = [f"--{key.replace('_', '-')} {getattr(config, key)!r} (was {previous[key]!r})"
                   for key in RESUME_SETTINGS if key in previous and previous[key] != _setting(config, key)]
        if checkpoint.get("spec") != spec_text:
            changed.append(f"spec text of {config.spec} (the weights still fit)")
        if changed:
            print(f"note: resuming with changed settings: {', '.join(changed)}", file=sys.stderr)
    best = {"acc": checkpoint["best_acc"], "epoch": checkpoint["best_epoch"],
            "test_acc": checkpoint.get("best_test_acc", math.nan)}
    return int(checkpoint["epoch"]), best, list(checkpoint["metrics"])


def _setting(config: TrainConfig, key: str) -> Any:
    value = getattr(config, key)
    return list(value) if isinstance(value, tuple) else value


def _save(out: Path, epoch: int, best: dict[str, Any], rows: list[dict[str, Any]], states: list[Any],
          config: TrainConfig, data: Any, split: validation.Split, spec: Any, spec_text: str,
          network: Any, optimizer: Any, scheduler: Any, scaler: Any) -> None:
    settings = {key: _setting(config, key) for key in asdict(config)}
    settings["normalization"] = data.normalization  # the preset actually used: eval needs it
    checkpoint = {
        "format": FORMAT, "version": VERSION,
        "model": unwrap(network).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": epoch, "best_acc": best["acc"], "best_epoch": best["epoch"],
        "best_test_acc": best["test_acc"], "validation": split.record(), "metrics": list(rows),
        "spec": spec_text, "spec_name": spec.name, "classes": list(data.classes),
        "config": settings, "rng": states,
    }
    save_checkpoint(out / LAST, checkpoint)
    if best["epoch"] == epoch:
        save_checkpoint(out / BEST, checkpoint)
