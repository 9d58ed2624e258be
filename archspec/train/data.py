"""Datasets for `archspec train` / `eval`: the named datasets, the image folder, and their transforms.

Every dataset yields PIL images, and one transform pipeline adapts them to the spec's `input`:
grayscale <-> RGB conversion, a resize to the spec's size when the native size differs (as the seed
tutorials resize FashionMNIST and CIFAR-10 to 96 or 224), optional augmentation, `ToTensor`, and a
normalisation preset. The torchvision datasets are read by torchvision's own loaders; archspec only
checks beforehand that their files are there, so that a missing file is named instead of reported
as "Dataset not found or corrupted".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archspec.commands import UsageError
from archspec.errors import did_you_mean
from archspec.shapes import Shape

# Normalisation presets: (mean, std) per channel, or None for ToTensor's [0, 1] alone.
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "none": None,  # ToTensor only, as the d2l FashionMNIST loops do
    "half": ((0.5,), (0.5,)),  # (x - 0.5) / 0.5 -> [-1, 1], the CIFAR-10 ResNet seed's data_treating
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),  # the CIFAR-10 ResNet-18 seed
    "mnist": ((0.1307,), (0.3081,)),  # MNIST's own mean and std (the PyTorch MNIST example)
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # torchvision's pretrained models
}
AUGMENTATIONS = {
    "flip": "random horizontal flip",
    "crop": "random crop after zero-padding by 1/8 of the size (4 pixels at 32, as the CIFAR seed)",
    "rotate": "random rotation by up to 10 degrees",
}
# Luminance weights of PIL's RGB -> L conversion, to turn an RGB preset into a grayscale one.
_LUMA = (0.299, 0.587, 0.114)
# A fixed seed for the splits archspec makes itself: the test set must not change with --seed.
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class NamedDataset:
    name: str
    classes: int
    channels: int  # native: 1 grayscale, 3 RGB
    size: int  # native height = width
    normalization: str  # the default preset
    source: str


DATASETS = {
    d.name: d for d in (
        NamedDataset("digits", 10, 1, 8, "none", "scikit-learn's load_digits (bundled, offline)"),
        NamedDataset("mnist", 10, 1, 28, "none", "torchvision MNIST"),
        NamedDataset("fashion-mnist", 10, 1, 28, "none", "torchvision FashionMNIST"),
        NamedDataset("cifar10", 10, 3, 32, "cifar10", "torchvision CIFAR10"),
        NamedDataset("cifar100", 100, 3, 32, "cifar10", "torchvision CIFAR100"),
    )
}
FOLDER_PREFIX = "folder:"
FOLDER_NORMALIZATION = "imagenet"


@dataclass
class TrainData:
    """A train and a test set, transformed for one spec input, and what they are."""

    name: str
    train: Any  # torch.utils.data.Dataset
    test: Any
    classes: tuple[str, ...]
    normalization: str
    location: str
    # The training images with the test transform (no augmentation), made on demand: a validation
    # split held out of the training set is read through it (see validation.py).
    plain_train: Callable[[], Any] | None = None
    val: Any = None  # a dataset's own validation set (a folder's val/ beside train/ and test/)


def data_names() -> list[str]:
    return [*DATASETS, f"{FOLDER_PREFIX}PATH"]


def known_class_count(name: str) -> int | None:
    """The class count of a named dataset without loading it (None for an image folder)."""
    check_data_name(name)
    return DATASETS[name].classes if name in DATASETS else None


def check_data_name(name: str) -> None:
    if name in DATASETS or (name.startswith(FOLDER_PREFIX) and len(name) > len(FOLDER_PREFIX)):
        return
    hint = did_you_mean(name, DATASETS)
    raise UsageError(f"unknown dataset {name!r}; expected one of: {', '.join(data_names())}"
                     + (f" ({hint})" if hint else ""))


def check_augment(names: Sequence[str]) -> None:
    for name in names:
        if name not in AUGMENTATIONS:
            hint = did_you_mean(name, AUGMENTATIONS)
            raise UsageError(f"unknown augmentation {name!r}; expected a comma-separated list of "
                             f"{', '.join(AUGMENTATIONS)}" + (f" ({hint})" if hint else ""))


def channel_stats(preset: str, channels: int) -> tuple[list[float], list[float]] | None:
    """The preset's mean and std for `channels` channels (an RGB preset averaged for grayscale)."""
    stats = NORMALIZATIONS[preset]
    if stats is None:
        return None
    mean, std = stats
    if len(mean) == channels:
        return list(mean), list(std)
    if len(mean) == 1:
        return list(mean) * channels, list(std) * channels
    gray = ([sum(w * m for w, m in zip(_LUMA, mean, strict=True))],
            [sum(w * s for w, s in zip(_LUMA, std, strict=True))])
    return gray[0] * channels, gray[1] * channels


