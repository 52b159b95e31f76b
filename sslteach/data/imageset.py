"""``ImageSet``: a data set's images and labels, held in memory as tensors."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

SPLITS = ("train", "test")


@dataclass(frozen=True)
class ImageSet:
    """Images uint8 (N, 3, H, W), labels int64 (N,), and the class names."""

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...]
    name: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, count: int | None) -> ImageSet:
        """The first ``count`` images (all of them for None); data sets are stored shuffled."""
        if count is None or count >= len(self):
            return self
        if count < 1:
            raise ValueError(f"count must be a positive number of images, got {count}")
        return ImageSet(self.images[:count], self.labels[:count], self.classes, self.name)


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
