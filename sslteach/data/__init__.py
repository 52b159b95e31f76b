"""Data sets as in-memory uint8 image tensors, behind one small registry.

A data set is one module with a loader ``load(split, root, download) -> ImageSet``; register it
in ``DATASETS`` with the augmentation preset it trains with. Keeping images as a uint8 tensor
(150 MB for all of CIFAR-10) lets the batched augmentation run on whole batches on any device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sslteach.data.imageset import SPLITS, ImageSet, check_split


@dataclass(frozen=True)
class DatasetSpec:
    """How to load a data set and which augmentation preset trains on it."""

    load: Callable[[str, Path, bool], ImageSet]
    augment_preset: str


def _load_shapes(split: str, root: Path, download: bool) -> ImageSet:
    from sslteach.data.shapes import CLASSES, load_shapes

    images, labels = load_shapes(split)
    return ImageSet(images, labels, CLASSES, "shapes")


def _load_cifar10(split: str, root: Path, download: bool) -> ImageSet:
    from sslteach.data.cifar10 import load_cifar10

    return load_cifar10(split, root, download=download)


def _load_folder(split: str, root: Path, download: bool) -> ImageSet:
    from sslteach.data.folder import load_image_folder

    return load_image_folder(split, root)


DATASETS: dict[str, DatasetSpec] = {
    "shapes": DatasetSpec(_load_shapes, "shapes"),  # embedded, generated offline
    "cifar10": DatasetSpec(_load_cifar10, "cifar10"),  # downloaded into data/
    "folder": DatasetSpec(_load_folder, "cifar10"),  # your images: ROOT/{train,test}/CLASS/
}


def dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} "
            "(new data sets are registered in sslteach.data.DATASETS)"
        )
    return DATASETS[name]


def load_dataset(
    name: str, split: str, root: str | Path = "data", *, download: bool = True
) -> ImageSet:
    """Load split ``"train"`` or ``"test"`` of data set ``name`` (a key of ``DATASETS``).

    ``root`` is where downloads land (CIFAR-10) or, for ``"folder"``, the image folder itself.
    """
    spec = dataset_spec(name)
    check_split(split)
    return spec.load(split, Path(root), download)


__all__ = ["DATASETS", "SPLITS", "DatasetSpec", "ImageSet", "dataset_spec", "load_dataset"]
