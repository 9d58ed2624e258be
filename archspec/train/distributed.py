"""Running the same training command alone or under `torchrun`.

Under torchrun (WORLD_SIZE > 1 in the environment) each process joins a process group: gloo on the
CPU, NCCL on CUDA, one GPU per process (LOCAL_RANK). Alone, `Context` describes a world of one and
every collective below is a no-op, so the training loop has a single code path.

The batch size on the command line is the *global* batch: each of the N processes takes B / N
samples of each batch. With the samplers below, the union of the processes' batches is exactly the
batch a single process would take, so a run gives the same curves on one process or on several
(up to BatchNorm, whose statistics are per process).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from archspec.commands import UsageError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, writes metrics and writes checkpoints."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def pick_device(request: str, context: Context) -> Any:
    import torch

    if request == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available to PyTorch here; use --device cpu")
    if request == "cuda" or (request == "auto" and torch.cuda.is_available()):
        if context.distributed and context.local_rank >= torch.cuda.device_count():
            raise UsageError(f"local rank {context.local_rank} has no GPU: this machine has "
                             f"{torch.cuda.device_count()}; start fewer processes per node")
        torch.cuda.set_device(context.local_rank)
        return torch.device("cuda", context.local_rank)
    return torch.device("cpu")


def start(device_request: str) -> tuple[Context, Any]:
    """The process's place in the world and its device; joins the process group under torchrun."""
    if not launched_by_torchrun():
        return Context(), pick_device(device_request, Context())
    import torch.distributed as dist

    context = Context(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                      int(os.environ.get("LOCAL_RANK", "0")))
    device = pick_device(device_request, context)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return context, device


def stop(context: Context, finished: bool) -> None:
    """Leave the process group. After a normal finish, all processes first wait for each other:
    a process that tears down gloo while rank 0 is still writing its checkpoint can abort at exit
    ("terminate called without an active exception"), failing a run that succeeded."""
    if context.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            if finished:
                dist.barrier()
            dist.destroy_process_group()


def sum_over_processes(values: list[float], context: Context, device: Any) -> list[float]:
    """Element-wise sum of `values` over all processes (float64, so counts stay exact)."""
    if not context.distributed:
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def from_main(value: Any, context: Context) -> Any:
    """Rank 0's `value`, in every process (`value` itself when alone)."""
    if not context.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value: Any, context: Context) -> list[Any]:
    """`value` from every process, in rank order (a list of one when alone)."""
    if not context.distributed:
        return [value]
    import torch.distributed as dist

    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_buffers(network: Any, context: Context) -> None:
    """Give every process rank 0's BatchNorm statistics (each process updated its own copy)."""
    if not context.distributed:
        return
    import torch.distributed as dist

    for buffer in network.buffers():
        dist.broadcast(buffer, src=0)


def train_sampler(dataset: Any, context: Context, seed: int) -> Any:
    """A shuffling sampler whose order depends only on (seed, epoch): a resumed run sees the same
    order. Used on a single process too (a world of one), so the order equals a distributed run's."""
    from torch.utils.data import DistributedSampler

    return DistributedSampler(dataset, num_replicas=context.world_size, rank=context.rank,
                              shuffle=True, seed=seed, drop_last=False)


def test_indices(length: int, context: Context) -> list[int]:
    """This process's share of the test set: every N-th sample, no padding, so each sample counts once."""
    return list(range(context.rank, length, context.world_size))
