"""The two-view recipe of ``sslteach.augment`` run the usual way: per sample, with
``torchvision.transforms.v2``, inside ``DataLoader`` worker processes.

sslteach trains with ``BatchedAugment`` (whole batches as tensor operations on the device);
this path is the reference it is measured against (``benchmarks/augment_throughput.py``) and
what ``TrainConfig(pipeline="dataloader")`` trains with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from sslteach.augment import AugmentConfig, _check_images


def torchvision_transform(config: AugmentConfig) -> Callable[[Tensor], Tensor]:
    """The same recipe for one (3, H, W) uint8 or [0, 1] float image, with transforms.v2."""
    from torchvision.transforms import v2

    if not isinstance(config, AugmentConfig):
        raise TypeError(f"config must be an AugmentConfig, got {type(config).__name__}")
    c = config
    jitter = v2.ColorJitter(c.brightness, c.contrast, c.saturation, c.hue)
    return v2.Compose(
        [
            v2.ToDtype(torch.float32, scale=True),  # so solarise's 0.5 threshold fits any input
            v2.RandomResizedCrop(c.size, scale=c.crop_scale, ratio=c.crop_ratio, antialias=True),
            v2.RandomHorizontalFlip(c.flip_p),
            v2.RandomApply([jitter], c.jitter_p),
            v2.RandomGrayscale(c.grayscale_p),
            v2.RandomSolarize(0.5, c.solarize_p),
            v2.Normalize(list(c.mean), list(c.std)),
        ]
    )


class TwoViews(Dataset):
    """(view_a, view_b) pairs of images (n, 3, H, W) for a DataLoader with workers."""

    def __init__(self, images: Tensor, transform: Callable[[Tensor], Tensor]) -> None:
        self.images = _check_images(images)
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image = self.images[index]
        return self.transform(image), self.transform(image)


def two_view_loader(
    images: Tensor,
    indices: Sequence[int],
    config: AugmentConfig,
    batch_size: int,
    *,
    workers: int = 2,
    seed: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches of (view_a, view_b) of ``images[indices]``, in that order, each image augmented
    by :func:`torchvision_transform` in one of ``workers`` processes: the standard pipeline.

    ``seed`` seeds the workers' generators (worker i draws from seed-derived base + i); with
    ``workers=0`` the transforms draw from the global torch generator instead.
    """
    return DataLoader(
        TwoViews(images, torchvision_transform(config)),
        batch_size=batch_size,
        sampler=indices,
        num_workers=workers,
        drop_last=True,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),
    )
