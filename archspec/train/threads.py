"""How many CPU threads torch gets in `archspec train` and `eval` when `--threads` is not given.

torch's own default is one thread per core. Measured on a shared 2-core machine (load average 4-6,
`python benchmarks/handwritten_loop.py --sweep-threads digits|cifar`), one thread beat two by far:
the digits example trained at 838 images/s on one thread and 121 on two, and even ResNet-18 on
CIFAR-shaped data (17.8 GMACs per batch of 32) at 9 against 4. OpenMP's threads wait for each other
at the end of every operator: when another job holds a core, every operator waits for a thread that
is not running. On an idle machine a large network gains from more threads; a small one does not
(its operators last microseconds).

The rule: one thread when a training step's forward pass does less than SMALL_STEP_MACS
multiply-accumulates (MACs per image times the batch of one process). Otherwise the cores other jobs
leave idle: this process's cores times the idle share of the machine (1 - load average / CPUs),
rounded down, at least 1 and at most MAX_THREADS, divided among torchrun's processes on the node.
OMP_NUM_THREADS, when set, is the user's choice and wins. The count and its reason are printed at
start-up; `--threads N` overrides it.
"""

from __future__ import annotations

import os

SMALL_STEP_MACS = 2_000_000_000  # forward multiply-accumulates per step below which one thread wins
MAX_THREADS = 8  # beyond this a CPU training step gains little and a shared machine loses much


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has none
        return None


def default_threads(macs_per_image: int, batch_per_process: int, processes_per_node: int = 1) -> tuple[int, str]:
    """(threads, why) for a run that did not pass --threads."""
    environment = os.environ.get("OMP_NUM_THREADS", "").strip()
    if environment.isdigit() and int(environment) >= 1:
        return int(environment), "OMP_NUM_THREADS"
    step = macs_per_image * batch_per_process
    if step < SMALL_STEP_MACS:
        return 1, f"a small step, {step / 1e9:.2g} GMACs: one thread is fastest"
    cores = max(1, usable_cores() // max(1, processes_per_node))
    load = load_average()
    idle_share = 1.0 if load is None else max(0.0, 1.0 - load / max(1, os.cpu_count() or 1))
    threads = max(1, min(int(cores * idle_share), MAX_THREADS))
    busy = f", load average {load:.1f}" if load is not None else ""
    return threads, f"{cores} core{'s' if cores != 1 else ''}{busy}: the idle ones, at most {MAX_THREADS}"


def apply(requested: int | None, macs_per_image: int, batch_per_process: int,
          processes_per_node: int = 1) -> str:
    """Set torch's thread count; the start-up line that says what it is."""
    import torch

    if requested is not None:
        threads, why = requested, "--threads"
    else:
        threads, why = default_threads(macs_per_image, batch_per_process, processes_per_node)
    torch.set_num_threads(threads)
    return f"threads: {threads} ({why}; --threads to change)"
