"""`archspec scale SPEC --depth D --width W`: write the scaled spec (archspec/scale.py's rules).

The numbers are replaced where they are written in the file's text, so comments and layout stay;
the result is loaded and checked like any spec before anything is written. Never imports torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from archspec.commands import (
    EXIT_OK,
    UsageError,
    add_spec_path,
    parse_memory,
    parse_set_argument,
    whole_number,
)
from archspec.errors import SpecError, SpecPath, format_path
from archspec.files import write_text
from archspec.imports import with_imports
from archspec.loader import Document, load_document
from archspec.scale import DEFAULT_DIVISOR, Change, Scale, apply, changes, factor, read_scales, rewrite
from archspec.spec import Spec

NAME = "scale"
HELP = "write a spec with its repeats and widths scaled (EfficientNet's compound scaling rules)"


def parse_factor(text: str) -> Fraction:
    value = factor(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a positive number such as 0.5 or 2, found {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_path(parser, "path to a YAML spec, e.g. specs/resnet50.yaml")
    parser.add_argument("--depth", type=parse_factor, metavar="D",
                        help="repeats of every stage times D, rounded up (default 1)")
    parser.add_argument("--width", type=parse_factor, metavar="W",
                        help="channels times W, rounded to a multiple of --divisor (default 1); the "
                             "network's output (its classes) is kept")
    parser.add_argument("--divisor", type=whole_number(1), metavar="N",
                        help=f"widths become multiples of N (default {DEFAULT_DIVISOR}; 1 only rounds)")
    parser.add_argument("--scale", metavar="NAME", help="take the factors from the spec's `scales: {NAME: ...}`")
    parser.add_argument("-o", "--output", default="-", metavar="OUT.yaml",
                        help="where to write the scaled spec (default `-`: standard output)")
    parser.add_argument("--max-memory", type=parse_memory, default=parse_memory("4GiB"), metavar="SIZE",
                        help="the memory budget the scaled spec is checked against (default 4GiB)")
    parser.add_argument("--set", action="append", default=[], type=parse_set_argument, metavar="PATH=VALUE",
                        help="change a value before scaling, written into the output where the file writes "
                             "it (repeatable; VALUE is YAML): head[-1].width=10, or a var: classes=10")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: the scaled spec's check, the changes, and the YAML "
                             "text when the output is `-`")


def run(args: argparse.Namespace) -> int:
    from archspec import check

    document = _with_overrides(with_imports(load_document(args.spec)), args.set)
    spec = _spec_of(document)
    scale = _chosen_scale(args, document)
    plain = spec.document.data if spec.document is not None else spec.model_dump(mode="json")
    found = changes(plain, scale)
    text = rewrite(document, found)
    note = f" (after {''.join(f'--set {given}, ' for given in args.set)}scaling by {scale.describe()})"
    try:
        scaled = _spec_of(with_imports(replace(load_document(text), file=document.file)))  # the same lines as the file
        expected = apply(plain, found)
        differs = _difference(expected, scaled.document.data if scaled.document else None, ())
        if differs is not None:
            raise SpecError([document.diagnostic(differs, (
                "this value is shared through a YAML anchor with a place that scales differently: the "
                f"scaled file would make it {_value(scaled.document.data, differs)}, not "
                f"{_value(expected, differs)}"), "write the values separately")])
        report = check(scaled, max_memory=args.max_memory)
        if not report.ok:
            raise SpecError(report.errors)
    except SpecError as error:
        raise SpecError([replace(d, message=d.message + note) for d in error.errors]) from None
    if args.output != "-":
        try:
            write_text(Path(args.output), text)  # atomic: a file that cannot be written is left as it was
        except OSError as error:  # a folder, a path through a file, a folder that does not exist
            raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
    if args.json:  # the keys of `check --json`, and the scaling's
        print(json.dumps({**report.to_json(), "scale": {"depth": float(scale.depth), "width": float(scale.width),
                                                        "divisor": scale.divisor},
                          "overrides": list(args.set), "output": None if args.output == "-" else args.output,
                          "changes": [{"path": format_path(c.path), "from": c.old, "to": c.new} for c in found],
                          "text": text if args.output == "-" else None}, indent=2))
    elif args.output == "-":
        sys.stdout.write(text)
    return EXIT_OK


def _with_overrides(document: Document, given: list[str]) -> Document:
    """The document with each --set written into its text where the file writes the value (lines and
    comments kept), so that the output file holds them; SpecError naming each that cannot be."""
    if not given:
        return document
    from archspec.overrides import resolved_spec, to_overrides
    from archspec.validate import _value_at

    overrides = to_overrides(given)
    resolved = resolved_spec(document, overrides).document  # the overrides' own errors, each named
    values = {override.label: override.value for override in overrides}
    applied = getattr(resolved, "overridden", ())
    edits = [Change(path, _value_at(document.data, path), values[label], label) for path, label in applied]
    edited = with_imports(replace(load_document(rewrite(document, edits)), file=document.file))
    wrong = [edit for edit in edits if _value_at(edited.data, edit.path) != edit.new]  # a safety net
    if wrong:
        raise SpecError([document.diagnostic(edit.path, f"{edit.cause}: cannot be written here in place",
                                             "edit the file") for edit in wrong])
    return edited


def _chosen_scale(args: argparse.Namespace, document: Document) -> Scale:
    """The factors: --depth/--width/--divisor, over the named scale's when --scale is given."""
    named = Scale()
    if args.scale is not None:
        data = document.data if isinstance(document.data, dict) else {}
        scales, errors = read_scales(data, document)
        if errors:
            raise SpecError(errors)
        if args.scale not in scales:
            raise UsageError(f"the spec has no scale `{args.scale}`" +
                             (f"; its scales are {', '.join(scales)}" if scales else " (it has no `scales`)"))
        named = scales[args.scale]
    elif args.depth is None and args.width is None:
        raise UsageError("give --depth, --width or --scale NAME, e.g. --depth 0.5 --width 0.5")
    return Scale(depth=named.depth if args.depth is None else args.depth,
                 width=named.width if args.width is None else args.width,
                 divisor=named.divisor if args.divisor is None else args.divisor)


def _spec_of(document: Document) -> Spec:
    """The validated spec of a document, its vars, expressions and `scales` resolved as `load` does."""
    from archspec.overrides import needs_resolving, resolved_spec
    from archspec.validate import validate

    return resolved_spec(document, ()) if needs_resolving(document) else validate(document)


def _difference(expected: Any, found: Any, path: SpecPath) -> SpecPath | None:
    """The first path where two plain documents differ (None where they are equal)."""
    if isinstance(expected, dict) and isinstance(found, dict) and expected.keys() == found.keys():
        pairs: Any = ((key, expected[key], found[key]) for key in expected)
    elif isinstance(expected, list) and isinstance(found, list) and len(expected) == len(found):
        pairs = zip(range(len(expected)), expected, found, strict=True)
    else:
        return None if expected == found else path
    return next(filter(None, (_difference(a, b, (*path, key)) for key, a, b in pairs)), None)


def _value(data: Any, path: SpecPath) -> Any:
    for part in path:
        data = data[part]
    return data
