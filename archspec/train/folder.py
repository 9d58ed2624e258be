"""`folder:PATH` datasets: torchvision's ImageFolder, one sub-folder per class.

Layouts: PATH/train/<class>/... with PATH/test/<class>/... (or val/, then the test set), or
PATH/<class>/... alone, which archspec splits itself, 80/20 per class with a fixed seed, so the test
images are the same in every run and in `archspec eval`. With train/, val/ and test/ all three, val/
is the dataset's own validation set: training selects its best epoch on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archspec.commands import UsageError
from archspec.train.data import SPLIT_SEED, TEST_FRACTION, TrainData

TEST_FOLDER_NAMES = ("test", "val")


def load_folder(name: str, path: Path, train_transform: Any, test_transform: Any,
                preset: str) -> TrainData:
    """The train and test sets of an image folder (and its own validation set, if it has one)."""
    if not path.is_dir():
        found = "a file, not a directory" if path.exists() else "no such directory"
        raise UsageError(f"folder:{path}: {found}; expected PATH/<class>/<image> or "
                         "PATH/train/<class>/<image> with PATH/test/<class>/<image>")
    test_dir = next((path / name for name in TEST_FOLDER_NAMES if (path / name).is_dir()), None)
    if (path / "train").is_dir() and test_dir is not None:
        train = _image_folder(path / "train", train_transform)
        test = _same_classes(path, train, test_dir, test_transform)
        val = (_same_classes(path, train, path / "val", test_transform)
               if test_dir.name == "test" and (path / "val").is_dir() else None)
        folders = "train/, val/ and test/" if val is not None else f"train/ and {test_dir.name}/"
        return TrainData(name, train, test, tuple(train.classes), preset, f"{path} ({folders})",
                         lambda: _image_folder(path / "train", test_transform), val)

    from torch.utils.data import Subset

    train_view = _image_folder(path, train_transform)
    test_view = _image_folder(path, test_transform)
    train_index, test_index = stratified_split([target for _, target in train_view.samples])
    if not test_index:
        raise UsageError(f"folder:{path}: too few images to hold out a test set; add images or use "
                         "PATH/train/ and PATH/test/")
    return TrainData(name, Subset(train_view, train_index), Subset(test_view, test_index),
                     tuple(train_view.classes), preset,
                     f"{path} (split {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} per class, seed {SPLIT_SEED})",
                     lambda: Subset(test_view, train_index))


def stratified_split(targets: list[int], fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[list[int], list[int]]:
    """Kept and held-out indices: `fraction` of each class (rounded; none of a class of one) held
    out, chosen by a generator seeded with `seed`."""
    import numpy as np

    generator = np.random.default_rng(seed)
    labels = np.asarray(targets)
    kept: list[int] = []
    held: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        generator.shuffle(members)
        held_out = round(len(members) * fraction) if len(members) > 1 else 0
        held.extend(members[:held_out].tolist())
        kept.extend(members[held_out:].tolist())
    return sorted(kept), sorted(held)


def _same_classes(path: Path, train: Any, folder: Path, transform: Any) -> Any:
    other = _image_folder(folder, transform)
    if train.classes != other.classes:
        only_train = sorted(set(train.classes) - set(other.classes))
        only_other = sorted(set(other.classes) - set(train.classes))
        raise UsageError(f"folder:{path}: train/ and {folder.name}/ have different class folders "
                         f"(only in train/: {only_train or 'none'}; only in {folder.name}/: "
                         f"{only_other or 'none'})")
    return other


def _image_folder(path: Path, transform: Any) -> Any:
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(path), transform=transform, loader=_ReadImage(path))
    except (FileNotFoundError, OSError) as error:
        message = " ".join(str(error).split())
        raise UsageError(f"folder:{path}: {message}") from None


class _ReadImage:
    """ImageFolder's loader, with a file that is no image (or a damaged one) a UsageError naming it:
    PIL's error was a traceback in the middle of an epoch. A class, not a closure: DataLoader's
    worker processes receive it pickled."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, file: str) -> Any:
        from torchvision.datasets.folder import default_loader

        try:
            return default_loader(file)
        except Exception as error:  # PIL raises OSError, ValueError, SyntaxError, its own kinds
            raise UsageError(f"folder:{self.folder}: cannot read the image {file} ({type(error).__name__}): "
                             "remove it, or replace it with a readable image") from None
