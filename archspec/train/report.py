"""What a training run shows and keeps: the progress bar, the per-epoch line, metrics.jsonl, the plot.

Only rank 0 reports. The progress bar is drawn on stderr, and only when stderr is a terminal; logs
and pipes get one plain line per epoch on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from archspec.files import write_text, write_with

METRICS, PLOT = "metrics.jsonl", "curves.png"
_BAR_WIDTH = 24
_REDRAW_SECONDS = 0.1
PLOT_SECONDS = 10.0


class ProgressBar:
    """`epoch 3/10 [#########...............] 45/120 loss 0.3210 acc 91.2%` redrawn in place."""

    def __init__(self, epoch: int, epochs: int, steps: int, stream: TextIO | None = None,
                 enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.prefix = f"epoch {epoch}/{epochs}"
        self.steps = max(steps, 1)
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
        self.stream.write(f"\r{self.prefix} [{bar}] {step}/{self.steps} loss {loss:.4f} "
                          f"acc {accuracy:.1%}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    return (f"epoch {row['epoch']}/{epochs}  loss {row['train_loss']:.4f}  "
            f"train acc {row['train_acc']:.2%}  test loss {row['test_loss']:.4f}  "
            f"test acc {row['test_acc']:.2%}  {row['seconds']:.1f} s  "
            f"{row['images_per_s']:,.0f} images/s")


class MetricsLog:
    """metrics.jsonl (one JSON object per epoch) and the curves plot, rewritten after every epoch."""

    def __init__(self, out: Path, title: str):
        self.out = out
        self.title = title
        self.rows: list[dict[str, Any]] = []
        self.plot_note: str | None = None
        self.plotted = time.monotonic()

    def start(self, rows: list[dict[str, Any]]) -> None:
        """Begin with `rows` (a resumed run's earlier epochs, from its checkpoint)."""
        self.rows = list(rows)
        self._write_jsonl()
        if self.rows:
            self._plot()
        else:  # a fresh run (--overwrite): no stale curves from the run before
            (self.out / PLOT).unlink(missing_ok=True)

    def add(self, row: dict[str, Any], final: bool) -> None:
        """Record an epoch. The plot (a few tenths of a second) is redrawn at the last epoch and at
        most every PLOT_SECONDS before, so that it never costs more time than short epochs."""
        self.rows.append(row)
        self._write_jsonl()
        if final or time.monotonic() - self.plotted >= PLOT_SECONDS:
            self._plot()

    def _write_jsonl(self) -> None:
        # Rewritten whole, atomically: a resumed run's file never keeps epochs the checkpoint lacks.
        text = "".join(json.dumps(row) + "\n" for row in self.rows)
        write_text(self.out / METRICS, text)

    def _plot(self) -> None:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            self.plot_note = "no plot: matplotlib is not installed (pip install 'archspec[train]')"
            return
        epochs = [row["epoch"] for row in self.rows]
        figure = Figure(figsize=(10, 4), layout="constrained")
        FigureCanvasAgg(figure)  # the Agg canvas: no display needed, pyplot's global state untouched
        loss_axes, accuracy_axes = figure.subplots(1, 2)
        for axes, key, label in ((loss_axes, "loss", "loss"), (accuracy_axes, "acc", "accuracy")):
            axes.plot(epochs, [row[f"train_{key}"] for row in self.rows], "o-", label=f"train {label}")
            axes.plot(epochs, [row[f"test_{key}"] for row in self.rows], "s-", label=f"test {label}")
            axes.set_xlabel("epoch")
            axes.set_ylabel(label)
            axes.grid(alpha=0.3)
            axes.legend()
        accuracy_axes.set_ylim(top=1.0)
        figure.suptitle(self.title)
        self.plotted = time.monotonic()
        write_with(self.out / PLOT, lambda file: figure.savefig(file, format="png", dpi=100))
