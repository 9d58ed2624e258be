"""Sampling on several processes: `archspec sample --jobs N`.

Each sample depends only on (space, seed, index) (`archspec.space.sample_rng`), so the indices are
cut into chunks that worker processes draw and check independently; the results come back in index
order, so the outputs are byte-identical to one process's. A sample that is the space's error raises
in its worker and is raised here, the first in index order, as one process would raise it.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from archspec.blocks.base import BlockFacts
from archspec.figures_memo import GroupFacts, remembering_figures
from archspec.sample import Budget, Sample, Sampler
from archspec.shapes import Shape
from archspec.train.threads import usable_cores
from archspec.validation_memo import remembering_validations

# Below this many samples a second process costs more to start than it saves (a fork and the
# space's load, against ~0.3 ms per sample).
MIN_SAMPLES_PER_JOB = 1_000
MAX_CHUNK = 500  # samples per task: small enough for a live progress bar and balanced workers
MIN_CHUNK = 25  # and large enough that sending a task and its samples costs little beside drawing them

_WORKER: dict[str, Sampler] = {}  # a worker process's sampler, made once by the pool's initializer
_WORKER_FIGURES: dict[object, BlockFacts | GroupFacts | None] = {}
_WORKER_VALIDATIONS: dict[tuple[type[BaseModel], str], BaseModel] = {}


def default_jobs(count: int) -> int:
    """One process per usable core, but no more than the samples keep busy."""
    return max(1, min(usable_cores(), count // MIN_SAMPLES_PER_JOB))


def run_samples(source: str | Path, seed: int, input_shape: Shape | None, budget: Budget, count: int,
                jobs: int, progress: Callable[[int], None] | None = None) -> list[Sample]:
    """Samples 0 .. count-1 of the space, on `jobs` processes (this one alone when jobs is 1)."""
    if jobs <= 1 or count < 2:
        return Sampler(source, seed, input_shape, budget).run(count, progress)
    Sampler(source, seed, input_shape, budget)  # the space's own errors, raised here before any worker starts
    chunks = _chunks(count, jobs)
    # fork where the platform has it: a worker starts in milliseconds with archspec already imported.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    # Objects made before the fork stay out of the workers' collections: collecting would write to
    # every page that holds one (reference counts), copying memory the workers otherwise share.
    gc.freeze()
    try:
        samples: list[Sample] = []
        with multiprocessing.get_context(method).Pool(
                jobs, initializer=_start_worker, initargs=(source, seed, input_shape, budget)) as pool:
            for drawn in pool.imap(_draw_chunk, chunks):
                samples.extend(drawn)
                if progress is not None:
                    progress(len(samples))
        return samples
    finally:
        gc.unfreeze()


def _chunks(count: int, jobs: int) -> list[tuple[int, int]]:
    """Index ranges covering 0 .. count-1, shrinking toward the end (guided scheduling): each takes
    a share of what is left, at most MAX_CHUNK and at least MIN_CHUNK, so that the workers finish
    within a small chunk of each other instead of one waiting for the other's last big one."""
    chunks, start = [], 0
    least = max(1, min(MIN_CHUNK, count // (jobs * 4)))  # a few samples still go to every worker
    while start < count:
        size = max(least, min(MAX_CHUNK, (count - start) // (jobs * 4)))
        chunks.append((start, min(start + size, count)))
        start += size
    return chunks


def _start_worker(source: str | Path, seed: int, input_shape: Shape | None, budget: Budget) -> None:
    _WORKER["sampler"] = Sampler(source, seed, input_shape, budget)


def _draw_chunk(bounds: tuple[int, int]) -> list[Sample]:
    sampler = _WORKER["sampler"]
    # kept from chunk to chunk
    with remembering_figures(_WORKER_FIGURES), remembering_validations(_WORKER_VALIDATIONS):
        return [sampler.sample(index) for index in range(*bounds)]
