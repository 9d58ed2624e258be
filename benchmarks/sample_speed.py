"""How fast `archspec sample` draws and checks specs, against building each as an nn.Module.

    python benchmarks/sample_speed.py                 # spaces/regnet_x.yaml, 10,000 samples, 3 rounds
    python benchmarks/sample_speed.py --n 2000 --rounds 5 --space spaces/anynet_x.yaml

Sampling: a fresh `Sampler` (the space loaded from its file) draws and checks N samples at 224x224,
as the command does without writing its outputs. Building: each valid sample of the same space,
compiled on the meta device (no memory for weights) and its parameters counted, which is what one
would do to get the figures without archspec's static check. The rounds alternate the two, so that
a busy machine slows both alike; medians are printed. The ratio is the claim, not the absolute rate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # archspec from this checkout

import torch  # noqa: E402

import archspec  # noqa: E402
from archspec.loader import dump  # noqa: E402
from archspec.sample import Sampler  # noqa: E402


def sampling_rate(space: Path, count: int) -> float:
    """Specs per second, loading the space included."""
    start = time.perf_counter()
    Sampler(space, 0).run(count)
    return count / (time.perf_counter() - start)


def building_rate(specs: list[archspec.Spec]) -> float:
    """Networks per second built on the meta device, their parameters counted."""
    start = time.perf_counter()
    for spec in specs:
        with torch.device("meta"):
            network = archspec.compile(spec, max_memory=None)
        sum(parameter.numel() for parameter in network.parameters())
    return len(specs) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path, default=HERE.parent / "spaces" / "regnet_x.yaml")
    parser.add_argument("--n", type=int, default=10_000, help="samples per sampling round")
    parser.add_argument("--builds", type=int, default=200, help="networks per building round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    drawn = Sampler(args.space, 0).run(args.builds * 2)
    specs = [archspec.load(dump(s.data)) for s in drawn if s.data is not None][:args.builds]
    sampling, building = [], []
    for _ in range(args.rounds):
        sampling.append(sampling_rate(args.space, args.n))
        building.append(building_rate(specs))
    sample_median, build_median = statistics.median(sampling), statistics.median(building)
    print(f"space {args.space.name}, {args.n:,} samples per round, {len(specs)} builds per round, "
          f"{args.rounds} rounds, torch threads {torch.get_num_threads()}")
    print(f"sample + check: {sample_median:,.0f} specs/s (rounds: {', '.join(f'{r:,.0f}' for r in sampling)})")
    print(f"build on meta + count parameters: {build_median:,.1f} networks/s "
          f"(rounds: {', '.join(f'{r:,.1f}' for r in building)})")
    print(f"ratio: sampling and checking is {sample_median / build_median:,.1f}x faster than building")
    return 0


if __name__ == "__main__":
    sys.exit(main())
