"""Checkpoints: what `archspec train` saves, how it saves it atomically, and how a run resumes.

A checkpoint is one `torch.save` of a dict (format version 1):

    format        "archspec-checkpoint"
    version       1
    model         the network's state_dict (plain module names: no "module." or "_orig_mod." prefix)
    optimizer     the optimizer's state_dict
    scheduler     the learning-rate scheduler's state_dict
    scaler        the AMP GradScaler's state_dict, or None
    epoch         the number of epochs completed (a resumed run starts at this epoch)
    best_acc      the best validation accuracy so far (0..1; NaN without a validation split, where
                  the best epoch is the last), best_epoch, its epoch, and best_test_acc, the test
                  accuracy of that epoch
    validation    the validation split (validation.Split.record): source ("held-out", "official",
                  "none"), fraction, seed, train_size, count and digest of the held-out indices
    metrics       the per-epoch metrics so far (the lines of metrics.jsonl)
    spec          the spec's YAML text, verbatim: with `model`, everything needed to rebuild the network
    spec_name     the spec's `name`
    classes       the dataset's class names, in output order
    config        the training settings (data, batch_size, lr, optimizer, ...), for resume and eval
    rng           one dict per process, in rank order: "python", "numpy", "torch", "cuda" generator
                  states and "loader", the DataLoader's own generator (it seeds the loader's workers)

Only plain types and tensors are stored, so `torch.load(path, weights_only=True)` reads it: loading a
checkpoint never runs code from the file. `load_checkpoint` then checks every entry's type (ENTRIES),
so that a damaged or hand-edited checkpoint is a clear error naming the entry, not a traceback.

Files are written to a temporary name in the same directory, flushed to disk, then renamed over the
target (`os.replace` is atomic): a run killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import random
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping
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
    """A checkpoint written by `archspec train`; UsageError for a missing, foreign or damaged file."""
    if path.is_dir():  # a run directory, most likely: name the file in it
        raise UsageError(f"{path} is a folder, not a checkpoint file; a run's are {path / BEST} and "
                         f"{path / LAST}")
    if not path.is_file():
        raise UsageError(f"no checkpoint at {path}")
    try:
        checkpoint = load_plain_data(path)
    except Exception as error:  # a damaged file makes torch.load raise almost anything
        problem = load_problem(error)
        if not zipfile.is_zipfile(path):  # torch's own words are then often a Python internal's
            problem = f"not a whole file that torch.save writes (a zip archive); torch.load says: {problem}"
        raise UsageError(f"{path} is not a readable archspec checkpoint: {problem}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise UsageError(f"{path} is not an archspec checkpoint (no format: {FORMAT!r} entry); "
                         "checkpoints come from `archspec train --out DIR`")
    if checkpoint.get("version") != VERSION:
        raise UsageError(f"{path} has checkpoint format version {checkpoint.get('version')}; this "
                         f"archspec reads version {VERSION}")
    problems = [f"entry `{name}`: expected {expected}, found {_found(checkpoint, name)}"
                for name, expected, fits in ENTRIES if name not in checkpoint or not fits(checkpoint[name])]
    problems += [f"entry `{name}`: expected {expected}, found {_found(checkpoint, name)}"
                 for name, expected, fits in LATER_ENTRIES if name in checkpoint and not fits(checkpoint[name])]
    if problems:
        raise UsageError(f"{path} is a damaged archspec checkpoint: {'; '.join(problems)}")
    return checkpoint


def load_plain_data(path: Path) -> Any:
    """torch.load without running code from the file (weights_only=True) and without its warnings."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. about the pickle protocol of a file that is no checkpoint
        return torch.load(path, map_location="cpu", weights_only=True)


# Sentences of torch.load's errors that advise loading the file with weights_only=False (which runs
# any code in it) or allowlisting its classes: archspec never does either, so never repeats them.
_ADVICE = re.compile(r"weights_only|safe_globals|trust|arbitrary code|file an issue|documentation of "
                     r"torch\.load|In PyTorch 2\.\d", re.IGNORECASE)


