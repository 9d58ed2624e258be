"""One module per CLI command. Each defines `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int`. A command module must not import torch at import time (import it inside `run`),
so that `archspec check` stays torch-free.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from archspec._resolving import SCALE_OVERRIDE
from archspec.budget import DEFAULT_MAX_MEMORY, parse_bytes
from archspec.errors import Diagnostic
from archspec.shapes import Shape, input_shape

EXIT_OK, EXIT_INVALID, EXIT_INTERNAL = 0, 2, 3


class UsageError(Exception):
    """A bad command-line request (not a bad spec): printed as one line, exit code 2."""


def parse_input(text: str) -> Shape:
    """'3x224x224' -> (3, 224, 224)."""
    parts = text.lower().replace("×", "x").split("x")
    shape = input_shape([int(p) if p.isdecimal() else None for p in parts])
    if shape is None:
        raise argparse.ArgumentTypeError(
            f"expected CHANNELSxHEIGHTxWIDTH with positive whole numbers, e.g. 3x224x224; found {text!r}")
    return shape


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_path(parser, "path to a YAML spec, e.g. specs/resnet18.yaml")
    add_set_argument(parser)
    parser.add_argument("--input", type=parse_input, metavar="CxHxW",
                        help="input shape to check (default: the spec's `input`)")
    parser.add_argument("--max-memory", type=parse_memory, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                        help="refuse a network whose estimated memory for one image exceeds SIZE "
                             "(e.g. 512MiB, 16GiB, or `none`; default 4GiB)")


def add_spec_path(parser: argparse.ArgumentParser, help_text: str) -> None:
    """The SPEC argument: always a file's path (a Path), never YAML text, even when it holds a `:`
    (`we:ird.yaml`, `C:\\specs\\net.yaml`), which `archspec.load` would take for YAML given a str."""
    parser.add_argument("spec", type=Path, help=help_text)


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""
    def parse(text: str) -> int:
        if not text.strip().isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}, found {text!r}")
        return int(text)

    return parse


def at_most_per_cpu(minimum: int, per_cpu: int, limit_name: str) -> Callable[[str], int]:
    """An argparse type: a whole number from `minimum` to `per_cpu` x this machine's CPUs. More
    threads or processes only compete for the same CPUs, and a huge count exhausts the memory
    (`--threads 100000` failed with a MemoryError; `sample --jobs 100000` started as many processes)."""
    count = whole_number(minimum)

    def parse(text: str) -> int:
        value = count(text)
        limit = per_cpu * (os.cpu_count() or 1)
        if value > limit:
            raise argparse.ArgumentTypeError(f"expected at most {limit} ({limit_name}), found {text!r}")
        return value

    return parse


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], type=parse_set_argument, metavar="PATH=VALUE",
                        help="change a value of the spec before it is checked (repeatable; VALUE is "
                             "YAML): head[-1].width=10, stages[1].repeats=4, shortcut=A, or a var: classes=10")
    parser.add_argument("--scale", action="append", dest="set", type=parse_scale_argument, metavar="NAME",
                        help="scale the spec by one of its named `scales` (after --set and vars)")


def parse_set_argument(text: str) -> str:
    path, equals, _ = text.partition("=")
    if not equals or not path.strip():
        raise argparse.ArgumentTypeError(f"expected PATH=VALUE, e.g. head[-1].width=10 or classes=10; "
                                         f"found {text!r}")
    return text


def parse_scale_argument(text: str) -> str:
    """`--scale s` travels with --set's overrides as `--scale=s`: `archspec train` records it with
    them, and eval and export apply it again."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise argparse.ArgumentTypeError(f"expected the name of one of the spec's `scales`, found {text!r}")
    return f"{SCALE_OVERRIDE}={text}"


def spec_overrides(args: argparse.Namespace) -> list[str]:
    """--set, after the overrides recorded in the `archspec train` checkpoint given to --checkpoint or
    --weights: the run's network again, without repeating its --set."""
    checkpoint = getattr(args, "checkpoint", None) or getattr(args, "weights", None)
    return [*(recorded_overrides(checkpoint) if checkpoint else []), *args.set]


def recorded_overrides(path: object) -> list[str]:
    """The --set of the run that wrote a checkpoint; [] for any other file (its errors come later)."""
    import torch

    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # an unreadable file is reported where its weights are read
        return []
    config = content.get("config") if isinstance(content, dict) else None
    recorded = config.get("overrides") if isinstance(config, dict) else None
    return [str(text) for text in recorded] if isinstance(recorded, list) else []


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """The per-layer table's options, shared by `check` and `compile`."""
    parser.add_argument("--depth", type=whole_number(0), default=1, metavar="N",
                        help="table depth: 0 top level, 1 blocks (default), 2 layers in blocks")


def parse_memory(text: str) -> int | None:
    """'4GiB' -> 4294967296; 'none' -> None (no budget)."""
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    try:
        return parse_bytes(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def secondary_rank() -> bool:
    """True in the processes of a torchrun launch other than rank 0 (torchrun sets all three
    variables; a stray RANK alone is not a launch). A usage or spec error is the same in every
    process (the same arguments, the same spec), so only rank 0 prints it."""
    launch = all(name in os.environ for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    return launch and os.environ["RANK"] != "0"


def report_usage_error(prefix: str, message: str, as_json: bool, hint: str | None = None) -> int:
    """Prints a bad request as `PREFIX: error: MESSAGE` on stderr or, with --json, as the JSON object
    that `report_errors` prints (a script reads one shape whatever failed); returns exit code 2."""
    if secondary_rank():
        return EXIT_INVALID
    if as_json:
        return report_errors([Diagnostic((), message, hint)], as_json=True)
    print(_escaped(f"{prefix}: error: {message}"), file=sys.stderr)
    return EXIT_INVALID


def _escaped(text: str) -> str:
    """`text` with any lone surrogate (from command-line bytes that were not UTF-8) written as `\\udcff`,
    as Python's stderr writes it, so that the message is the same on any stream."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def report_errors(errors: Sequence[Diagnostic], as_json: bool = False) -> int:
    """Prints a spec's errors (terminal form on stderr, or JSON on stdout); returns exit code 2."""
    if secondary_rank():
        return EXIT_INVALID
    if as_json:
        # The keys of Report.to_json(), so that scripts read one shape whatever failed.
        print(json.dumps({"ok": False, "name": None, "input_shape": None, "output_shape": None,
                          "params": None, "macs": None, "input_range": None, "memory_bytes": None,
                          "errors": [d.to_json() for d in errors], "notes": []}, indent=2))
    else:
        print(_escaped("\n".join(d.render() for d in errors)), file=sys.stderr)
        print(f"{len(errors)} error{'s' if len(errors) != 1 else ''}", file=sys.stderr)
    return EXIT_INVALID
