"""`archspec sample SPACE -n N --seed S -o DIR`: draw specs from a design space, check each, keep those
within the budgets. Never imports torch."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from archspec.commands import (
    EXIT_OK,
    UsageError,
    add_spec_path,
    at_most_per_cpu,
    parse_input,
    parse_memory,
    whole_number,
)
from archspec.files import write_texts, write_with

NAME = "sample"
HELP = "draw specs from a design space (spaces/*.yaml), check them, keep those within budgets"
MAX_SAMPLES = 1_000_000
_BAR_WIDTH, _REDRAW_SECONDS = 24, 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_path(parser, "a design space: a spec whose values may be distributions, e.g. spaces/regnet_x.yaml")
    parser.add_argument("-n", type=whole_number(1), required=True, metavar="N", help="how many samples to draw")
    parser.add_argument("--seed", type=whole_number(0), default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="DIR",
                        help="folder for the accepted specs, samples.jsonl and samples.png")
    parser.add_argument("--input", type=parse_input, metavar="CxHxW",
                        help="input shape to check (default: the space's `input`)")
    parser.add_argument("--max-params", type=_count, metavar="P", help="reject samples with more parameters")
    parser.add_argument("--max-macs", type=_count, metavar="M", help="reject samples with more MACs")
    parser.add_argument("--max-memory", type=parse_memory, metavar="SIZE",
                        help="reject samples whose estimated memory for one image exceeds SIZE (e.g. 512MiB)")
    parser.add_argument("--jobs", type=at_most_per_cpu(1, 1, "the CPUs of this machine"), metavar="J",
                        help="processes that draw and check samples (default: one per usable core, "
                        "one for fewer than 1,000 samples); the outputs do not depend on it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the outputs of an earlier `archspec sample` in DIR")


def _count(text: str) -> int:
    """'25e6', '4.2M', '600M', '1.5G' or a plain number."""
    scale = {"k": 10**3, "m": 10**6, "g": 10**9}.get(text.strip()[-1:].lower(), 1)
    number = text.strip()[:-1] if scale > 1 else text.strip()
    try:
        value = float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count such as 5000000, 5e6, 5M or 0.4G, found {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a count of at least 0, found {text!r}")
    return int(value)


class _Progress:
    """`sampling [##########..............] 4100/10000` on stderr, only where it is a terminal."""

    def __init__(self, total: int):
        self.total, self.enabled, self.drawn = total, sys.stderr.isatty(), 0.0

    def __call__(self, done: int) -> None:
        if not self.enabled or (done < self.total and time.monotonic() - self.drawn < _REDRAW_SECONDS):
            return
        self.drawn = time.monotonic()
        filled = _BAR_WIDTH * done // self.total
        sys.stderr.write(f"\rsampling [{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{self.total}\x1b[K")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _prepare(out: Path, overwrite: bool) -> list[Path]:
    """The earlier outputs in `out` to remove; UsageError if `out` holds other files (or any, without
    --overwrite)."""
    if not out.exists():
        _check_creatable(out)
        return []
    if not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    present = sorted(out.iterdir())
    ours = [p for p in present if p.name in ("samples.jsonl", "samples.png")
            or (p.name.startswith("sample-") and p.suffix == ".yaml")]
    if present and not overwrite:
        raise UsageError(f"{out} is not empty; pass --overwrite to replace an earlier sample's outputs")
    others = [p.name for p in present if p not in ours]
    if others:
        raise UsageError(f"{out} holds files that `archspec sample` did not write ({', '.join(others[:3])}); "
                         "choose an empty folder")
    return ours


def _check_creatable(out: Path) -> None:
    """UsageError, before any sample is drawn, where the folder `out` cannot be made."""
    ancestor = out.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"cannot create the folder {out}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"cannot create the folder {out}: no permission to create folders in {ancestor}")


def run(args: argparse.Namespace) -> int:
    from archspec.sample import PLOT, Budget, outputs, summary
    from archspec.sample_parallel import default_jobs, run_samples

    if args.n > MAX_SAMPLES:
        raise UsageError(f"expected at most {MAX_SAMPLES:,} samples, found -n {args.n:,}")
    stale = _prepare(args.out, args.overwrite)
    budget = Budget(args.max_params, args.max_macs, args.max_memory)
    jobs = args.jobs if args.jobs is not None else default_jobs(args.n)
    progress = _Progress(args.n)
    try:
        samples = run_samples(args.spec, args.seed, args.input, budget, args.n, jobs, progress)
    finally:
        progress.close()
    # Written only once every sample is drawn: a bad space leaves the folder as it was.
    for path in stale:
        path.unlink()
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        write_texts(args.out, outputs(samples, str(args.spec), args.seed))
        plot_note = plot(samples, budget, args.out / PLOT, str(args.spec))
    except OSError as error:  # a full disk, or the folder changed while sampling
        raise UsageError(f"cannot write {error.filename or args.out}: {error.strerror or error}") from None
    print(summary(samples))
    print(f"wrote {args.out}/: the accepted specs, samples.jsonl" + ("" if plot_note else ", samples.png"))
    if plot_note:
        print(plot_note)
    return EXIT_OK


def plot(samples: list, budget: object, target: Path, title: str) -> str | None:
    """samples.png: MACs against parameters, accepted and rejected apart, the budgets as lines. Fixed
    metadata, so that the same samples give the same bytes. A note instead where matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return "no samples.png: matplotlib is not installed (pip install 'archspec[train]')"
    figure = Figure(figsize=(7, 5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    # Rejected samples with figures are those over a budget (the others have no figures to plot).
    for status, label, colour in (("accepted", "accepted", "tab:blue"),
                                  ("rejected", "rejected: over a budget", "tab:orange")):
        placed = [s for s in samples if s.status == status and s.params is not None]
        axes.scatter([s.params for s in placed], [s.macs for s in placed], s=8, c=colour, alpha=0.6,
                     label=f"{label} ({len(placed):,})")
    if getattr(budget, "params", None) is not None:
        axes.axvline(budget.params, color="tab:red", linestyle="--", label="parameter budget")  # type: ignore[attr-defined]
    if getattr(budget, "macs", None) is not None:
        axes.axhline(budget.macs, color="tab:purple", linestyle="--", label="MAC budget")  # type: ignore[attr-defined]
    if any(s.params for s in samples):  # sizes span orders of magnitude
        axes.set_xscale("log")
        axes.set_yscale("log")
    axes.set_xlabel("parameters")
    axes.set_ylabel("MACs")
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(title)
    write_with(target, lambda file: figure.savefig(file, format="png", dpi=100, metadata={"Software": None}))
    return None
