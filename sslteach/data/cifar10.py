"""CIFAR-10 (Krizhevsky, 2009): 50,000 training and 10,000 test images, 32×32, 10 classes.

Read straight from the official "python version" (pickled batches in ``cifar-10-batches-py/``,
distributed as ``cifar-10-python.tar.gz``). If neither is under ``root``, the archive is
downloaded with torchvision's downloader and its MD5 checked before it is unpacked; every
batch is checked for shape, dtype and label range as it is read.
"""

from __future__ import annotations

import hashlib
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from sslteach.data.imageset import ImageSet, check_split

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


class CIFAR10Unavailable(FileNotFoundError):
    """CIFAR-10 is neither on disk nor downloadable."""


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(root: Path) -> None:
    from torchvision.datasets.utils import download_url

    download_url(URL, str(root), ARCHIVE, ARCHIVE_MD5)


def is_available(root: str | Path = "data") -> bool:
    """Whether CIFAR-10 is already under ``root`` (unpacked or as the archive): no download."""
    root = Path(root)
    return (root / FOLDER).is_dir() or (root / ARCHIVE).is_file()


def ensure_cifar10(root: str | Path = "data", download: bool = True) -> Path:
    """The folder of pickled batches under ``root``, unpacking or downloading the archive."""
    root = Path(root)
    folder, archive = root / FOLDER, root / ARCHIVE
    if folder.is_dir():
        return folder
    if not archive.is_file():
        if not download:
            raise CIFAR10Unavailable(_missing_message(root, "download is disabled"))
        try:
            root.mkdir(parents=True, exist_ok=True)
            _download(root)
        except Exception as err:  # no network, proxy, disk: all end in the same advice
            raise CIFAR10Unavailable(_missing_message(root, f"the download failed: {err}")) from err
    if _md5(archive) != ARCHIVE_MD5:
        raise ValueError(
            f"{archive} is corrupt or incomplete (its MD5 is not CIFAR-10's {ARCHIVE_MD5}); "
            f"delete it and download it again from {URL}"
        )
    with tarfile.open(archive, "r:gz") as tar:
        # The "data" filter refuses absolute paths and links out of root (Python ≥ 3.10.12).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(root, **safe)
    return folder


def _missing_message(root: Path, reason: str) -> str:
    return (
        f"CIFAR-10 is not in {root.resolve()} and {reason}. Put {ARCHIVE} (from {URL}) "
        f"or its unpacked {FOLDER}/ folder in {root.resolve()}, or train offline on the "
        "embedded data set with --dataset shapes"
    )


# The only globals a CIFAR-10 batch refers to: how numpy arrays are rebuilt.
BATCH_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR-10 batch holds (dicts, lists, bytes, str, numpy arrays) and
    refuses every other global, so a crafted batch file cannot run code."""

    def find_class(self, module: str, name: str):
        if (module, name) not in BATCH_GLOBALS:
            raise pickle.UnpicklingError(f"a CIFAR-10 batch holds no {module}.{name}")
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            batch = _BatchUnpickler(f, encoding="latin1").load()
        data = np.asarray(batch["data"])
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except FileNotFoundError as err:
        raise CIFAR10Unavailable(
            f"{path} is missing; restore the folder {path.parent} or delete it so that "
            f"{ARCHIVE} is unpacked again"
        ) from err
    except Exception as err:
        raise ValueError(
            f"{path} is not a CIFAR-10 batch ({err}); delete {path.parent} and unpack {ARCHIVE} "
            "again"
        ) from err
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR-10 batch (it holds a {type(batch).__name__})")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"{path} holds {data.dtype} data of shape {data.shape}, not (n, 3072) uint8"
        )
    if len(labels) != len(data) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise ValueError(
            f"{path} has {len(labels)} labels for {len(data)} images, or labels outside 0-9"
        )
    return data, labels


def load_cifar10(split: str, root: str | Path = "data", *, download: bool = True) -> ImageSet:
    """CIFAR-10 ``"train"`` or ``"test"`` as uint8 images (n, 3, 32, 32) and int64 labels."""
    check_split(split)
    folder = ensure_cifar10(root, download)
    names = TRAIN_BATCHES if split == "train" else TEST_BATCHES
    batches = [_read_batch(folder / name) for name in names]
    images = np.concatenate([data for data, _ in batches]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([lab for _, lab in batches])
    return ImageSet(torch.from_numpy(images), torch.from_numpy(labels), CLASSES, "cifar10")
