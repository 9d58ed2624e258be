"""`folder:PATH` datasets: torchvision's ImageFolder, one sub-folder per class.

Two layouts: PATH/train/<class>/... with PATH/test/<class>/... (or val/), or PATH/<class>/... alone,
which archspec splits itself, 80/20 per class with a fixed seed, so the test images are the same in
every run and in `archspec eval`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archspec.commands import UsageError
from archspec.train.data import SPLIT_SEED, TEST_FRACTION

TEST_FOLDER_NAMES = ("test", "val")


def load_folder(path: Path, train_transform: Any,
                test_transform: Any) -> tuple[Any, Any, tuple[str, ...], str]:
    """(train set, test set, class names, description) for an image folder."""
    if not path.is_dir():
        raise UsageError(f"folder:{path}: no such directory; expected PATH/<class>/<image> or "
                         "PATH/train/<class>/<image> with PATH/test/<class>/<image>")
    test_dir = next((path / name for name in TEST_FOLDER_NAMES if (path / name).is_dir()), None)
    if (path / "train").is_dir() and test_dir is not None:
        train = _image_folder(path / "train", train_transform)
        test = _image_folder(test_dir, test_transform)
        if train.classes != test.classes:
            only_train = sorted(set(train.classes) - set(test.classes))
            only_test = sorted(set(test.classes) - set(train.classes))
            raise UsageError(f"folder:{path}: train/ and {test_dir.name}/ have different class folders "
                             f"(only in train/: {only_train or 'none'}; only in {test_dir.name}/: "
                             f"{only_test or 'none'})")
        return train, test, tuple(train.classes), f"{path} (train/ and {test_dir.name}/)"

    from torch.utils.data import Subset

    train_view = _image_folder(path, train_transform)
    test_view = _image_folder(path, test_transform)
    train_index, test_index = stratified_split([target for _, target in train_view.samples])
    if not test_index:
        raise UsageError(f"folder:{path}: too few images to hold out a test set; add images or use "
                         "PATH/train/ and PATH/test/")
    return (Subset(train_view, train_index), Subset(test_view, test_index), tuple(train_view.classes),
            f"{path} (split {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} per class, seed {SPLIT_SEED})")


def stratified_split(targets: list[int]) -> tuple[list[int], list[int]]:
    """Train and test indices: TEST_FRACTION of each class (rounded) held out, chosen by SPLIT_SEED."""
    import numpy as np

    generator = np.random.default_rng(SPLIT_SEED)
    labels = np.asarray(targets)
    train: list[int] = []
    test: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        generator.shuffle(members)
        held_out = round(len(members) * TEST_FRACTION) if len(members) > 1 else 0
        test.extend(members[:held_out].tolist())
        train.extend(members[held_out:].tolist())
    return sorted(train), sorted(test)


def _image_folder(path: Path, transform: Any) -> Any:
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(path), transform=transform)
    except (FileNotFoundError, OSError) as error:
        message = " ".join(str(error).split())
        raise UsageError(f"folder:{path}: {message}") from None
