"""Timing helpers: interleaved repetitions, medians and paired ratios.

Shared machines drift (CPU frequency, neighbours): timing A for a minute and then B for a minute
measures the drift as much as A and B. Every helper here therefore runs its candidates in rounds,
one call of each per round in a rotating order, so that a slow stretch hits all of them alike.
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Samples:
    """Seconds per call of one candidate, one sample per round."""

    seconds: tuple[float, ...]
    calls_per_sample: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _per_call(function: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def _calls_for(function: Callable[[], object], sample_seconds: float) -> int:
    """Calls per sample so that one sample lasts about `sample_seconds` (µs-scale functions are
    timed in loops: one call is too short for the clock and too sensitive to a single interrupt)."""
    once = _per_call(function, 1)
    return max(1, min(100_000, round(sample_seconds / max(once, 1e-7))))


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
                sample_seconds: float = 0.0) -> dict[str, Samples]:
    """`rounds` samples of each candidate, taken round-robin with the order rotated every round."""
    for function in candidates.values():
        for _ in range(warmup):
            function()
    calls = {name: (_calls_for(function, sample_seconds) if sample_seconds else 1)
             for name, function in candidates.items()}
    names = list(candidates)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(_per_call(candidates[name], calls[name]))
    return {name: Samples(tuple(seconds[name]), calls[name]) for name in names}


def paired_ratios(ours: Samples, theirs: Samples) -> list[float]:
    """Round-by-round ratios: each pair was measured back to back, under the same machine state."""
    return [a / b for a, b in zip(ours.seconds, theirs.seconds)]


def ratio_summary(ours: Samples, theirs: Samples) -> dict[str, float]:
    """The median of the paired ratios and their interquartile range (how far to trust it)."""
    ratios = sorted(paired_ratios(ours, theirs))
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
    return {"ratio": statistics.median(ratios), "ratio_q1": quartiles[0], "ratio_q3": quartiles[2]}


def time_processes(commands: dict[str, Sequence[str]], rounds: int, cwd: str,
                   env: dict[str, str] | None = None) -> dict[str, Samples]:
    """Wall-clock seconds of whole processes, interleaved; a failing command is an error (a
    benchmark of a command that did not do its job would be meaningless)."""
    environment = {**os.environ, **(env or {})}

    def runner(command: Sequence[str]) -> Callable[[], object]:
        def run() -> None:
            result = subprocess.run(list(command), cwd=cwd, env=environment, capture_output=True,
                                    text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr}")
        return run

    return interleaved({name: runner(command) for name, command in commands.items()}, rounds)