def build_transform(input_shape: Shape, native_channels: int, native_size: int | None,
                    normalization: str, augment: Sequence[str] = ()) -> Any:
    """PIL image -> a tensor of the spec's input shape. `native_size` None: sizes vary (a folder)."""
    from torchvision import transforms as T

    channels, height, width = input_shape
    steps: list[Any] = []
    if channels != native_channels:
        steps.append(T.Grayscale(num_output_channels=channels))
    elif native_channels == 3 and native_size is None:
        steps.append(T.Lambda(_to_rgb))  # a folder may hold grayscale, palette or RGBA files
    if native_size is None or (native_size, native_size) != (height, width):
        steps.append(T.Resize((height, width)))
    if "rotate" in augment:
        steps.append(T.RandomRotation(10))
    if "crop" in augment:
        steps.append(T.RandomCrop((height, width), padding=max(1, min(height, width) // 8)))
    if "flip" in augment:
        steps.append(T.RandomHorizontalFlip())
    steps.append(T.ToTensor())
    stats = channel_stats(normalization, channels)
    if stats is not None:
        steps.append(T.Normalize(*stats))
    return T.Compose(steps)


def _to_rgb(image: Any) -> Any:
    return image.convert("RGB")


def load_data(name: str, root: Path, input_shape: Shape, *, augment: Sequence[str] = (),
              normalization: str | None = None, download: bool = False) -> TrainData:
    """The train and test sets of `name` for a spec taking `input_shape`; UsageError if unavailable."""
    check_data_name(name)
    if input_shape[0] not in (1, 3):
        raise UsageError(f"the spec takes {input_shape[0]} input channels, but image datasets give 1 "
                         "(grayscale) or 3 (RGB): set the spec's `input.channels` to 1 or 3")
    if name.startswith(FOLDER_PREFIX):
        from archspec.train.folder import load_folder

        preset = normalization or FOLDER_NORMALIZATION
        return load_folder(name, Path(name[len(FOLDER_PREFIX):]).expanduser(),
                           build_transform(input_shape, 3, None, preset, augment),
                           build_transform(input_shape, 3, None, preset), preset)
    info = DATASETS[name]
    preset = normalization or info.normalization
    train_transform = build_transform(input_shape, info.channels, info.size, preset, augment)
    test_transform = build_transform(input_shape, info.channels, info.size, preset)
    if name == "digits":
        train, test, classes, plain_train = _digits(train_transform, test_transform)
        location = info.source
    elif name in ("mnist", "fashion-mnist"):
        train, test, classes, location, plain_train = _mnist(name, Path(root), download,
                                                             train_transform, test_transform)
    else:
        train, test, classes, location, plain_train = _cifar(name, Path(root), download,
                                                             train_transform, test_transform)
    return TrainData(name, train, test, tuple(classes), preset, location, plain_train)


class DigitsImages:
    """scikit-learn's 8x8 digits as PIL grayscale images (0..16 scaled to 0..255)."""

    def __init__(self, images: Any, labels: Any, transform: Any):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def digits_split() -> tuple[Any, Any, Any, Any]:
    """(images uint8 N x 8 x 8, labels, train indices, test indices): a fixed, stratified 80/20 split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise UsageError("the digits dataset needs scikit-learn: pip install 'archspec[train]'") from None
    import numpy as np

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    train_index, test_index = train_test_split(
        np.arange(len(bunch.target)), test_size=TEST_FRACTION, stratify=bunch.target,
        random_state=SPLIT_SEED)
    return images, bunch.target, np.sort(train_index), np.sort(test_index)


def _digits(train_transform: Any, test_transform: Any) -> tuple[Any, Any, list[str], Callable[[], Any]]:
    images, labels, train_index, test_index = digits_split()
    return (DigitsImages(images[train_index], labels[train_index], train_transform),
            DigitsImages(images[test_index], labels[test_index], test_transform),
            [str(digit) for digit in range(10)],
            lambda: DigitsImages(images[train_index], labels[train_index], test_transform))


def _download(dataset_class: Any, root: Path, name: str) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        dataset_class(str(root), train=True, download=True)
        dataset_class(str(root), train=False, download=True)
    except Exception as error:
        reason = " ".join(str(error).split())[:300]
        raise UsageError(f"could not download {name} into {root}: {reason}; check the network "
                         "connection, or copy the files there yourself") from None


def _mnist(name: str, root: Path, download: bool, train_transform: Any,
           test_transform: Any) -> tuple[Any, Any, list[str], str, Callable[[], Any]]:
    from torchvision.datasets import MNIST, FashionMNIST
    from torchvision.datasets.utils import extract_archive

    dataset_class = MNIST if name == "mnist" else FashionMNIST
    if download:
        _download(dataset_class, root, name)
    raw = root / dataset_class.__name__ / "raw"  # where torchvision looks: ROOT/MNIST/raw
    needed = [Path(url).stem for url, _ in dataset_class.resources]  # file names without .gz
    for file in needed:  # the .gz files as downloaded: unpack them as torchvision's download would
        if not (raw / file).is_file() and (raw / f"{file}.gz").is_file():
            extract_archive(str(raw / f"{file}.gz"), str(raw))
    processed = root / dataset_class.__name__ / "processed"
    legacy = all((processed / file).is_file() for file in ("training.pt", "test.pt"))
    missing = [file for file in needed if not (raw / file).is_file()]
    if missing and not legacy:
        raise UsageError(_missing_message(name, raw, missing, "(or the same names with .gz)"))
    train = dataset_class(str(root), train=True, transform=train_transform)
    test = dataset_class(str(root), train=False, transform=test_transform)
    return (train, test, list(train.classes), str(raw),
            lambda: dataset_class(str(root), train=True, transform=test_transform))


def _cifar(name: str, root: Path, download: bool, train_transform: Any,
           test_transform: Any) -> tuple[Any, Any, list[str], str, Callable[[], Any]]:
    from torchvision.datasets import CIFAR10, CIFAR100
    from torchvision.datasets.utils import extract_archive

    dataset_class = CIFAR10 if name == "cifar10" else CIFAR100
    if download:
        _download(dataset_class, root, name)
    folder = root / dataset_class.base_folder
    needed = [file for file, _ in dataset_class.train_list + dataset_class.test_list]
    needed.append(dataset_class.meta["filename"])
    if any(not (folder / file).is_file() for file in needed) and (root / dataset_class.filename).is_file():
        extract_archive(str(root / dataset_class.filename), str(root))  # the archive as downloaded
    missing = [file for file in needed if not (folder / file).is_file()]
    if missing:
        raise UsageError(_missing_message(name, folder, missing,
                                          f"(or the archive {dataset_class.filename} in {root})"))
    reader = _files_present_reader(dataset_class)
    try:
        train = reader(str(root), train=True, transform=train_transform)
        test = reader(str(root), train=False, transform=test_transform)
    except (OSError, EOFError, KeyError, ValueError, TypeError) as error:  # a broken pickle batch
        raise UsageError(f"{name}: cannot read the files in {folder}: {error}; download them again "
                         "with --download") from None
    return (train, test, list(train.classes), str(folder),
            lambda: reader(str(root), train=True, transform=test_transform))


def _files_present_reader(dataset_class: Any) -> Any:
    """torchvision's CIFAR reader with its checksum test relaxed to "the file exists".

    torchvision checks the MD5 of every batch on each construction; archspec has already named any
    missing file, and `--download` (torchvision's own download) verifies the checksums it fetches.
    """
    relaxed = {
        "train_list": [[file, None] for file, _ in dataset_class.train_list],
        "test_list": [[file, None] for file, _ in dataset_class.test_list],
        "meta": {**dataset_class.meta, "md5": None},
    }
    return type(dataset_class.__name__, (dataset_class,), relaxed)


def _missing_message(name: str, folder: Path, missing: Sequence[str], alternative: str) -> str:
    files = ", ".join(missing)
    return (f"{name}: {len(missing)} file{'s' if len(missing) != 1 else ''} missing in {folder}: "
            f"{files} {alternative}; pass --download to fetch them, or --data-root DIR where they are")
