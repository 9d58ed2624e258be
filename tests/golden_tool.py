"""Golden figures of the shipped specs: where they live, how to read them, and a writer for new ones.

    python -m tests.golden_tool specs/NAME.yaml [more specs...] [--force]

writes tests/golden/NAME.json from archspec's static check, after a real forward pass has agreed with
it at every module. That only proves archspec agrees with itself: the figures are *golden* once the
person adding them has checked each one against an independent source (torchvision's model and its
weights meta `num_params` / `_ops`, the paper, a hand-written reference network) and replaced every
UNVERIFIED entry under "sources" with where it was checked. tests/test_golden.py refuses a golden file
that still says UNVERIFIED.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden"

FIGURES = ("input_shape", "output_shape", "params", "macs", "input_range")
# Every figure that needs a source; input_shape is the spec's own `input`, nothing to verify.
SOURCED = ("params", "macs", "output_shape", "input_range")
UNVERIFIED = "UNVERIFIED"
WRITE_COMMAND = "python -m tests.golden_tool specs/{name}.yaml"


def golden_path(spec: Path) -> Path:
    return GOLDEN / f"{spec.stem}.json"


def read_golden(spec: Path) -> dict:
    return json.loads(golden_path(spec).read_text(encoding="utf-8"))


def static_figures(report) -> dict:  # report: archspec.Report (imported lazily, see `main`)
    """The figures a golden file records, from a checked report, in the golden file's JSON form."""
    accepted = report.input_range
    return {
        "input_shape": list(report.input_shape),
        "output_shape": list(report.output_shape),
        "params": report.params,
        "macs": report.macs,
        "input_range": {"channels": accepted.channels, "min_size": list(accepted.min_size),
                        "max_size": list(accepted.max_size)},
    }


def write_golden(spec: Path, force: bool = False) -> Path:
    """Check, build and forward `spec`; write its golden file with every source still UNVERIFIED."""
    import archspec
    from archspec.build import build_module
    from archspec.verify import verify_against_forward

    target = golden_path(spec)
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; pass --force to rewrite it (its sources are reset)")
    report = archspec.check(spec)
    if not report.ok:
        raise archspec.SpecError(report.errors)
    mismatches = verify_against_forward(report, build_module(report))
    if mismatches:
        raise RuntimeError("static figures disagree with a real forward pass:\n  " + "\n  ".join(mismatches))
    golden = {"spec": f"specs/{spec.name}", **static_figures(report),
              "sources": dict.fromkeys(SOURCED, f"{UNVERIFIED}: say where this number was checked independently")}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dump_golden(golden), encoding="utf-8")
    return target


def dump_golden(golden: dict) -> str:
    """JSON with one figure per line (lists stay on their line, so diffs read well), one source per line."""
    lines = []
    for key, value in golden.items():
        if key == "sources":
            inner = ",\n".join(f"    {json.dumps(name)}: {json.dumps(text)}" for name, text in value.items())
            lines.append(f'  "sources": {{\n{inner}\n  }}')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden_tool", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="+", type=Path, help="spec files, e.g. specs/resnet18.yaml")
    parser.add_argument("--force", action="store_true", help="rewrite an existing golden file")
    args = parser.parse_args(argv)
    for spec in args.specs:
        try:
            target = write_golden(spec, args.force)
        except (ValueError, FileExistsError, RuntimeError) as error:  # SpecError is a ValueError
            print(f"{spec}: {error}", file=sys.stderr)
            return 2
        figures = json.loads(target.read_text(encoding="utf-8"))
        print(f"wrote {target.relative_to(ROOT)}: {figures['params']:,} parameters, "
              f"{figures['macs']:,} MACs, output {figures['output_shape']}")
    print(f"Now check every number against an independent source and replace each {UNVERIFIED} "
          "entry under \"sources\" with where you checked it; tests/test_golden.py fails until then.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
