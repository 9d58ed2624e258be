"""Sections 1, 2 and 4: the static check against torch's cheapest shape inference, and the build.

1. `archspec.check` vs a forward pass of the same compiled module on the meta device (tensors with
   shapes and no data: the cheapest way torch has to learn a network's shapes). For the networks
   of library blocks, also a fresh process's load+first check (reading the library files it needs).
2. `archspec check SPEC` as a whole process vs a `python -c` that imports torch and runs a meta forward
   of torchvision's model: what a user waits for at the terminal.
4. `archspec.compile` (load, check, build, init) vs torchvision's constructor (build, init).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from references import REFERENCES, unavailable_row
from timing import Samples, interleaved, ratio_summary, time_processes

import archspec
from archspec.blocks.base import forget_block_figures
from archspec.layers import derived

ROOT = Path(__file__).resolve().parent.parent
META_INPUT = (1, 3, 224, 224)
# Networks whose blocks are the library's YAML kinds (or use ResNet-D's shortcut): their first check
# in a fresh process reads library files and lowers each distinct block once, which no warm row shows.
FRESH_PROCESS_NETWORKS = ("se-resnet50", "resnet50d")
# Prints the seconds a fresh process takes to load and check a spec (after `import archspec`, which
# the whole-process rows of section 2 charge).
FRESH_CHECK_SCRIPT = (
    "import sys, time\nimport archspec\n"
    "start = time.perf_counter()\nassert archspec.check(archspec.load(sys.argv[1])).ok\n"
    "print(time.perf_counter() - start)\n"
)


def _spec_path(network: str) -> Path:
    return REFERENCES[network].path


def _speedup_row(name: str, ours: Samples, theirs: Samples, least: float | None,
                 **extra: Any) -> dict[str, Any]:
    """`speedup`: how many times longer torch takes than archspec (goal: at least `least`)."""
    speedup = theirs.median / ours.median
    return {"name": name, "archspec_ms": ours.median * 1e3, "torch_ms": theirs.median * 1e3,
            "speedup": speedup, "goal": f">= {least:g}x" if least else None,
            "met": speedup >= least if least else None, **extra}


def _static_candidates(network: str) -> dict[str, Callable[[], object]]:
    """The static check (with and without loading, with and without the input range) and torch's
    meta forward, for one network."""
    path = _spec_path(network)
    spec = archspec.load(path)
    meta_module = archspec.compile(spec).to("meta").eval()
    meta_input = torch.empty(META_INPUT, device="meta")
    expected = archspec.check(spec).output_shape
    with torch.no_grad():
        observed = tuple(meta_module(meta_input).shape[1:])
    if observed != expected:  # a benchmark of two computations that disagree would mean nothing
        raise AssertionError(f"{network}: static {expected} but meta forward {observed}")

    def meta_forward() -> None:
        with torch.no_grad():
            meta_module(meta_input)

    def build_on_meta_and_forward() -> None:
        with torch.device("meta"), torch.no_grad():
            REFERENCES[network].make()(meta_input)

    candidates: dict[str, Callable[[], object]] = {
        "check": lambda: archspec.check(spec),
        # Blocks intern the layers they derive (archspec.layers.derived): a check in a fresh process
        # validates each distinct layer once; later checks of the same spec find them made.
        "check, cold layer cache": lambda: (derived.cache_clear(), archspec.check(spec)),
        # And with no block figures kept from an earlier check either: every distinct block of a YAML
        # kind is lowered and evaluated again, as in the first check of a process (a CLI check).
        "check, nothing cached": lambda: (derived.cache_clear(), forget_block_figures(), archspec.check(spec)),
        # What the table, the build and the exports read: every node's figures, from the lowered graph.
        "check+graph": lambda: archspec.check(spec).resolved,
        "check+range": lambda: archspec.check(spec).input_range,
        "load+check": lambda: archspec.check(archspec.load(path)),
        "load+check+range": lambda: archspec.check(archspec.load(path)).input_range,
        "meta forward": meta_forward,
        "build on meta+forward": build_on_meta_and_forward,
    }
    if network in FRESH_PROCESS_NETWORKS:
        candidates["fresh process: load+first check"] = _FreshProcessCheck(path)
    return candidates


class _FreshProcessCheck:
    """A candidate for `interleaved` that starts a process to load and check the spec once; the
    seconds that process measures (its start and `import archspec` left out) are kept, one per call."""

    def __init__(self, path: Path):
        self.path = path
        self.seconds: list[float] = []

    def __call__(self) -> None:
        result = subprocess.run([sys.executable, "-c", FRESH_CHECK_SCRIPT, str(self.path)], cwd=ROOT,
                                capture_output=True, text=True, check=True)
        self.seconds.append(float(result.stdout))

    def samples(self, rounds: int) -> Samples:
        return Samples(tuple(self.seconds[-rounds:]), 1)  # the rounds' calls, not the warm-up's


def static_vs_meta(networks: list[str], rounds: int) -> list[dict[str, Any]]:
    """Section 1. The meta forward runs under no_grad in eval mode, its cheapest setting; the module
    exists already, so torch is not charged for building it (the last row per network charges it)."""
    rows = []
    for network in networks:
        if REFERENCES[network].missing():
            rows.append(unavailable_row(f"{network}: check vs meta forward", network))
            continue
        candidates = _static_candidates(network)
        samples = interleaved(candidates, rounds=rounds, warmup=2, sample_seconds=0.02)
        meta = samples["meta forward"]
        # The goal is the static check's: a parsed spec against a built module, each side's input
        # ready. The check runs the layers' rules and the blocks' static twins; the other rows are
        # context: what a fresh process pays for its first check, what making every node's figures
        # (the lowered graph: the table, the build) adds, and parsing the YAML and searching the
        # accepted input sizes.
        for ours, range_included, goal in (("check", False, 100), ("check, cold layer cache", False, None),
                                           ("check, nothing cached", False, None),
                                           ("check+graph", False, None), ("check+range", True, None),
                                           ("load+check", False, None), ("load+check+range", True, None)):
            rows.append(_speedup_row(f"{network}: {ours} vs meta forward", samples[ours], meta, goal,
                                     input_range_included=range_included))
        if network in FRESH_PROCESS_NETWORKS:
            fresh = candidates["fresh process: load+first check"]
            assert isinstance(fresh, _FreshProcessCheck)
            rows.append(_speedup_row(f"{network}: fresh process: load+first check vs meta forward",
                                     fresh.samples(rounds), meta, None, input_range_included=False))
        rows.append(_speedup_row(f"{network}: load+check+range vs {REFERENCES[network].label} built on meta "
                                 "+ forward",
                                 samples["load+check+range"], samples["build on meta+forward"], None,
                                 input_range_included=True))
    return rows


TORCH_SHAPES_SCRIPT = (
    "import torch, torchvision\n"
    "with torch.device('meta'), torch.no_grad():\n"
    "    model = torchvision.models.{network}()\n"
    "    print(tuple(model(torch.empty({input})).shape))\n"
)


def whole_process(network: str, rounds: int) -> list[dict[str, Any]]:
    """Section 2. Both commands print the network's output shape; archspec also prints its table
    (with the accepted input range, which the CLI always computes)."""
    script = TORCH_SHAPES_SCRIPT.format(network=network, input=META_INPUT)
    samples = time_processes({
        "archspec": [sys.executable, "-m", "archspec", "check", f"specs/{network}.yaml"],
        "torch": [sys.executable, "-c", script],
    }, rounds=rounds, cwd=str(ROOT))
    ours, theirs = samples["archspec"], samples["torch"]
    return [
        _speedup_row(f"`archspec check specs/{network}.yaml` vs python -c torch meta forward", ours,
                     theirs, 8, input_range_included=True,
                     archspec_all_ms=[s * 1e3 for s in ours.seconds],
                     torch_all_ms=[s * 1e3 for s in theirs.seconds]),
        {"name": f"`archspec check specs/{network}.yaml` median wall time", "archspec_ms": ours.median * 1e3,
         "goal": "<= 300 ms", "met": ours.median <= 0.3},
    ]


def build_vs_constructor(networks: list[str], rounds: int) -> list[dict[str, Any]]:
    """Section 4. Both sides initialise the weights the same way (each spec names its torchvision
    family's `init:`, e.g. `kaiming`, `mobilenet`); archspec's side also loads and checks the spec."""
    rows = []
    for network in networks:
        path = _spec_path(network)
        if REFERENCES[network].library != "torchvision" or REFERENCES[network].missing():
            continue  # the others' constructors initialise differently (timm: its own init)
        if archspec.load(path).init == "pytorch":  # torchvision's constructors run their family's init
            raise AssertionError(f"{path} must name its torchvision family's `init:` to compare with torchvision")
        samples = interleaved({"archspec.compile": partial(archspec.compile, path),
                               "torchvision": REFERENCES[network].make},
                              rounds=rounds, warmup=1)
        ours, theirs = samples["archspec.compile"], samples["torchvision"]
        summary = ratio_summary(ours, theirs)
        rows.append({"name": f"{network}: archspec.compile(path) vs torchvision constructor",
                     "archspec_ms": ours.median * 1e3, "torch_ms": theirs.median * 1e3, **summary,
                     "goal": "<= 1.1", "met": summary["ratio"] <= 1.1})
    return rows
