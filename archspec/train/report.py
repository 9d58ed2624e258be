"""What a training run shows and keeps: the progress bar, the per-epoch line, metrics.jsonl, the plot.

Only rank 0 reports. The progress bar is drawn on stderr, and only when stderr is a terminal; logs
and pipes get one plain line per epoch on stdout. Both give the rate (images/s) and the time left,
for the epoch (the bar) and for the run.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from archspec.files import write_text, write_with

METRICS, PLOT = "metrics.jsonl", "curves.png"
_BAR_WIDTH = 24
_REDRAW_SECONDS = 0.1
PLOT_SECONDS = 10.0


def json_line(row: dict[str, Any], indent: int | None = None) -> str:
    """`row` as strict JSON: a diverged run's nan (or inf) loss is null, since `NaN` is no JSON and
    breaks strict readers (jq, JavaScript); the printed epoch line keeps showing `nan`."""
    finite = {key: None if isinstance(value, float) and not math.isfinite(value) else value
              for key, value in row.items()}
    return json.dumps(finite, indent=indent, allow_nan=False)


def duration(seconds: float) -> str:
    """12s, 3m05s, 1h02m: short enough for a progress line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressBar:
    """`epoch 3/10 [#########.....] 45/120 loss 0.3210 acc 91.2% 2,310 img/s, epoch 4s left, run 1m02s
    left` redrawn in place. The times left assume the current rate holds (evaluation not counted)."""

    def __init__(self, epoch: int, epochs: int, steps: int, stream: TextIO | None = None,
                 enabled: bool | None = None, images_per_step: int = 0):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.prefix = f"epoch {epoch}/{epochs}"
        self.steps = max(steps, 1)
        self.later_epochs = epochs - epoch
        self.images_per_step = images_per_step
        self.began = time.monotonic()
        self.last_draw = 0.0

    @property
    def wants_update(self) -> bool:
        """Whether drawing now is worthwhile (callers skip computing figures otherwise)."""
        return self.enabled and time.monotonic() - self.last_draw >= _REDRAW_SECONDS

    def update(self, step: int, loss: float, accuracy: float) -> None:
        if not self.enabled:
            return
        self.last_draw = time.monotonic()
        filled = _BAR_WIDTH * step // self.steps
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        per_step = (self.last_draw - self.began) / max(step, 1)
        epoch_left = per_step * (self.steps - step)
        rate = f" {self.images_per_step / per_step:,.0f} img/s," if self.images_per_step and per_step else ""
        self.stream.write(f"\r{self.prefix} [{bar}] {step}/{self.steps} loss {loss:.4f} "
                          f"acc {accuracy:.1%}{rate} epoch {duration(epoch_left)} left, run "
                          f"{duration(epoch_left + per_step * self.steps * self.later_epochs)} left\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    validation = (f"val loss {row['val_loss']:.4f}  val acc {row['val_acc']:.2%}  "
                  if row.get("val_acc") is not None else "")
    return (f"epoch {row['epoch']}/{epochs}  loss {row['train_loss']:.4f}  "
            f"train acc {row['train_acc']:.2%}  {validation}test loss {row['test_loss']:.4f}  "
            f"test acc {row['test_acc']:.2%}  {row['seconds']:.1f} s  "
            f"{row['images_per_s']:,.0f} images/s  run {duration(row['seconds'] * (epochs - row['epoch']))} left")


class MetricsLog:
    """metrics.jsonl (one JSON object per epoch) and the curves plot, rewritten after every epoch."""

    def __init__(self, out: Path, title: str):
        self.out = out
        self.title = title
        self.rows: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.plot_note: str | None = None
        self.plotted = time.monotonic()

    def start(self, rows: list[dict[str, Any]], best_epoch: int | None = None) -> None:
        """Begin with `rows` (a resumed run's earlier epochs, from its checkpoint)."""
        self.rows, self.best_epoch = list(rows), best_epoch
        self._write_jsonl()
        if self.rows:
            self._plot()
        else:  # a fresh run (--overwrite): no stale curves from the run before
            (self.out / PLOT).unlink(missing_ok=True)

    def add(self, row: dict[str, Any], final: bool, best_epoch: int | None = None) -> None:
        """Record an epoch. The plot (a few tenths of a second) is redrawn at the last epoch and at
        most every PLOT_SECONDS before, so that it never costs more time than short epochs."""
        self.rows.append(row)
        self.best_epoch = best_epoch
        self._write_jsonl()
        if final or time.monotonic() - self.plotted >= PLOT_SECONDS:
            self._plot()

    def _write_jsonl(self) -> None:
        # Rewritten whole, atomically: a resumed run's file never keeps epochs the checkpoint lacks.
        text = "".join(json_line(row) + "\n" for row in self.rows)
        write_text(self.out / METRICS, text)

    def _plot(self) -> None:
        try:
            figure = curves_figure(self.rows, self.best_epoch, self.title)
        except ImportError:
            self.plot_note = "no plot: matplotlib is not installed (pip install 'archspec[train]')"
            return
        self.plotted = time.monotonic()
        write_with(self.out / PLOT, lambda file: figure.savefig(file, format="png", dpi=100))


SERIES = (("train", "o-"), ("val", "^-"), ("test", "s-"))


def curves_figure(rows: list[dict[str, Any]], best_epoch: int | None, title: str) -> Any:
    """The figure of curves.png: loss (left) and accuracy (right) of train, validation and test per
    epoch, the learning rate on its own axis beside the loss, and the best epoch marked on both."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in rows]
    figure = Figure(figsize=(11, 4), layout="constrained")
    FigureCanvasAgg(figure)  # the Agg canvas: no display needed, pyplot's global state untouched
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for axes, key, label in ((loss_axes, "loss", "loss"), (accuracy_axes, "acc", "accuracy")):
        for split, style in SERIES:
            points = [(row["epoch"], row[f"{split}_{key}"]) for row in rows
                      if row.get(f"{split}_{key}") is not None]  # no val_* without a split
            if points:
                axes.plot(*zip(*points, strict=True), style, label=f"{split} {label}")
        if best_epoch:
            axes.axvline(best_epoch, color="gray", linestyle="--", label=f"best epoch ({best_epoch})")
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    accuracy_axes.set_ylim(top=1.0)
    rate_axes = loss_axes.twinx()
    rates = [row.get("lr") for row in rows]
    if all(isinstance(rate, (int, float)) for rate in rates) and rates:
        rate_axes.plot(epochs, rates, ":", color="tab:purple", label="learning rate")
        if min(rates) > 0 and max(rates) / min(rates) > 20:  # a step or cosine schedule
            rate_axes.set_yscale("log")
    rate_axes.set_ylabel("learning rate")
    handles, labels = loss_axes.get_legend_handles_labels()
    rate_handles, rate_labels = rate_axes.get_legend_handles_labels()
    loss_axes.legend(handles + rate_handles, labels + rate_labels, fontsize="small")
    accuracy_axes.legend(fontsize="small")
    figure.suptitle(title)
    return figure
