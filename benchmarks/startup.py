"""Start-up: `archspec check specs/resnet152.yaml` as a whole process against `python -c "import torch"`.

    python benchmarks/startup.py                      # ratios, bytecode caching on and off
    python benchmarks/startup.py --baseline /tmp/old  # and the same for another tree, in the same rounds
    python benchmarks/startup.py --importtime         # the top items of `python -X importtime` only

Goal (issue 16): the whole process at least 20x faster than importing torch, with Python's bytecode
cache on (`.pyc` files written by an earlier run) and off (PYTHONDONTWRITEBYTECODE=1, common in
containers: archspec's own sources are compiled at every start). Each tree is copied, without its
`__pycache__` folders, into a temporary folder that the commands run from, so that "off" never finds
a `.pyc` of archspec's; "on" keeps every module's `.pyc` under PYTHONPYCACHEPREFIX, warmed by the
first (untimed) round. The torch side runs in each mode too (its `.pyc` come with the install, so the
mode barely changes it). All commands run interleaved, round after round; figures are medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE)]

from timing import interleaved  # noqa: E402  (the sibling module, found through the path set above)

SPEC = ROOT / "specs" / "resnet152.yaml"
GOAL = 20.0  # times faster than importing torch
TORCH = [sys.executable, "-c", "import torch"]
# What any `archspec check` imports whatever archspec does: Pydantic (a model with a constrained field),
# PyYAML, argparse. Its ratio to torch is the most the goal can get while archspec keeps them.
FLOOR = [sys.executable, "-c", ("import argparse, json, yaml\nfrom pydantic import BaseModel, Field\n"
                                "class M(BaseModel):\n    x: int = Field(1, ge=1)\nM(x=2)")]
MODES = ("bytecode on", "bytecode off")


def copy_tree(tree: Path, destination: Path) -> Path:
    """`tree`'s archspec package, without any `.pyc`, at `destination/archspec`."""
    shutil.copytree(tree / "archspec", destination / "archspec",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return destination


def environment(mode: str, cache: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH")}
    if mode == "bytecode on":
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def runner(command: list[str], cwd: Path, env: dict[str, str]) -> Callable[[], object]:
    def run() -> None:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:  # a command that did not do its job would time nothing
            raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}")
    return run


def check_command() -> list[str]:
    # `-m archspec` from the copy's folder: the copy comes first on sys.path, before the installed one.
    return [sys.executable, "-m", "archspec", "check", str(SPEC)]


def startup_rows(rounds: int, trees: dict[str, Path]) -> list[dict[str, Any]]:
    """One row per tree and mode: the check's median wall time, torch's, and the ratio."""
    with tempfile.TemporaryDirectory(prefix="archspec-startup-") as scratch:
        base = Path(scratch)
        candidates: dict[str, Callable[[], object]] = {}
        for mode in MODES:
            env = environment(mode, base / "pycache")
            candidates[f"torch, {mode}"] = runner(TORCH, base, env)
            candidates[f"floor, {mode}"] = runner(FLOOR, base, env)
            for index, (label, tree) in enumerate(trees.items()):
                copy = copy_tree(tree, base / mode.replace(" ", "-") / str(index))
                candidates[f"{label}, {mode}"] = runner(check_command(), copy, env)
        samples = interleaved(candidates, rounds=rounds, warmup=1)
    rows = []
    for mode in MODES:
        theirs = samples[f"torch, {mode}"]
        floor = samples[f"floor, {mode}"]
        rows.append({"name": f"floor: python -c 'import yaml; from pydantic import BaseModel' + one model ({mode})",
                     "archspec_ms": floor.median * 1e3, "torch_ms": theirs.median * 1e3,
                     "speedup": theirs.median / floor.median, "goal": None, "met": None})
        for label in trees:
            ours = samples[f"{label}, {mode}"]
            speedup = theirs.median / ours.median
            rows.append({"name": f"`archspec check specs/resnet152.yaml` ({label}, {mode}) vs "
                                 "python -c 'import torch'",
                         "archspec_ms": ours.median * 1e3, "torch_ms": theirs.median * 1e3, "speedup": speedup,
                         "goal": f">= {GOAL:g}x", "met": speedup >= GOAL,
                         "archspec_all_ms": [round(s * 1e3, 1) for s in ours.seconds],
                         "torch_all_ms": [round(s * 1e3, 1) for s in theirs.seconds]})
    return rows


def importtime(tree: Path) -> list[tuple[int, int, str]]:
    """`python -X importtime` of the check, bytecode off: (self µs, cumulative µs, module) of every
    module the check imports."""
    with tempfile.TemporaryDirectory(prefix="archspec-importtime-") as scratch:
        copy = copy_tree(tree, Path(scratch))
        result = subprocess.run([sys.executable, "-X", "importtime", *check_command()[1:]], cwd=copy,
                                env=environment("bytecode off", Path(scratch)), capture_output=True, text=True,
                                check=True)
    items = []
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            own, cumulative, name = line[len("import time:"):].split("|")
            items.append((int(own), int(cumulative), name.rstrip()))
    return items


def render_importtime(items: list[tuple[int, int, str]], top: int = 12) -> str:
    """The budget: self time summed by top-level package, then the modules with most self time (a
    module's own code, and with bytecode off its compilation; not the modules it imports)."""
    by_package: dict[str, int] = {}
    for own, _, name in items:
        package = name.strip().split(".")[0]
        by_package[package] = by_package.get(package, 0) + own
    packages = sorted(by_package.items(), key=lambda item: -item[1])[:8]
    largest = sorted(items, key=lambda item: -item[0])[:top]
    lines = ["python -X importtime -m archspec check specs/resnet152.yaml (bytecode off), self time:",
             "  by top-level package: " + ", ".join(f"{package} {own / 1e3:.1f} ms" for package, own in packages),
             f"  all {len(items)} modules: {sum(own for own, _, _ in items) / 1e3:.1f} ms; the largest:"]
    lines += [f"  {own / 1e3:8.1f} ms  {name.strip()}" for own, _, name in largest]
    return "\n".join(lines)


def render(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        goal = f" (goal {row['goal']}: {'met' if row['met'] else 'MISSED'})" if row["goal"] else ""
        lines.append(f"{row['name']}: {row['archspec_ms']:.0f} ms vs {row['torch_ms']:.0f} ms, "
                     f"{row['speedup']:.1f}x faster{goal}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--baseline", type=Path, action="append", default=[],
                        help="another checkout (e.g. `git archive main | tar -x -C /tmp/old`) timed in the "
                             "same rounds")
    parser.add_argument("--importtime", action="store_true", help="only the import-time listing")
    args = parser.parse_args()
    print(render_importtime(importtime(ROOT)))
    if args.importtime:
        return 0
    trees = {"this tree": ROOT, **{str(path): path.resolve() for path in args.baseline}}
    print(render(startup_rows(args.rounds, trees)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
