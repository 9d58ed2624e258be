"""Where the static check's time goes, next to where a meta forward's goes (goal 1 of the benchmarks).

    python benchmarks/profile_check.py resnet18 [resnet50 ...]

For each network: the check (the layers' static rules and the blocks' static twins), then what making
the per-node graph costs when a table or a build asks for it (lowering every block, evaluating the
lowered graph, the memory estimate); then the meta forward per module and the top operators of
torch's profiler. Best of several loops, garbage collector on, as in `archspec check`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from timing import interleaved
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archspec  # noqa: E402  (from this checkout, found through the path set just above)
from archspec.budget import estimate_memory  # noqa: E402
from archspec.graph import Evaluator, walk  # noqa: E402
from archspec.spec import ListStage  # noqa: E402


def best_us(function: Callable[[], object], seconds: float = 0.3) -> float:
    """Microseconds per call: the best of 7 samples of about `seconds` / 7 each."""
    samples = interleaved({"function": function}, rounds=7, warmup=1, sample_seconds=seconds / 7)
    return min(samples["function"].seconds) * 1e6


def block_lowerings(spec: archspec.Spec, report: archspec.Report) -> list[Callable[[], object]]:
    """Lowering every copy of every block stage once (the check itself lowers an alike copy once)."""
    calls: list[Callable[[], object]] = []
    for index, stage in enumerate(spec.stages):
        if isinstance(stage, ListStage):
            continue
        for copy, block in enumerate(report.resolved[len(spec.stem) + index].children):
            calls.append(partial(stage.lower, copy, block.in_shape, stage.shortcut or spec.shortcut,
                                 ("stages", index)))
    return calls


def profile_network(network: str) -> None:
    spec = archspec.load(ROOT / "specs" / f"{network}.yaml")
    report = archspec.check(spec)
    nodes = sum(1 for top in report.resolved for _ in walk(top))
    layers = [r for top in report.resolved for _, r in walk(top) if not r.children]
    check_us = best_us(lambda: archspec.check(spec))
    graph_us = best_us(lambda: archspec.check(spec).resolved)
    lower_calls = block_lowerings(spec, report)
    lower_us = best_us(lambda: [call() for call in lower_calls])
    evaluate_us = best_us(lambda: Evaluator().run_all(report.nodes, report.input_shape, ""))
    memory_us = best_us(lambda: estimate_memory(report.resolved, layers))
    print(f"\n{network}: {nodes} graph nodes ({len(layers)} layers)")
    print(f"  check (layer rules, block twins)  {check_us:7.0f} us")
    print(f"  check, then the per-node graph    {graph_us:7.0f} us; its passes alone, on every block")
    print("  (the graph lowers and evaluates an alike copy only once):")
    print(f"    lowering all {len(lower_calls):3d} blocks      {lower_us:7.0f} us")
    print(f"    evaluating the whole graph  {evaluate_us:7.0f} us  ({evaluate_us / nodes:.2f} us per node)")
    print(f"    memory estimate             {memory_us:7.0f} us")

    module = archspec.compile(spec).to("meta").eval()
    x = torch.empty(1, *report.input_shape, device="meta")

    def meta_forward() -> None:
        with torch.no_grad():
            module(x)

    modules = sum(1 for _ in module.modules())
    meta_us = best_us(meta_forward, seconds=1.0)
    print(f"meta forward: {meta_us / 1e3:.1f} ms for {modules} modules = {meta_us / modules:.0f} us per module; "
          f"check/meta = 1/{meta_us / check_us:.0f}")
    with profile(activities=[ProfilerActivity.CPU]) as profiler, torch.no_grad():
        module(x)
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("networks", nargs="*", default=["resnet18"], help="spec names in specs/")
    for network in parser.parse_args().networks:
        profile_network(network)
    return 0


if __name__ == "__main__":
    sys.exit(main())
