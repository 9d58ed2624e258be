"""Command line: `archspec check` (static, no torch) and `archspec compile` (builds the module).

Exit codes: 0 ok; 2 invalid spec or usage (never a traceback for anything a user typed);
3 internal error (archspec's static figures disagreed with PyTorch: a bug to report).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from archspec.check import Report, Row
from archspec.errors import Diagnostic, SpecError
from archspec.shapes import Shape, show

EXIT_OK, EXIT_INVALID, EXIT_INTERNAL = 0, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def parse_input(text: str) -> Shape:
    """'3x224x224' -> (3, 224, 224)."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 3 or not all(p.isdigit() and 0 < int(p) <= 65_536 for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected CHANNELSxHEIGHTxWIDTH with positive whole numbers, e.g. 3x224x224; found {text!r}")
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="archspec", description="Declarative architecture compiler for PyTorch.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = commands.add_parser("check", help="static check only: shapes, parameters, MACs (no torch)")
    compile_ = commands.add_parser("compile", help="check, build the nn.Module and print its table")
    for sub in (check, compile_):
        sub.add_argument("spec", help="path to a YAML spec, e.g. specs/resnet18.yaml")
        sub.add_argument("--input", type=parse_input, metavar="CxHxW",
                         help="input shape to check (default: the spec's `input`)")
        sub.add_argument("--depth", type=int, default=1, metavar="N",
                         help="table depth: 0 top level, 1 blocks (default), 2 layers in blocks")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    compile_.add_argument("--check-shapes", action="store_true",
                          help="run a forward pass and verify every static shape and parameter count")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        from archspec import check, load

        report = check(load(args.spec), args.input)
    except SpecError as error:
        return _fail(error.errors, getattr(args, "json", False))
    if args.command == "check" and args.json:
        print(json.dumps(report.to_json(), indent=2))
        return EXIT_OK if report.ok else EXIT_INVALID
    if not report.ok:
        return _fail(list(report.errors), False)
    if args.command == "check":
        print(render_table(report, args.depth))
        return EXIT_OK
    return _compile(report, args.depth, args.check_shapes)


def _compile(report: Report, depth: int, check_shapes: bool) -> int:
    from archspec.build import build_module
    from archspec.verify import verify_against_forward

    network = build_module(report)
    print(render_table(report, depth))
    if check_shapes:
        mismatches = verify_against_forward(report, network)
        if mismatches:
            print("internal error: static figures disagree with PyTorch (please report):",
                  *mismatches, sep="\n  ", file=sys.stderr)
            return EXIT_INTERNAL
        count = sum(1 for _ in report.rows(None))
        print(f"shapes verified: all {count} modules match a real forward pass; "
              f"parameters match sum(p.numel()) = {report.params:,}")
    return EXIT_OK


def _fail(errors: Sequence[Diagnostic], as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": False, "output_shape": None, "params": None, "macs": None,
                          "errors": [d.to_json() for d in errors]}, indent=2))
    else:
        print("\n".join(d.render() for d in errors), file=sys.stderr)
        print(f"{len(errors)} error{'s' if len(errors) != 1 else ''}", file=sys.stderr)
    return EXIT_INVALID


def render_table(report: Report, depth: int) -> str:
    rows = report.rows(depth)
    header = Row("name", "kind", 0, (), 0, 0)
    cells = [("name", "kind", "output", "params", "MACs")]
    cells += [("  " * r.depth + r.name, r.kind, show(r.output_shape), f"{r.params:,}", f"{r.macs:,}")
              for r in rows if r is not header]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    lines = [f"{report.spec.name}: input {show(report.input_shape)}"]
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    accepted = report.input_range
    lines.append(f"total: {report.params:,} parameters, {report.macs:,} MACs "
                 f"({report.macs / 1e9:.3f} G), output {show(report.output_shape or ())}")
    if accepted:
        lines.append(f"accepts: {accepted.describe()}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
