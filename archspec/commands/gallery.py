"""`archspec gallery [FOLDER] [--write README.md]`: a markdown table of every spec in a folder.

One row per spec (sorted by file name): its name (linking to the file), input, parameters, MACs, output
and the input sizes it accepts, all from the static check, never typed by hand. With `--write FILE` the
table replaces what stands between the `<!-- gallery:start -->` and `<!-- gallery:end -->` lines of
FILE, and nothing else. Static only: never imports torch.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from urllib.parse import quote

from archspec import files
from archspec.commands import EXIT_OK, UsageError
from archspec.errors import Diagnostic, SpecError
from archspec.shapes import show

NAME = "gallery"
HELP = "markdown table of every spec in a folder (parameters, MACs, accepted sizes); --write README.md"
START, END = "<!-- gallery:start -->", "<!-- gallery:end -->"
MAX_SPECS = 1_000  # a gallery is for people to read; a folder with more is a mistake


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", default="specs", help="folder of *.yaml specs (default: specs)")
    parser.add_argument("--write", metavar="FILE", type=Path,
                        help=f"replace the text between the {START} and {END} lines of FILE "
                             "(e.g. README.md) instead of printing the table")


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    links_from = args.write.parent if args.write else Path(".")
    if args.write:
        original = _read(args.write)
        _between_markers(original, args.write)  # refuse before the (slower) checks if markers are off
    table = render_gallery(folder, links_from)
    if not args.write:
        print(table)
        return EXIT_OK
    updated = replace_gallery(original, table, args.write)
    if updated != original:
        _write_whole(args.write, updated)
    print(f"{args.write}: gallery of {len(table.splitlines()) - 2} specs written")
    return EXIT_OK


def render_gallery(folder: Path, links_from: Path = Path(".")) -> str:
    """The markdown table; raises SpecError listing the errors of every invalid spec in `folder`."""
    from archspec import check, load

    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder of specs")
    files = sorted(folder.glob("*.yaml"), key=lambda file: (file.stem, file.name))
    if not files:
        raise UsageError(f"{folder} holds no *.yaml specs")
    if len(files) > MAX_SPECS:
        raise UsageError(f"{folder} holds {len(files)} specs; a gallery takes at most {MAX_SPECS}")
    lines = ["| spec | input | parameters | MACs | output | accepted input sizes |",
             "| --- | --- | ---: | ---: | --- | --- |"]
    errors: list[Diagnostic] = []
    for file in files:
        try:
            report = check(load(file))
        except SpecError as error:
            errors += error.errors
            continue
        if not report.ok:
            errors += report.errors
            continue
        # percent-encoded: a space or parenthesis ends a markdown link, a `|` ends the table's cell
        link = quote(Path(os.path.relpath(file, links_from)).as_posix())
        accepted = report.input_range.describe() if report.input_range else ""
        lines.append(f"| [`{report.spec.name}`]({link}) | {show(report.input_shape)} | {report.params:,} "
                     f"| {_with_unit(report.macs)} | {show(report.output_shape or ())} | {accepted} |")
    if errors:
        raise SpecError(errors)
    return "\n".join(lines)


def _with_unit(macs: int) -> str:
    """1_814_073_344 -> '1.814 G', as torchvision publishes `_ops`; 416_520 -> '416.5 K'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if macs >= scale:
            return f"{macs / scale:.3f} {unit}" if unit == "G" else f"{macs / scale:.1f} {unit}"
    return str(macs)


def replace_gallery(text: str, table: str, where: Path | str = "the file") -> str:
    """`text` with the lines between the markers replaced by `table`; the markers themselves stay."""
    start, end = _between_markers(text, where)
    return text[:start] + "\n" + table + "\n" + text[end:]


def _between_markers(text: str, where: Path | str) -> tuple[int, int]:
    """(index just after the start marker, index of the end marker); UsageError unless each occurs once,
    start before end."""
    counts = {marker: text.count(marker) for marker in (START, END)}
    if counts[START] != 1 or counts[END] != 1 or text.index(START) > text.index(END):
        raise UsageError(f"{where} must hold one {START} line and, after it, one {END} line "
                         f"(found {counts[START]} and {counts[END]}); add them where the gallery goes")
    return text.index(START) + len(START), text.index(END)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"cannot read {path}: expected UTF-8 text, found the byte 0x{error.object[error.start]:02x} "
                         f"at byte offset {error.start}") from None


def _write_whole(path: Path, text: str) -> None:
    try:
        files.write_text(path, text)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None
