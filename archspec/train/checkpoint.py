"""Checkpoints: what `archspec train` saves, how it saves it atomically, and how a run resumes.

A checkpoint is one `torch.save` of a dict (format version 1):

    format        "archspec-checkpoint"
    version       1
    model         the network's state_dict (plain module names: no "module." or "_orig_mod." prefix)
    optimizer     the optimizer's state_dict
    scheduler     the learning-rate scheduler's state_dict
    scaler        the AMP GradScaler's state_dict, or None
    epoch         the number of epochs completed (a resumed run starts at this epoch)
    best_acc      the best test accuracy so far (0..1) and best_epoch, its epoch
    metrics       the per-epoch metrics so far (the lines of metrics.jsonl)
    spec          the spec's YAML text, verbatim: with `model`, everything needed to rebuild the network
    spec_name     the spec's `name`
    classes       the dataset's class names, in output order
    config        the training settings (data, batch_size, lr, optimizer, ...), for resume and eval
    rng           one dict per process, in rank order: "python", "numpy", "torch", "cuda" generator
                  states and "loader", the DataLoader's own generator (it seeds the loader's workers)

Only plain types and tensors are stored, so `torch.load(path, weights_only=True)` reads it: loading a
checkpoint never runs code from the file.

Files are written to a temporary name in the same directory, flushed to disk, then renamed over the
target (`os.replace` is atomic): a run killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from archspec.commands import UsageError
from archspec.files import write_with

FORMAT = "archspec-checkpoint"
VERSION = 1
LAST, BEST = "last.pt", "best.pt"


def save_checkpoint(target: Path, checkpoint: dict[str, Any]) -> None:
    import torch

    write_with(target, lambda file: torch.save(checkpoint, file))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by `archspec train`; UsageError for a missing or foreign file."""
    import pickle

    import torch

    if not path.is_file():
        raise UsageError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"{path} is not a readable archspec checkpoint: {first_line}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise UsageError(f"{path} is not an archspec checkpoint (no format: {FORMAT!r} entry); "
                         "checkpoints come from `archspec train --out DIR`")
    if checkpoint.get("version") != VERSION:
        raise UsageError(f"{path} has checkpoint format version {checkpoint.get('version')}; this "
                         f"archspec reads version {VERSION}")
    return checkpoint


def unwrap(network: Any) -> Any:
    """The plain network inside DistributedDataParallel and torch.compile wrappers."""
    while True:
        if hasattr(network, "module"):  # DistributedDataParallel
            network = network.module
        elif hasattr(network, "_orig_mod"):  # torch.compile's OptimizedModule
            network = network._orig_mod
        else:
            return network


def capture_rng(loader_generator: Any) -> dict[str, Any]:
    """This process's random states, as plain data (lists, ints, tensors)."""
    import numpy as np
    import torch

    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    return {
        "python": _to_lists(random.getstate()),
        "numpy": [kind, keys.tolist(), position, has_gauss, cached_gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": loader_generator.get_state(),
    }


def restore_rng(state: dict[str, Any], loader_generator: Any) -> None:
    import numpy as np
    import torch

    random.setstate(_to_tuples(state["python"]))
    kind, keys, position, has_gauss, cached_gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached_gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    loader_generator.set_state(state["loader"])


def _to_lists(value: Any) -> Any:
    return [_to_lists(item) for item in value] if isinstance(value, tuple) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(item) for item in value) if isinstance(value, list) else value
