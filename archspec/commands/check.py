"""`archspec check SPEC`: the static check alone. Never imports torch."""

from __future__ import annotations

import argparse
import json

from archspec.commands import EXIT_INVALID, EXIT_OK, add_spec_arguments, add_table_arguments, report_errors
from archspec.table import render_table

NAME = "check"
HELP = "static check only: shapes, parameters, MACs, accepted input sizes (no torch)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    add_table_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    from archspec import check, load

    report = check(load(args.spec, args.set), args.input, max_memory=args.max_memory)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return EXIT_OK if report.ok else EXIT_INVALID
    if not report.ok:
        return report_errors(report.errors)
    print(render_table(report, args.depth))
    return EXIT_OK
