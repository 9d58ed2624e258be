"""How fast `archspec sample` draws and checks specs, against building each as an nn.Module.

    python benchmarks/sample_speed.py                 # spaces/regnet_x.yaml, 10,000 samples, 3 rounds
    python benchmarks/sample_speed.py --n 2000 --rounds 5 --space spaces/anynet_x.yaml

Sampling: in a process that imports archspec alone (as the command), a fresh `Sampler` (the space
loaded from its file) draws and checks N samples at 224x224,
as the command does without writing its outputs. Building: each valid sample of the same space,
compiled on the meta device (no memory for weights) and its parameters counted, which is what one
would do to get the figures without archspec's static check. The rounds alternate the two, so that
a busy machine slows both alike; medians are printed. The ratio is the claim, not the absolute rate.

Also: the share of the sampling time that the static check takes, and `archspec sample` as a whole
process that writes every output (start-up, the specs' YAML, samples.jsonl and samples.png included).

Overrides: load + check of specs/resnet18.yaml as written, against the same network written with
`vars` and `${...}` and loaded with two `--set` overrides (the resolve pass, then the same check),
interleaved (benchmarks/timing.py); the paired ratio is printed with its interquartile range.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # archspec from this checkout

import torch  # noqa: E402
from timing import Samples, interleaved, ratio_summary, time_processes  # noqa: E402

import archspec  # noqa: E402
from archspec.loader import dump  # noqa: E402
from archspec.sample import Sampler  # noqa: E402
from archspec.sample_parallel import default_jobs  # noqa: E402

# Sampling runs in a process of its own that imports archspec alone, as `archspec sample` does: this
# one has torch loaded (for the building rows), whose objects would make every garbage collection
# longer and every forked worker's memory larger than the command's.
SAMPLING_SCRIPT = """
import sys, time
sys.path[:0] = [sys.argv[1]]
from archspec.sample import Budget
from archspec.sample_parallel import run_samples
start = time.perf_counter()
run_samples(sys.argv[2], 0, None, Budget(), int(sys.argv[3]), int(sys.argv[4]))
print(int(sys.argv[3]) / (time.perf_counter() - start))
"""


def sampling_rate(space: Path, count: int, jobs: int = 1) -> float:
    """Specs per second on `jobs` processes, loading the space (and starting the processes) included."""
    result = subprocess.run([sys.executable, "-c", SAMPLING_SCRIPT, str(HERE.parent), str(space), str(count),
                             str(jobs)], capture_output=True, text=True, check=True)
    return float(result.stdout)


def check_share(space: Path, count: int) -> float:
    """The share of a sampling round's time spent in the static check (`archspec.check.check`)."""
    import archspec.sample as sampling

    spent = [0.0]
    original = sampling.check

    def timed_check(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            spent[0] += time.perf_counter() - start

    sampling.check = timed_check  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        Sampler(space, 0).run(count)
        return spent[0] / (time.perf_counter() - start)
    finally:
        sampling.check = original


def command_rate(space: Path, count: int) -> float:
    """Specs per second of `archspec sample` as a process, writing every output (the specs,
    samples.jsonl, samples.png) into a fresh folder: start-up and imports included."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "archspec", "sample", str(space), "-n", str(count), "-o",
                        str(Path(folder) / "out")], check=True, capture_output=True, cwd=HERE.parent)
        return count / (time.perf_counter() - start)


def building_rate(specs: list[archspec.Spec]) -> float:
    """Networks per second built on the meta device, their parameters counted."""
    start = time.perf_counter()
    for spec in specs:
        with torch.device("meta"):
            network = archspec.compile(spec, max_memory=None)
        sum(parameter.numel() for parameter in network.parameters())
    return len(specs) / (time.perf_counter() - start)


RESNET18 = HERE.parent / "specs" / "resnet18.yaml"
# The same network with vars, expressions and overrides that give back the file's values.
WITH_VARS = [("input: {channels: 3, size: 224}", ("vars: {classes: 10, base: 32, depth: 2}\n"
                                                  "input: {channels: 3, size: 224}")),
             ("{layer: conv, width: 64,", '{layer: conv, width: "${base}",'),
             ("{block: basic, width: 64, repeats: 2,", '{block: basic, width: "${base}", repeats: "${depth}",'),
             ("{block: basic, width: 128, repeats: 2,", '{block: basic, width: "${base * 2}", repeats: "${depth}",'),
             ("{block: basic, width: 256, repeats: 2,", '{block: basic, width: "${base * 4}", repeats: "${depth}",'),
             ("{block: basic, width: 512, repeats: 2,", '{block: basic, width: "${base * 8}", repeats: "${depth}",'),
             ("{layer: linear, width: 1000}", '{layer: linear, width: "${classes}"}')]
OVERRIDES = ["classes=1000", "base=64"]


def overrides_row(rounds: int) -> str:
    """load + check without and with vars, expressions and --set (the same network)."""
    plain = RESNET18.read_text()
    varied = plain
    for old, new in WITH_VARS:
        assert old in varied, old
        varied = varied.replace(old, new)
    assert archspec.load(varied, OVERRIDES) == archspec.load(plain)  # the same network, or no comparison

    def load_and_check(text: str, overrides: list[str] | None) -> None:
        assert archspec.check(archspec.load(text, overrides)).ok

    timed = interleaved({"plain": lambda: load_and_check(plain, None),
                         "vars": lambda: load_and_check(varied, OVERRIDES)}, rounds, sample_seconds=0.2)
    with tempfile.TemporaryDirectory() as folder:
        written = Path(folder) / "resnet18-vars.yaml"
        written.write_text(varied)
        check = [sys.executable, "-m", "archspec", "check"]
        processes = time_processes({"plain": [*check, str(RESNET18)], "vars": [
            *check, str(written), *(part for text in OVERRIDES for part in ("--set", text))]},
            max(3, rounds // 2), cwd=str(HERE.parent))
    return "\n".join(_ratio_row(name, found["plain"], found["vars"], unit) for name, found, unit in (
        ("load + check resnet18 in one process", timed, "ms"), ("`archspec check` as a process", processes, "ms")))


def _ratio_row(name: str, plain: Samples, varied: Samples, unit: str) -> str:
    summary = ratio_summary(varied, plain)
    return (f"{name}: {plain.median * 1e3:.2f} {unit} as written, {varied.median * 1e3:.2f} {unit} with "
            f"vars, ${{...}} and --set {' --set '.join(OVERRIDES)}: ratio {summary['ratio']:.3f} "
            f"(interquartile {summary['ratio_q1']:.3f} to {summary['ratio_q3']:.3f}, {len(plain.seconds)} rounds)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path, default=HERE.parent / "spaces" / "regnet_x.yaml")
    parser.add_argument("--n", type=int, default=10_000, help="samples per sampling round")
    parser.add_argument("--builds", type=int, default=200, help="networks per building round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--override-rounds", type=int, default=15, help="rounds of the overrides row")
    args = parser.parse_args()
    print(overrides_row(args.override_rounds))
    drawn = Sampler(args.space, 0).run(args.builds * 2)
    specs = [archspec.load(dump(s.data)) for s in drawn if s.data is not None][:args.builds]
    jobs = default_jobs(args.n)
    sampling, parallel, building, commands = [], [], [], []
    for _ in range(args.rounds):
        sampling.append(sampling_rate(args.space, args.n))
        parallel.append(sampling_rate(args.space, args.n, jobs))
        building.append(building_rate(specs))
        commands.append(command_rate(args.space, args.n))
    sample_median, build_median = statistics.median(sampling), statistics.median(building)
    print(f"space {args.space.name}, {args.n:,} samples per round, {len(specs)} builds per round, "
          f"{args.rounds} rounds, torch threads {torch.get_num_threads()}")
    print(f"sample + check: {sample_median:,.0f} specs/s (rounds: {', '.join(f'{r:,.0f}' for r in sampling)})")
    print(f"sample + check on {jobs} processes (`--jobs`, default for -n {args.n:,}): "
          f"{statistics.median(parallel):,.0f} specs/s (rounds: {', '.join(f'{r:,.0f}' for r in parallel)})")
    print(f"build on meta + count parameters: {build_median:,.1f} networks/s "
          f"(rounds: {', '.join(f'{r:,.1f}' for r in building)})")
    print(f"ratio: sampling and checking is {sample_median / build_median:,.1f}x faster than building")
    print(f"of the sampling time, the static check takes {check_share(args.space, args.n):.0%}")
    print(f"`archspec sample -n {args.n:,}` as a process, outputs written: {statistics.median(commands):,.0f} "
          f"specs/s (rounds: {', '.join(f'{r:,.0f}' for r in commands)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
