"""`archspec compile SPEC`: check, build the nn.Module, print its table; `--check-shapes` verifies."""

from __future__ import annotations

import argparse
import sys

from archspec.commands import EXIT_INTERNAL, EXIT_OK, add_spec_arguments, add_table_arguments, report_errors
from archspec.table import render_table

NAME = "compile"
HELP = "check, build the nn.Module and print its per-layer table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    add_table_arguments(parser)
    parser.add_argument("--check-shapes", action="store_true",
                        help="run a forward pass and verify every static shape and parameter count")


def run(args: argparse.Namespace) -> int:
    from archspec import check, load

    report = check(load(args.spec, args.set), args.input, max_memory=args.max_memory)
    if not report.ok:
        return report_errors(report.errors)

    from archspec.build import build_module
    from archspec.progress import activity
    from archspec.verify import verify_against_forward

    with activity("compile", f"building {report.spec.name}"):
        network = build_module(report)
    print(render_table(report, args.depth))
    if args.check_shapes:
        with activity("compile", "checking every module's shape with a forward pass"):
            mismatches = verify_against_forward(report, network)
        if mismatches:
            print("internal error: static figures disagree with PyTorch (please report):",
                  *mismatches, sep="\n  ", file=sys.stderr)
            return EXIT_INTERNAL
        count = sum(1 for _ in report.rows(None))
        print(f"shapes verified: all {count} modules match a real forward pass; "
              f"parameters match sum(p.numel()) = {report.params:,}")
    return EXIT_OK
