"""`archspec export SPEC --format F -o PATH`: the checked network as standalone PyTorch source, ONNX,
a torch.export program, or a diagram (SVG, DOT). Imports torch only for the formats that need it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from archspec.commands import EXIT_OK, UsageError, add_spec_arguments, report_errors, spec_overrides
from archspec.export import FORMATS, ExportError
from archspec.progress import activity

NAME = "export"
HELP = "write the network as PyTorch source, ONNX, a torch.export program, or an SVG/DOT diagram"
_BY_SUFFIX = {**{f.suffix: f.name for f in FORMATS.values()}, ".gv": "dot"}
STDOUT = "-"  # `-o -`: the text formats go to standard output, as `archspec scale -o -` does
_TEXT_FORMATS = ("python", "svg", "dot")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--format", "-f", choices=list(FORMATS), metavar="FORMAT",
                        help="; ".join(f"{f.name}: {f.help}" for f in FORMATS.values())
                        + " (default: from the suffix of -o)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="file to write, or `-` for standard output (python, svg, dot) (default: the "
                             "spec's name with the format's suffix, e.g. resnet18.onnx, in the current folder)")
    parser.add_argument("--weights", type=Path, metavar="CHECKPOINT",
                        help="load trained weights first: an `archspec train` checkpoint or a "
                             "state_dict (python also writes them as a state_dict beside the source)")


def run(args: argparse.Namespace) -> int:
    from archspec import check, load

    spec = load(args.spec, spec_overrides(args))
    name, target = _format_and_target(args, spec.name)
    if target is None and name == "python" and args.weights:
        raise UsageError("-f python --weights writes the state_dict to a file beside the source, named "
                         "after it; give -o PATH.py, not -o -")
    try:
        from archspec.export.output import check_target

        inputs = {"the spec being exported": args.spec, "the checkpoint given to --weights": args.weights,
                  **_imported_files(spec)}
        if target is not None:
            check_target(target)  # before any slow work: an unwritable path fails at once
            replaced = _replaced_input(target, inputs)
            if replaced:
                raise ExportError(f"-o {target} is {replaced}: the export would replace it; choose another -o")
        weights_target = target.with_suffix(".pt") if target and name == "python" and args.weights else None
        if weights_target is not None:
            _check_weights_target(weights_target, target, inputs)
        report = check(spec, args.input, max_memory=args.max_memory)
        if not report.ok:
            return report_errors(report.errors)
        if name in ("onnx", "exported"):
            _refuse_keyword_names(report, name)  # from the static names: before building anything
        started = time.perf_counter()
        with activity("export", f"writing {target} ({name})"):
            written, note = _export(name, report, target, args.weights, weights_target)
    except ExportError as error:
        raise UsageError(str(error)) from None
    if target is None:  # standard output holds the text alone
        return EXIT_OK
    size = sum(path.stat().st_size for path in written)
    print(f"wrote {' and '.join(map(str, written))} ({_size(size)}, {time.perf_counter() - started:.1f} s)"
          + (f": {note}" if note else ""))
    return EXIT_OK


def _export(name: str, report, target: Path | None, weights: Path | None,
            weights_target: Path | None) -> tuple[list[Path], str]:
    """Writes `target` (and, for python with --weights, the state_dict beside it); what it wrote.
    A text format's target None: standard output."""
    if not FORMATS[name].needs_module and weights is None:
        return _write_diagram(name, report, target), ""
    import torch

    from archspec.build import build_module
    from archspec.export.weights import load_weights

    if name == "python" and weights is None:
        with torch.device("meta"):  # the source needs the layers' settings, not their values
            network = build_module(report)
    else:
        network = build_module(report)
    if weights is not None:
        load_weights(network, weights, report.spec.name)
    if name == "python":
        return _write_python(report, network, target, weights_target), ""
    untrained = "" if weights else "; untrained: freshly initialised weights (give --weights CHECKPOINT)"
    if name == "onnx":
        from archspec.export.onnx import export_onnx

        return [target], export_onnx(network, report.input_shape, target) + untrained
    if name == "exported":
        from archspec.export.exported import export_program

        return [target], export_program(network, report.input_shape, target) + untrained
    return _write_diagram(name, report, target), "the weights fit the spec (a diagram does not show them)"


