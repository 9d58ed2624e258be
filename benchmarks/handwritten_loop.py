"""`archspec train`'s inner loop against a hand-written PyTorch loop: images per second.

    python benchmarks/handwritten_loop.py                 # digits and CIFAR-shaped data, threads 1
    python benchmarks/handwritten_loop.py --threads 2 --rounds 9
    python benchmarks/handwritten_loop.py --sweep-threads digits  # images/s at 1, 2, ... threads

Both sides train the same compiled module with the same optimizer, on the same DataLoader (same
data, batch size, sampler) and the same torch thread count: archspec's side is
`archspec.train.steps.train_epoch` (what `archspec train` runs per epoch, with its progress bar as a
log gets it), the other the loop of the seed tutorials without their per-batch `.item()` calls:
zero_grad, forward, cross-entropy, backward, step. The rounds alternate (benchmarks/timing.py), and a
control pair (the hand-written loop against itself) shows the noise floor of the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import timing  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import archspec  # noqa: E402
from archspec.train.report import ProgressBar  # noqa: E402
from archspec.train.steps import Precision, train_epoch  # noqa: E402

GOAL = 0.95  # archspec's images/s at least 0.95x the hand-written loop's


def handwritten_epoch(network: Any, loader: Any, optimizer: Any) -> int:
    """The plain loop: what a tutorial writes, less its per-batch metric syncs."""
    network.train()
    images_seen = 0
    for images, labels in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(network(images), labels)
        loss.backward()
        optimizer.step()
        images_seen += labels.numel()
    return images_seen


def archspec_epoch(network: Any, loader: Any, optimizer: Any) -> int:
    progress = ProgressBar(1, 1, len(loader), enabled=False)  # a log: no bar, as under nohup
    totals = train_epoch(network, loader, optimizer, None, Precision(torch.device("cpu")), progress)
    return int(totals.count)


def digits_setup(batch_size: int) -> tuple[Any, Any, Any]:
    """specs/digits-resnet.yaml on the digits data through archspec's own data pipeline."""
    from archspec.train.data import load_data

    torch.manual_seed(0)
    network = archspec.compile(HERE.parent / "specs" / "digits-resnet.yaml")
    data = load_data("digits", Path("data"), (1, 8, 8))
    loader = DataLoader(data.train, batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    return network, loader, torch.optim.Adam(network.parameters(), lr=1e-3)


def cifar_setup(batch_size: int, steps: int) -> tuple[Any, Any, Any]:
    """specs/resnet18-cifar.yaml on random 3x32x32 images (CIFAR's shape), `steps` batches."""
    torch.manual_seed(0)
    network = archspec.compile(HERE.parent / "specs" / "resnet18-cifar.yaml")
    images = torch.randn(batch_size * steps, 3, 32, 32)
    labels = torch.randint(0, 10, (batch_size * steps,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(0))
    return network, loader, torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9)


def compare(name: str, setup: tuple[Any, Any, Any], rounds: int, control: bool) -> list[dict[str, Any]]:
    network, loader, optimizer = setup
    images = len(loader) * loader.batch_size
    candidates = {"archspec": lambda: archspec_epoch(network, loader, optimizer),
                  "handwritten": lambda: handwritten_epoch(network, loader, optimizer)}
    if control:
        candidates["handwritten (control)"] = lambda: handwritten_epoch(network, loader, optimizer)
    samples = timing.interleaved(candidates, rounds)
    rows = [_row(f"{name}: archspec train_epoch / hand-written loop", samples["archspec"],
                 samples["handwritten"], images, goal=True)]
    if control:
        rows.append(_row(f"{name}: control, hand-written / hand-written", samples["handwritten (control)"],
                         samples["handwritten"], images, goal=False))
    return rows


def _row(name: str, ours: timing.Samples, theirs: timing.Samples, images: int,
         goal: bool) -> dict[str, Any]:
    # The images/s ratio is the inverse of the time ratio: report it per round, then the median.
    speed = sorted(1.0 / ratio for ratio in timing.paired_ratios(ours, theirs))
    quartiles = statistics.quantiles(speed, n=4) if len(speed) >= 2 else [speed[0]] * 3
    row = {"name": name, "archspec_images_per_s": images / ours.median,
           "seed_images_per_s": images / theirs.median, "images_per_s_ratio": statistics.median(speed),
           "ratio_q1": quartiles[0], "ratio_q3": quartiles[2], "rounds": len(speed),
           "threads": torch.get_num_threads()}
    if goal:
        row.update(goal=f">= {GOAL}x", met=row["images_per_s_ratio"] >= GOAL)
    return row


def training_rows(rounds: int, cifar_steps: int, control: bool = True) -> list[dict[str, Any]]:
    return [*compare("digits, digits-resnet, batch 128, Adam", digits_setup(128), rounds, control),
            *compare(f"CIFAR-shaped, resnet18-cifar, batch 32 x {cifar_steps} steps, SGD",
                     cifar_setup(32, cifar_steps), rounds, control)]


def thread_sweep(data: str, counts: list[int], rounds: int, cifar_steps: int) -> list[dict[str, Any]]:
    """Images/s of archspec's loop at each thread count, interleaved round by round."""
    network, loader, optimizer = digits_setup(128) if data == "digits" else cifar_setup(32, cifar_steps)
    images = len(loader) * loader.batch_size

    def at(threads: int) -> Any:
        def run() -> None:
            torch.set_num_threads(threads)
            archspec_epoch(network, loader, optimizer)
        return run

    samples = timing.interleaved({f"threads {count}": at(count) for count in counts}, rounds)
    return [{"name": f"{data} images/s, {name}", "images_per_s": images / sample.median,
             "images_per_s_per_round": [round(images / s) for s in sample.seconds]}
            for name, sample in samples.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--cifar-steps", type=int, default=4, help="batches per CIFAR epoch (default 4)")
    parser.add_argument("--sweep-threads", choices=["digits", "cifar"], default=None,
                        help="instead: images/s at 1, 2 and the machine's core count")
    args = parser.parse_args()
    if args.sweep_threads:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        counts = sorted({1, 2, cores, torch.get_num_threads()})
        for row in thread_sweep(args.sweep_threads, counts, args.rounds, args.cifar_steps):
            print(f"{row['name']}: {row['images_per_s']:.0f} (rounds: {row['images_per_s_per_round']})")
        print(f"load average: {os.getloadavg()}")
        return 0
    torch.set_num_threads(args.threads)
    for row in training_rows(args.rounds, args.cifar_steps):
        met = {True: "met", False: "MISSED", None: ""}[row.get("met")]
        print(f"{row['name']}: {row['archspec_images_per_s']:.0f} vs {row['seed_images_per_s']:.0f} "
              f"images/s, ratio {row['images_per_s_ratio']:.3f} [{row['ratio_q1']:.3f}, "
              f"{row['ratio_q3']:.3f}] over {row['rounds']} rounds, {row['threads']} threads {met}")
    print(f"load average: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
