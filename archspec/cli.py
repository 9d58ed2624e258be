"""The `archspec` command line: a thin dispatcher over the modules in `archspec.commands`.

Exit codes: 0 ok; 2 invalid spec or usage (never a traceback for anything a user typed);
3 internal error (archspec's static figures disagreed with PyTorch: a bug to report).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence
from typing import IO

from archspec import __version__
from archspec.commands import UsageError, report_errors, report_usage_error, secondary_rank
from archspec.errors import SpecError

# A fixed list: commands are never looked up from user input.
COMMAND_MODULES = (
    "archspec.commands.check",
    "archspec.commands.compile",
    "archspec.commands.schema",
    "archspec.commands.blocks",
    "archspec.commands.gallery",
    "archspec.commands.train",
    "archspec.commands.eval",
    "archspec.commands.export",
    "archspec.commands.scale",
    "archspec.commands.sample",
    "archspec.commands.completion",
)


class _BadArguments(Exception):
    """argparse refused the command line; `main` reports it (as text or, with --json, as JSON)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser, self.message = parser, message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise _BadArguments(self, message)

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        # argparse's own ignores an OSError: `--version` or `--help` into a full disk or /dev/full
        # (unbuffered) then exited 0 with its text lost. Let `main` report it as any failed write.
        if message:
            (file or sys.stderr).write(message)


def _asks_for_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for --json (argparse also accepts an abbreviation, `--js`)."""
    options = argv[:list(argv).index("--")] if "--" in argv else argv
    return any(len(token) >= 3 and "--json".startswith(token) for token in options)


def _report_bad_arguments(bad: _BadArguments, as_json: bool) -> int:
    usage = bad.parser.format_usage().strip()
    if not as_json and not secondary_rank():
        print(usage, file=sys.stderr)
    return report_usage_error(bad.parser.prog, bad.message, as_json, hint=" ".join(usage.split()))


def command_name(module_name: str) -> str:
    """A command's name is its module's (`archspec.commands.check` -> `check`; a test checks NAME)."""
    return module_name.rpartition(".")[2]


def make_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, object]]:
    """The parser of every command; with `only`, one in which only that command has its arguments
    (and its module imported): the others keep their names, so usage lines and errors read the same,
    but importing their modules (training, export) would only slow that command's start."""
    parser = _Parser(prog="archspec", description="Declarative architecture compiler for PyTorch.")
    parser.add_argument("--version", action="version", version=f"archspec {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands = {}
    for module_name in COMMAND_MODULES:
        if only is not None and command_name(module_name) != only:
            subparsers.add_parser(command_name(module_name))  # never parsed in this run
            continue
        command = importlib.import_module(module_name)
        command.add_arguments(subparsers.add_parser(command.NAME, help=command.HELP))
        commands[command.NAME] = command
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            # Flushed here, not at exit, so that a failed write is reported below: argparse's --version
            # and --help end in SystemExit(0), and Python's flush at exit fails without a word or status.
            sys.stdout.flush()
    except BrokenPipeError:
        # Whoever read the output stopped reading (`archspec compile SPEC | head`): stop quietly, as
        # `cat` does, instead of a traceback. Python flushes stdout again at exit, which would fail
        # and complain once more: point it at /dev/null first (Python's documented recipe, exit 1).
        _stdout_to_devnull()
        return 1
    except OSError as error:
        if error.errno not in _FULL_OUTPUT:
            raise
        # `archspec check SPEC > /dev/full`, a full disk or quota: the output cannot be written. Say
        # so in one line; stdout goes to /dev/null so that Python's flush at exit fails no more.
        _stdout_to_devnull()
        print(f"archspec: error: cannot write the output: {error.strerror}", file=sys.stderr)
        return 1


# The errors of writing to a device or file that takes no more: the output's, not a bug's.
_FULL_OUTPUT = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


# A path that names nothing the command could use, whatever it is for.
_UNUSABLE_PATH = frozenset({errno.ENAMETOOLONG, errno.EACCES})


def _stdout_to_devnull() -> None:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # A command line that starts with a command's name is parsed by that command alone; any other
    # (--help, --version, a mistake) by the whole parser, which lists every command.
    named = {command_name(module_name) for module_name in COMMAND_MODULES}
    parser, commands = make_parser(argv[0] if argv and argv[0] in named else None)
    try:
        args = parser.parse_args(argv)
    except _BadArguments as bad:  # argparse's convention, kept: a usage error exits via SystemExit
        raise SystemExit(_report_bad_arguments(bad, _asks_for_json(argv))) from None
    as_json = getattr(args, "json", False)
    try:
        return commands[args.command].run(args)  # type: ignore[attr-defined]
    except SpecError as error:
        return report_errors(error.errors, as_json)
    except UsageError as error:
        return report_usage_error(f"archspec {args.command}", str(error), as_json)
    except OSError as error:
        # Python before 3.14 raises from a path probe (`is_dir()`, `exists()`) where a path the user typed
        # is too long a name, or lies in a folder that cannot be searched: each command's checks of its
        # paths would otherwise end in a traceback.
        if error.errno not in _UNUSABLE_PATH or error.filename is None:
            raise
        return report_usage_error(f"archspec {args.command}", f"cannot use {error.filename}: {error.strerror}",
                                  as_json, "give a shorter path, or one in a folder you can read")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
