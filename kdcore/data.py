"""Datasets as whole tensors: Fashion-MNIST (offline-first), CIFAR-10/100 (torchvision), and synthetic data.

Every loader returns an :class:`ImageData`: uint8 images ``N×C×H×W`` and int64 labels, for the train and the
test split. Nothing here normalizes, augments or batches; that happens on the device (see
:mod:`kdcore.batches`).

Fashion-MNIST is looked for, in order, in

1. ``data_dir`` (argument) or the ``KDCORE_DATA_DIR`` environment variable,
2. Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``),
3. torchvision's download into ``~/.cache/kdcore/data`` (needs the internet; this is the Colab path).

We read the IDX files with numpy, because torchvision's md5 check rejects Debian's re-compressed ``.gz``
files and would go to the network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import file_lock

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_DOWNLOAD_DIR = Path.home() / ".cache" / "kdcore" / "data"

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# Per-channel statistics of the training images, used by kdcore.batches to normalize on the device.
STATS = {
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}

# Small synthetic stand-ins with the real datasets' shapes, for tests of the CIFAR/GPU code path.
SYNTHETIC = {
    "synthetic": {"shape": (1, 28, 28), "num_classes": 10, "num_train": 512, "num_test": 128},
    "synthetic-cifar10": {"shape": (3, 32, 32), "num_classes": 10, "num_train": 512, "num_test": 128},
    "synthetic-cifar100": {"shape": (3, 32, 32), "num_classes": 100, "num_train": 512, "num_test": 128},
}
DATASETS = ("fashion_mnist", "cifar10", "cifar100", *SYNTHETIC)
NUM_CLASSES = {"fashion_mnist": 10, "cifar10": 10, "cifar100": 100} | {
    name: spec["num_classes"] for name, spec in SYNTHETIC.items()
}
# (channels, height, width) of each dataset's images
SHAPES = {"fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)} | {
    name: spec["shape"] for name, spec in SYNTHETIC.items()
}


FIXED_FILES = ("fashion_mnist", "cifar10", "cifar100")  # names whose images are fixed files: the name is the data


@dataclass
class ImageData:
    """A labelled image dataset held as tensors (uint8 images, int64 labels). ``name`` identifies it in records
    and cache keys: for the real datasets (:data:`FIXED_FILES`) it stands for their files, for any other data
    the cache adds a fingerprint of the content (:meth:`fingerprint`), so two datasets of one name (two
    ``synthetic(seed=…)`` draws, a researcher's ``"mydata"`` edited) never share a cached teacher."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def image_size(self) -> int:
        return self.train_x.shape[-1]

    def fingerprint(self) -> str:
        """A hash of the images, labels and normalization (16 hex digits; under 0.1 s for 60,000 28×28 images)."""
        digest = hashlib.sha256(repr((self.mean, self.std)).encode())
        for tensor in (self.train_x, self.train_y, self.test_x, self.test_y):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        shape = "×".join(map(str, self.train_x.shape[1:]))
        return (
            f"ImageData({self.name}: {len(self.train_y)} train / {len(self.test_y)} test, "
            f"{shape}, {self.num_classes} classes)"
        )


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    for sub in ("FashionMNIST/raw", "raw"):  # torchvision's layout
        for candidate in (directory / sub / stem, directory / sub / f"{stem}.gz"):
            if candidate.exists():
                return candidate
    return None


def fashion_mnist_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first directory holding the Fashion-MNIST IDX files, or ``None`` (then we download)."""
    candidates = [data_dir, os.environ.get("KDCORE_DATA_DIR"), DEBIAN_FASHION_MNIST]
    for directory in candidates:
        if directory and _find_idx(Path(directory), "train-images-idx3-ubyte"):
            return Path(directory)
    return None


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> ImageData:
    """Fashion-MNIST, 60k train / 10k test, 1×28×28, from local IDX files or torchvision's download."""
    directory = fashion_mnist_dir(data_dir)
    if directory is None:
        if data_dir is not None:
            raise FileNotFoundError(f"no Fashion-MNIST IDX files in data_dir={str(data_dir)!r}")
        directory = _download_fashion_mnist()
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _read_idx(_find_idx(directory, f"{prefix}-images-idx3-ubyte"))
        labels = _read_idx(_find_idx(directory, f"{prefix}-labels-idx1-ubyte"))
        arrays[split] = (torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))
    mean, std = STATS["fashion_mnist"]
    return ImageData("fashion_mnist", *arrays["train"], *arrays["test"], FASHION_MNIST_CLASSES, mean, std)


def _download_fashion_mnist() -> Path:
    from torchvision.datasets import FashionMNIST  # imported late: torchvision costs ~2.5 s to import

    root = DEFAULT_DOWNLOAD_DIR
    with file_lock(root / ".download.lock"):  # parallel workers take turns: one downloads, the rest find it
        for train in (True, False):
            FashionMNIST(root, train=train, download=True)
    return root / "FashionMNIST" / "raw"


def load_cifar(name: str = "cifar10", data_dir: str | os.PathLike | None = None) -> ImageData:
    """CIFAR-10 or CIFAR-100 through torchvision (downloads on first use; needs the internet)."""
    from torchvision import datasets

    root = Path(data_dir or os.environ.get("KDCORE_DATA_DIR") or DEFAULT_DOWNLOAD_DIR)
    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    with file_lock(root / ".download.lock"):  # parallel workers take turns: one downloads, the rest find it
        splits = [cls(root, train=train, download=True) for train in (True, False)]
    tensors = []
    for split in splits:
        x = torch.from_numpy(split.data).permute(0, 3, 1, 2).contiguous()
        tensors += [x, torch.tensor(split.targets, dtype=torch.int64)]
    mean, std = STATS[name]
    return ImageData(name, *tensors, tuple(splits[0].classes), mean, std)


def synthetic(
    num_train: int = 512,
    num_test: int = 256,
    shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    seed: int = 0,
    name: str = "synthetic",
) -> ImageData:
    """Random images with a learnable signal: each class adds its own fixed pattern to uniform noise.

    For tests and benchmarks of any shape (for example CIFAR-100-shaped: ``(3, 32, 32)``, 100 classes).
    """
    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand((num_classes, *shape), generator=g)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(num_classes, (n,), generator=g)
        x = 0.5 * torch.rand((n, *shape), generator=g) + 0.5 * patterns[y]
        return (x * 255).to(torch.uint8), y

    c = shape[0]
    classes = tuple(f"class {i}" for i in range(num_classes))
    return ImageData(name, *draw(num_train), *draw(num_test), classes, (0.5,) * c, (0.25,) * c)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> ImageData:
    """Load a dataset by name: ``fashion_mnist``, ``cifar10``, ``cifar100`` or a ``synthetic*`` stand-in."""
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir)
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, data_dir)
    if name in SYNTHETIC:
        return synthetic(**SYNTHETIC[name], name=name)  # the name in records and cache keys is the one asked for
    raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