def _write_python(report, network, target: Path | None, weights_target: Path | None) -> list[Path]:
    import torch

    from archspec.export.output import staged
    from archspec.export.python_source import python_source

    source = python_source(report, network, weights_target.name if weights_target else None)
    if target is None or weights_target is None:
        return _write_text(target, source)
    with staged(target) as source_file:
        source_file.write_text(source, encoding="utf-8")
        with staged(weights_target) as weights_file:  # both files appear, or neither
            torch.save(network.state_dict(), weights_file)
    return [target, weights_target]


def _write_diagram(name: str, report, target: Path | None) -> list[Path]:
    from archspec.export.diagram import diagram, dot
    from archspec.export.svg import svg

    return _write_text(target, svg(diagram(report)) if name == "svg" else dot(report))


def _write_text(target: Path | None, text: str) -> list[Path]:
    from archspec.export.output import write_text

    if target is None:
        sys.stdout.write(text)
        return []
    write_text(target, text)
    return [target]


def _format_and_target(args: argparse.Namespace, spec_name: str) -> tuple[str, Path | None]:
    """The format, and the file to write (None: standard output)."""
    if args.output == STDOUT:
        if args.format is None:
            raise UsageError(f"-o - (standard output) needs --format {', '.join(_TEXT_FORMATS)}")
        if args.format not in _TEXT_FORMATS:
            raise UsageError(f"--format {args.format} writes a binary file, not text for standard output "
                             f"(-o -); give -o PATH")
        return args.format, None
    output = Path(args.output) if args.output is not None else None
    if args.format is None:
        if output is None or output.suffix.lower() not in _BY_SUFFIX:
            suffixes = ", ".join(sorted(_BY_SUFFIX))
            raise UsageError(f"give --format ({', '.join(FORMATS)}), or -o PATH ending in one of {suffixes}")
        return _BY_SUFFIX[output.suffix.lower()], output
    return args.format, output or Path(spec_name + FORMATS[args.format].suffix)


def _replaced_input(path: Path, inputs: dict[str, Path | None]) -> str | None:
    """Which of the command's input files `path` is, if any, followed through symbolic links as the
    writing is: writing it would lose the spec or the trained weights the export is made from."""
    return next((what for what, given in inputs.items() if given is not None and path.resolve() == given.resolve()),
                None)


def _imported_files(spec) -> dict[str, Path | None]:
    """The block files the spec imports (`imports:`, directly or not): the export is made from them too."""
    files = spec.document.imported_files if spec.document is not None else ()
    return {f"a block file the spec imports ({file})": Path(file) for file in files}


def _check_weights_target(weights_target: Path, target: Path, inputs: dict[str, Path | None]) -> None:
    """The state_dict goes beside the source, named after -o: a path the user did not write, so a
    problem with it says where it comes from and that -o is what to change."""
    from archspec.export.output import check_target

    beside = f"the state_dict written beside the source, {weights_target},"
    replaced = _replaced_input(weights_target, inputs)
    if replaced:
        raise ExportError(f"{beside} would replace {replaced}; choose another -o")
    if weights_target.resolve() == target.resolve():  # each file would replace the other
        raise ExportError(f"{beside} would be the source file itself; give -o a name ending in .py")
    if weights_target.is_dir():
        raise ExportError(f"{beside} is a folder; choose another -o")
    check_target(weights_target)


def _refuse_keyword_names(report, name: str) -> None:
    """torch.export writes each module as a Python attribute (`self.def.class`): a keyword among the
    names made its program a SyntaxError when loaded, and ONNX export (which goes through it) fail
    with torch's multi-line report. The python format writes them with getattr and takes them. The
    report's names are the module's (and its bare parameters'), so no module is built for this."""
    import keyword

    from archspec.graph import walk

    named = [resolved.qualname for top in report.resolved for _, resolved in walk(top)
             if any(keyword.iskeyword(part) for part in resolved.qualname.split("."))]
    if named:
        shown = ", ".join(f"`{module}`" for module in named[:3]) + (", ..." if len(named) > 3 else "")
        raise ExportError(f"{name}: module names with a Python keyword ({shown}) cannot be written by "
                          "torch.export; rename them in the spec (`name:`), or export -f python")


def _size(count: int) -> str:
    return (f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.1f} kB" if count >= 1e3
            else f"{count} bytes")
