"""`archspec eval`: a checkpoint's test (or validation) loss, accuracy and confusion matrix.

The dataset and its normalisation default to the training run's (from the checkpoint's config), so
`eval` measures what the run's per-epoch line reported (exactly, in the same precision: a run trained
with --amp reported its figures under autocast, which `eval` uses only with --amp; in float32 the loss
can differ in its last digits). `--split val` rebuilds the run's
validation split from the seed and fraction in the checkpoint, and checks it is the same images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from archspec.commands import EXIT_OK, UsageError
from archspec.train import threads
from archspec.train.checkpoint import load_checkpoint
from archspec.train.data import known_class_count, load_data
from archspec.train.distributed import Context, pick_device
from archspec.train.network import build_network, check_classes, checked_spec, load_trained_weights
from archspec.train.report import json_line
from archspec.train.steps import Precision, evaluate
from archspec.train.validation import NONE, check_same
from archspec.train.validation import split as hold_out


def evaluate_checkpoint(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.workers < 0:
        raise UsageError("--batch-size must be at least 1 and --workers zero or positive")
    checkpoint = load_checkpoint(Path(args.checkpoint))
    trained = checkpoint.get("config", {})
    # The run's --set first (the same network without repeating them), then this command's.
    spec, report, spec_text = checked_spec(args.spec, [*trained.get("overrides", []), *args.set])
    threads.apply(args.threads, report.macs, args.batch_size)
    data_name = args.data or trained.get("data")
    if not data_name:
        raise UsageError("--data is needed: the checkpoint does not say which dataset it was trained on")
    classes = known_class_count(data_name)
    if classes is not None:
        check_classes(spec, report, classes, data_name)
    data = load_data(data_name, Path(args.data_root).expanduser(), report.input_shape,
                     normalization=args.normalize or trained.get("normalization"),
                     download=args.download)
    check_classes(spec, report, len(data.classes), data_name)
    evaluated, split_name = (data.test, "test") if args.split == "test" else (_validation_set(
        data, checkpoint, data_name != trained.get("data")), "validation")

    from torch.utils.data import DataLoader

    device = pick_device(args.device, Context())
    network = build_network(report, device, channels_last=False)
    load_trained_weights(network, checkpoint, f"{args.checkpoint} does not fit {args.spec}")
    if checkpoint.get("spec") not in (None, spec_text):
        print(f"note: {args.spec} differs from the spec text stored in the checkpoint "
              "(the weights fit)", file=sys.stderr)
    loader = DataLoader(evaluated, batch_size=args.batch_size, shuffle=False, num_workers=args.workers,
                        pin_memory=device.type == "cuda")
    totals, confusion = evaluate(network, loader, Precision(device, args.amp), len(data.classes))
    result = {"data": data_name, "split": args.split, "images": int(totals.count), "correct": int(totals.correct),
              "accuracy": totals.accuracy, "loss": totals.mean_loss,
              "epoch": checkpoint.get("epoch"), "classes": list(data.classes)}
    if args.confusion:
        result["confusion"] = confusion.tolist()
    if args.json:
        print(json_line(result, indent=2))
        return EXIT_OK
    epochs = checkpoint.get("epoch")
    print(f"{spec.name} after {epochs} epoch{'' if epochs == 1 else 's'} on {data_name} ({data.location}): "
          f"{split_name} accuracy {totals.accuracy:.2%} ({int(totals.correct):,}/{int(totals.count):,}), "
          f"{split_name} loss {totals.mean_loss:.4f}")
    if args.confusion:
        print(render_confusion(confusion.tolist(), list(data.classes)))
    return EXIT_OK


def _validation_set(data: Any, checkpoint: dict[str, Any], other_data: bool) -> Any:
    """The run's validation images: the same split, rebuilt and checked against the record."""
    record = checkpoint.get("validation")
    if other_data or record is None or record["source"] == NONE:
        raise UsageError("--split val: " + ("the run had no validation split" if not other_data
                                            else "the validation split belongs to the run's own --data")
                         + "; use --split test")
    data, split = hold_out(data, record["fraction"], record["seed"])
    check_same(record, split, "--split val")
    return data.val


def render_confusion(matrix: list[list[int]], classes: list[str]) -> str:
    """The matrix as a table: rows are true classes, columns predictions, then each class's recall."""
    labels = [_short(name) for name in classes]
    largest = max((count for row in matrix for count in row), default=0)
    cell = max(len(str(largest)), *(len(label) for label in labels), 3)
    name_width = max(len("true"), *(len(label) for label in labels))
    lines = ["true".ljust(name_width) + " " + " ".join(f"{label:>{cell}}" for label in labels)
             + "  recall"]
    for index, (label, row) in enumerate(zip(labels, matrix, strict=True)):
        total = sum(row)
        recall = f"{row[index] / total:.1%}" if total else "-"
        lines.append(f"{label:<{name_width}} " + " ".join(f"{count:>{cell}}" for count in row)
                     + f"  {recall:>6}")
    return "\n".join(lines)


def _short(name: Any) -> str:
    """A class name short enough for a column: "T-shirt/top" stays, "0 - zero" becomes "0"."""
    text = str(name)
    return text.split(" - ")[0] if " - " in text else text[:12]
