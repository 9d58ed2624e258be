"""The datasets of `archspec train`: torchvision's real MNIST / FashionMNIST / CIFAR readers on small
files written here in the genuine formats, the image folder, the digits split, the transforms."""

from __future__ import annotations

import gzip
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from archspec.cli import main
from archspec.commands import UsageError
from archspec.train.data import channel_stats, digits_split, load_data
from archspec.train.folder import stratified_split
from conftest import SPECS

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")

pytestmark = pytest.mark.usefixtures("one_thread")


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format of LeCun's MNIST files: magic 0x08 (unsigned byte) + rank, big-endian sizes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, folder: str, train: int, test: int, gzipped: bool) -> dict[str, np.ndarray]:
    """ROOT/<folder>/raw/ with the four files (`.gz` as downloaded, or unpacked); returns the arrays."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (test, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(test) * 3) % 10,
    }
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for name, array in arrays.items():
        if gzipped:
            (raw / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))
        else:
            (raw / name).write_bytes(idx_bytes(array))
    return arrays


def cifar_batch(images: np.ndarray, labels: list[int], label_key: str) -> dict:
    """A CIFAR python batch: `data` is N x 3072, each row the red, green, then blue 32x32 plane."""
    return {"batch_label": "training batch", label_key: labels, "filenames": [f"{i}.png" for i in
            range(len(labels))], "data": images.transpose(0, 3, 1, 2).reshape(len(labels), 3072)}


def write_cifar10(root: Path, per_batch: int = 4) -> list[str]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for index, name in enumerate([*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]):
        images = np.zeros((per_batch, 32, 32, 3), dtype=np.uint8)
        images[:, :, :, 0] = 255  # pure red: tells whether the channel planes were read in order
        images[:, 0, 0, 2] = index  # a marker pixel in the blue plane: which file an image came from
        labels = [(index + i) % 10 for i in range(per_batch)]
        (folder / name).write_bytes(pickle.dumps(cifar_batch(images, labels, "labels"), protocol=2))
    names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    meta = {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return names


def test_mnist_reads_gzipped_idx_files_through_torchvision(tmp_path):
    arrays = write_mnist(tmp_path, "MNIST", train=20, test=10, gzipped=True)
    data = load_data("mnist", tmp_path, (1, 28, 28))
    assert type(data.train).__name__ == "MNIST" and data.classes[0] == "0 - zero"
    assert (len(data.train), len(data.test)) == (20, 10)
    image, label = data.test[3]
    # The `none` preset (the d2l seeds' ToTensor): pixels / 255, at the native 28x28.
    expected = torch.from_numpy(arrays["t10k-images-idx3-ubyte"][3].astype(np.float32) / 255)
    assert image.shape == (1, 28, 28) and torch.allclose(image[0], expected)
    assert label == 9  # (3 * 3) % 10
    assert all((tmp_path / "MNIST" / "raw" / name).is_file() for name in MNIST_FILES)  # unpacked


def test_fashion_mnist_resized_and_converted_for_an_rgb_spec(tmp_path):
    write_mnist(tmp_path, "FashionMNIST", train=12, test=6, gzipped=False)
    data = load_data("fashion-mnist", tmp_path, (3, 32, 32), normalization="half")
    image, label = data.train[5]
    assert image.shape == (3, 32, 32)
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])  # gray to RGB
    assert -1.0 <= image.min() < -0.5 and 0.5 < image.max() <= 1.0  # (x - 0.5) / 0.5
    assert label == 5 and data.classes[0] == "T-shirt/top"


def test_cifar10_reads_python_pickle_batches_through_torchvision(tmp_path):
    names = write_cifar10(tmp_path)
    data = load_data("cifar10", tmp_path, (3, 32, 32), normalization="none")
    assert data.classes == tuple(names)
    assert (len(data.train), len(data.test)) == (20, 4)
    image, label = data.train[5]  # the second image of data_batch_2
    assert torch.all(image[0] == 1.0) and image[1].max() == 0.0
    assert image[2, 0, 0] == pytest.approx(1 / 255) and label == 2
    test_image, test_label = data.test[0]
    assert test_image[2, 0, 0] == pytest.approx(5 / 255) and test_label == 5


def test_cifar10_default_preset_is_the_seeds_mean_and_std_and_gray_uses_luminance(tmp_path):
    write_cifar10(tmp_path)
    rgb = load_data("cifar10", tmp_path, (3, 32, 32))
    assert rgb.normalization == "cifar10"
    assert rgb.train[0][0][0, 5, 5].item() == pytest.approx((1.0 - 0.4914) / 0.2023, rel=1e-5)
    gray = load_data("cifar10", tmp_path, (1, 16, 16))
    image = gray.train[0][0]
    mean, std = channel_stats("cifar10", 1)
    red_as_gray = round(0.299 * 255) / 255  # PIL's L = 0.299 R + 0.587 G + 0.114 B
    assert image.shape == (1, 16, 16)
    assert image[0, 8, 8].item() == pytest.approx((red_as_gray - mean[0]) / std[0], rel=1e-4)


def test_cifar10_archive_as_downloaded_is_unpacked(tmp_path):
    write_cifar10(tmp_path / "staging")
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "staging" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    data = load_data("cifar10", tmp_path, (3, 32, 32))
    assert len(data.train) == 20


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    images = np.zeros((5, 32, 32, 3), dtype=np.uint8)
    for name, labels in (("train", [0, 99, 42, 7, 1]), ("test", [3, 4, 5, 6, 98])):
        batch = cifar_batch(images, labels, "fine_labels")
        batch["coarse_labels"] = [label // 5 for label in labels]
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"fine_label_names": [f"class{i}" for i in range(100)], "coarse_label_names": []}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    data = load_data("cifar100", tmp_path, (3, 32, 32))
    assert len(data.classes) == 100 and data.train[1][1] == 99 and data.test[4][1] == 98


def test_missing_files_are_named_with_their_folder(tmp_path):
    with pytest.raises(UsageError) as error:
        load_data("mnist", tmp_path, (1, 28, 28))
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "--download" in message
    assert all(name in message for name in MNIST_FILES) and "\n" not in message
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(UsageError, match=r"1 file missing in .*cifar-10-batches-py: data_batch_3 "):
        load_data("cifar10", tmp_path, (3, 32, 32))


def write_folder(root: Path, counts: dict[str, int], size: tuple[int, int] = (12, 10)) -> None:
    from PIL import Image

    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for index in range(count):
            mode = "L" if index % 2 else "RGB"  # mixed modes, as real folders have
            Image.new(mode, size, color=index * 20 if mode == "L" else (index * 20, 0, 0)).save(
                root / name / f"{index}.png")


def test_image_folder_split_per_class_and_train_test_layout(tmp_path):
    write_folder(tmp_path / "flat", {"cat": 10, "dog": 5})
    data = load_data(f"folder:{tmp_path / 'flat'}", tmp_path, (3, 8, 8))
    assert data.classes == ("cat", "dog") and (len(data.train), len(data.test)) == (12, 3)
    assert data.train[0][0].shape == (3, 8, 8) and data.normalization == "imagenet"
    again = load_data(f"folder:{tmp_path / 'flat'}", tmp_path, (1, 8, 8))
    assert again.test.indices == data.test.indices and again.test[0][0].shape == (1, 8, 8)
    write_folder(tmp_path / "split" / "train", {"a": 3, "b": 3})
    write_folder(tmp_path / "split" / "val", {"a": 1, "b": 2})
    split = load_data(f"folder:{tmp_path / 'split'}", tmp_path, (3, 16, 16))
    assert (len(split.train), len(split.test)) == (6, 3) and split.test[2][1] == 1
    write_folder(tmp_path / "odd" / "train", {"a": 2, "b": 2})
    write_folder(tmp_path / "odd" / "test", {"a": 2, "c": 2})
    with pytest.raises(UsageError, match=r"only in train/: \['b'\]; only in test/: \['c'\]"):
        load_data(f"folder:{tmp_path / 'odd'}", tmp_path, (3, 8, 8))
    (tmp_path / "images.zip").write_bytes(b"")  # it read "no such directory"
    with pytest.raises(UsageError, match=r"images\.zip: a file, not a directory; expected PATH/<class>/<image>"):
        load_data(f"folder:{tmp_path / 'images.zip'}", tmp_path, (3, 8, 8))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="Couldn't find any class folder"):
        load_data(f"folder:{tmp_path / 'empty'}", tmp_path, (3, 8, 8))


def test_a_file_in_a_folder_dataset_that_is_no_image_is_named_not_a_traceback(tmp_path, capsys):
    """PIL's UnidentifiedImageError came out of the DataLoader as a traceback in the first epoch."""
    write_folder(tmp_path / "flat", {"a": 6, "b": 6})
    (tmp_path / "flat" / "b" / "notes.png").write_text("not an image")
    data = load_data(f"folder:{tmp_path / 'flat'}", tmp_path, (1, 8, 8))
    unreadable = [index for index, (file, _) in enumerate(data.train.dataset.samples) if file.endswith("notes.png")]
    with pytest.raises(UsageError, match=r"cannot read the image .*notes\.png \(UnidentifiedImageError\): remove it"):
        data.train.dataset[unreadable[0]]
    spec = SPECS / "digits-resnet.yaml"
    assert main(["train", str(spec), "--data", f"folder:{tmp_path / 'flat'}", "--set", "head[-1].width=2",
                 "--epochs", "1", "--batch-size", "2", "--val-fraction", "0", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "archspec train: error: folder:" in err and "notes.png" in err and "Traceback" not in err


def test_stratified_split_holds_out_a_fifth_of_each_class():
    train, test = stratified_split([0] * 10 + [1] * 20 + [2] * 1)
    assert sorted(train + test) == list(range(31)) and not set(train) & set(test)
    assert [sum(1 for i in test if lo <= i < hi) for lo, hi in ((0, 10), (10, 30), (30, 31))] == [2, 4, 0]


def test_digits_split_is_fixed_stratified_and_disjoint():
    images, labels, train, test = digits_split()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 255
    assert (len(train), len(test)) == (1437, 360) and not set(train) & set(test)
    assert np.array_equal(test, digits_split()[3])
    counts = np.bincount(labels[test], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 20% of each digit's ~180 images
    data = load_data("digits", Path("unused"), (3, 32, 32), augment=("crop", "flip"))
    assert data.train[0][0].shape == (3, 32, 32) and len(data.test) == 360


def test_channel_stats_adapt_presets_to_the_channel_count():
    assert channel_stats("none", 3) is None
    assert channel_stats("mnist", 3) == ([0.1307] * 3, [0.3081] * 3)
    mean, std = channel_stats("imagenet", 1)
    assert mean[0] == pytest.approx(0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406)
    assert len(std) == 1


def test_train_command_on_mnist_files_resized_to_the_spec(tmp_path, capsys):
    write_mnist(tmp_path / "data", "MNIST", train=64, test=20, gzipped=True)
    code = main(["train", str(SPECS / "digits-resnet.yaml"), "--data", "mnist", "--data-root",
                 str(tmp_path / "data"), "--epochs", "1", "--batch-size", "32", "--out",
                 str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "54 train / 10 validation / 20 test images, 10 classes" in out and "epoch 1/1  loss " in out
    assert (tmp_path / "run" / "best.pt").is_file()


def test_a_failed_download_is_one_clear_line(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    def offline(self):  # what torchvision raises when no mirror answers
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://mirror/, got:\n"
                           "<urlopen error [Errno -3] Temporary failure in name resolution>\n")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(UsageError) as error:
        load_data("mnist", tmp_path / "data", (1, 28, 28), download=True)
    message = str(error.value)
    assert message.startswith(f"could not download mnist into {tmp_path / 'data'}: Error downloading")
    assert "Temporary failure in name resolution" in message and "\n" not in message