def load_problem(error: BaseException) -> str:
    """The first sentence of a torch.load error that says what is wrong with the file, without the
    advice around it."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).rsplit("WeightsUnpickler error:", 1)[-1]
    sentences = (part.strip() for part in re.split(r"(?<=[.!?])\s+|\n+", text))
    # A sentence without a letter says nothing: a KeyError's text is its key (`101` for a text file)
    kept = [sentence for sentence in sentences
            if re.search("[A-Za-z]", sentence) and not _ADVICE.search(sentence)]
    return kept[0].rstrip(".") if kept else f"torch.load refused it ({type(error).__name__})"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tensors(value: Any) -> bool:
    import torch

    return isinstance(value, dict) and all(isinstance(key, str) and isinstance(tensor, torch.Tensor)
                                           for key, tensor in value.items())


def _settings(value: Any) -> bool:
    """The training settings, as far as eval and --resume read them."""
    return (isinstance(value, dict) and all(isinstance(value.get(key, ""), str)
                                            for key in ("data", "optimizer"))
            and isinstance(value.get("normalization"), (str, type(None))))


def _rng_states(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > 0
            and all(isinstance(state, dict) and set(RNG_KEYS) <= set(state) for state in value))


RNG_KEYS = ("python", "numpy", "torch", "cuda", "loader")
# Each entry of a checkpoint: its name, what it must be (for the message), and the test.
ENTRIES: tuple[tuple[str, str, Callable[[Any], bool]], ...] = (
    ("model", "a state_dict (a dict of tensors by name)", _tensors),
    ("optimizer", "an optimizer's state_dict (a dict with `state` and `param_groups`)",
     lambda value: isinstance(value, dict) and isinstance(value.get("state"), dict)
     and isinstance(value.get("param_groups"), list)),
    ("scheduler", "a learning-rate scheduler's state_dict (a dict)", lambda value: isinstance(value, dict)),
    ("scaler", "a GradScaler's state_dict (a dict) or null", lambda value: isinstance(value, (dict, type(None)))),
    ("epoch", "a whole number of epochs", _whole),
    ("best_acc", "a number", _number),
    ("best_epoch", "a whole number of epochs", _whole),
    ("metrics", "a list of per-epoch dicts",
     lambda value: isinstance(value, list) and all(isinstance(row, dict) for row in value)),
    ("spec", "the spec's YAML text (a string)", lambda value: isinstance(value, str)),
    ("spec_name", "a string", lambda value: isinstance(value, str)),
    ("classes", "a list of class names", lambda value: isinstance(value, list)),
    ("config", "a dict of training settings (data, optimizer and normalization strings)", _settings),
    ("rng", f"a list of one dict per process with {', '.join(RNG_KEYS)}", _rng_states),
)


def _validation_record(value: Any) -> bool:
    from archspec.train.validation import is_record

    return is_record(value)


# Entries added after the first checkpoints: checked where present (an older run has none: it had
# no validation split, which --resume and eval then take it to be).
LATER_ENTRIES: tuple[tuple[str, str, Callable[[Any], bool]], ...] = (
    ("best_test_acc", "a number", _number),
    ("validation", "a dict with source, fraction, seed, train_size, count and digest",
     _validation_record),
)


def _found(checkpoint: dict[str, Any], name: str) -> str:
    if name not in checkpoint:
        return "no such entry"
    value = checkpoint[name]
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def state_mismatch(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> str | None:
    """What keeps the state_dict `theirs` from loading strictly into a network whose state_dict is
    `ours` (tensors on both sides): its missing, unexpected and other-shaped entries, three of each
    named; None where it loads. Said alike by `eval --checkpoint`, `train --resume` and `--weights`."""
    missing = [key for key in ours if key not in theirs]
    unexpected = [key for key in theirs if key not in ours]
    wrong = [f"{key} (checkpoint {_shape(theirs[key])}, model {_shape(tensor)})"
             for key, tensor in ours.items() if key in theirs and theirs[key].shape != tensor.shape]
    problems = [f"{len(items)} {one if len(items) == 1 else many}: {', '.join(items[:3])}"
                f"{', ...' if len(items) > 3 else ''}"
                for one, many, items in (("missing tensor", "missing tensors", missing),
                                         ("unexpected tensor", "unexpected tensors", unexpected),
                                         ("tensor of another shape", "tensors of another shape", wrong)) if items]
    return "; ".join(problems) or None


def _shape(tensor: Any) -> str:
    return "x".join(map(str, tensor.shape)) or "scalar"


def load_entry(name: str, load: Callable[[], None], problem: str) -> None:
    """`load()` puts the checkpoint's entry `name` into a live object (a load_state_dict); its
    failure becomes a UsageError `problem: entry ...: what went wrong`."""
    try:
        load()
    except Exception as error:  # checked types, but the content goes into torch's code
        lines = str(error).strip().splitlines()
        raise UsageError(f"{problem}: entry `{name}` does not fit: "
                         f"{lines[0] if lines else type(error).__name__}") from None


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


def keep_given_settings(optimizer: Any, scheduler: Any, lr: float, momentum: float, weight_decay: float) -> None:
    """After a resumed optimizer's and LambdaLR's states are loaded: the rate, momentum and weight
    decay of this command line, not the checkpoint's (its state carries them, so `--resume --lr 0.5`
    went on at the old rate while a note said it had changed). The rate is the schedule's at the
    resumed epoch, computed as LambdaLR does; unchanged settings give the loaded values exactly."""
    scheduler.base_lrs = [lr for _ in optimizer.param_groups]
    for group, rate_factor in zip(optimizer.param_groups, scheduler.lr_lambdas):
        group["initial_lr"] = lr
        group["lr"] = lr * rate_factor(scheduler.last_epoch)
        group["weight_decay"] = weight_decay
        if "momentum" in group:  # SGD; Adam has betas, which no option sets
            group["momentum"] = momentum
