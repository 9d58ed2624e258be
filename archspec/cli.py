"""The `archspec` command line: a thin dispatcher over the modules in `archspec.commands`.

Exit codes: 0 ok; 2 invalid spec or usage (never a traceback for anything a user typed);
3 internal error (archspec's static figures disagreed with PyTorch: a bug to report).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from archspec.commands import EXIT_INVALID, UsageError, report_errors, secondary_rank
from archspec.errors import SpecError

# A fixed list: commands are never looked up from user input.
COMMAND_MODULES = (
    "archspec.commands.check",
    "archspec.commands.compile",
    "archspec.commands.schema",
    "archspec.commands.gallery",
    "archspec.commands.train",
    "archspec.commands.eval",
    "archspec.commands.export",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        if secondary_rank():
            self.exit(EXIT_INVALID)
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def make_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = _Parser(prog="archspec", description="Declarative architecture compiler for PyTorch.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands = {}
    for module_name in COMMAND_MODULES:
        command = importlib.import_module(module_name)
        command.add_arguments(subparsers.add_parser(command.NAME, help=command.HELP))
        commands[command.NAME] = command
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = make_parser()
    args = parser.parse_args(argv)
    try:
        return commands[args.command].run(args)  # type: ignore[attr-defined]
    except SpecError as error:
        return report_errors(error.errors, getattr(args, "json", False))
    except UsageError as error:
        if not secondary_rank():
            print(f"archspec {args.command}: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
