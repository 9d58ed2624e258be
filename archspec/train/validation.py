"""The validation split: what `archspec train` selects `best.pt` on, so that the test set stays unseen.

A dataset with its own validation set (a folder with train/, val/ and test/) keeps it. Otherwise
`--val-fraction` (default 10%) of the training set is held out, the same fraction of each class
(stratified), drawn by a generator seeded with `--seed`: the split depends only on (seed, fraction,
training set), so every torchrun process and every `--resume` rebuilds the same one. The held-out
images are read with the test transform (no augmentation). The checkpoint records the split
(`Split.record`: seed, fraction, sizes and a digest of the held-out indices), so that `--resume`
refuses a different one and `archspec eval --split val` measures the same images.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from archspec.commands import UsageError
from archspec.train.data import TrainData

DEFAULT_FRACTION = 0.1
OFFICIAL, HELD_OUT, NONE = "official", "held-out", "none"


@dataclass(frozen=True)
class Split:
    """Where the validation images come from, and enough to recognise the same split again."""

    source: str  # OFFICIAL, HELD_OUT or NONE
    fraction: float
    seed: int
    train_size: int  # the training set before the split
    count: int  # validation images
    digest: str  # sha256 of the held-out indices (empty unless HELD_OUT)

    def record(self) -> dict[str, Any]:
        return {"source": self.source, "fraction": self.fraction, "seed": self.seed,
                "train_size": self.train_size, "count": self.count, "digest": self.digest}

    def describe(self) -> str:
        if self.source == OFFICIAL:
            return f"{self.count:,} validation images (the dataset's own)"
        if self.source == HELD_OUT:
            return f"{self.count:,} validation images ({self.fraction:g} of train, seed {self.seed})"
        return "no validation split"


def is_record(value: Any) -> bool:
    """The checkpoint entry's shape (checkpoint.py checks it on load)."""
    return (isinstance(value, dict) and value.get("source") in (OFFICIAL, HELD_OUT, NONE)
            and isinstance(value.get("digest"), str)
            and all(isinstance(value.get(key), int) and not isinstance(value.get(key), bool)
                    for key in ("seed", "train_size", "count"))
            and isinstance(value.get("fraction"), (int, float)))


def check_fraction(fraction: float) -> str | None:
    """A problem with --val-fraction, or None."""
    if not 0 <= fraction < 1:
        return f"--val-fraction must be in [0, 1), found {fraction}"
    return None


def split(data: TrainData, fraction: float, seed: int) -> tuple[TrainData, Split]:
    """`data` with its validation set in `val` (and the held-out images gone from `train`)."""
    size = len(data.train)
    if data.val is not None:
        return data, Split(OFFICIAL, 0.0, seed, size, len(data.val), "")
    if fraction == 0 or data.plain_train is None:
        return data, Split(NONE, 0.0, seed, size, 0, "")
    from torch.utils.data import Subset

    from archspec.train.folder import stratified_split

    kept, held = stratified_split(targets(data.train), fraction, seed)
    if not held:
        raise UsageError(f"--val-fraction {fraction:g} of {size} training images holds out none: raise "
                         "it, or pass --val-fraction 0 to select on the last epoch")
    if not kept:  # else reported as a training set smaller than one batch: "lower --batch-size"
        raise UsageError(f"--val-fraction {fraction:g} of {size} training images holds out every one, "
                         "leaving none to train on: lower it (the default is 0.1)")
    record = Split(HELD_OUT, fraction, seed, size, len(held), digest(held))
    return replace(data, train=Subset(data.train, kept), val=Subset(data.plain_train(), held)), record


def digest(indices: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, indices)).encode()).hexdigest()[:16]


def targets(dataset: Any) -> list[int]:
    """Every sample's class, read without decoding an image where the dataset keeps its labels."""
    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        inner = targets(dataset.dataset)
        return [inner[index] for index in dataset.indices]
    for name in ("targets", "labels"):  # torchvision's datasets and ImageFolder; DigitsImages
        labels = getattr(dataset, name, None)
        if labels is not None:
            return [int(label) for label in labels]
    return [int(dataset[index][1]) for index in range(len(dataset))]


def check_same(previous: dict[str, Any] | None, current: Split, where: str) -> None:
    """--resume and eval: the split must be the recorded one (the same images held out)."""
    before = previous or {"source": NONE, "fraction": 0.0, "seed": current.seed, "digest": ""}
    if (before["source"], before["digest"]) == (current.source, current.digest):
        return
    was = {HELD_OUT: f"with a held-out split, --val-fraction {before['fraction']:g}, --seed {before['seed']}",
           OFFICIAL: "with the dataset's own validation set",
           NONE: "without a validation split (--val-fraction 0)"}[before["source"]]
    raise UsageError(f"{where}: the run was trained {was}; this command would make {current.describe()}: "
                     "pass the run's --val-fraction and --seed so that its best epoch is chosen on the "
                     "same images")
