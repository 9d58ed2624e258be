"""`archspec eval SPEC --checkpoint PATH`: test loss and accuracy of a trained spec."""

from __future__ import annotations

import argparse

from archspec.commands import add_set_argument, add_spec_path
from archspec.commands.train import add_data_arguments

NAME = "eval"
HELP = "test accuracy and loss of a checkpoint from `archspec train` (and its confusion matrix)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_path(parser, "the spec the checkpoint was trained from")
    add_set_argument(parser)
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="last.pt or best.pt of a run")
    add_data_arguments(parser, required=False)
    parser.add_argument("--batch-size", type=int, default=256, metavar="B",
                        help="images per evaluation batch (default 256)")
    parser.add_argument("--split", choices=["test", "val"], default="test",
                        help="test (default) or the run's validation split (rebuilt from the checkpoint)")
    parser.add_argument("--amp", action="store_true", help="evaluate in mixed precision")
    parser.add_argument("--confusion", action="store_true",
                        help="also print the confusion matrix (rows: true class, columns: predicted)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from archspec.train.evaluation import evaluate_checkpoint

    return evaluate_checkpoint(args)
