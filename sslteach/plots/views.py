"""An image and its augmented views, side by side."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

from sslteach._checks import check_positive_int
from sslteach.augment import BatchedAugment, _check_images


def plot_views(
    images: Tensor,
    augment: BatchedAugment | Callable[[Tensor], Tensor],
    num_images: int = 6,
    num_views: int = 2,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    seed: int = 0,
) -> Figure:
    """A grid with one row per image: the original, then ``num_views`` augmented views of it.

    ``augment`` is a :class:`BatchedAugment` or a per-sample transform (e.g. from
    ``sslteach.per_sample.torchvision_transform``). Views come out normalised; they are mapped
    back to [0, 1] with ``mean``/``std``, which default to the augmentation's own config. Seeing
    several views of one image side by side is the quickest way to judge a recipe: the class must
    survive every view.
    """
    images = _check_images(images)
    num_images = min(check_positive_int("num_images", num_images), images.shape[0])
    num_views = check_positive_int("num_views", num_views)
    config = getattr(augment, "config", None)
    if mean is None or std is None:
        if config is None:
            raise ValueError("pass mean= and std= (the Normalize values of your transform)")
        mean, std = mean or config.mean, std or config.std
    originals = images[:num_images]
    if originals.dtype == torch.uint8:
        originals = originals.float() / 255
    views = _draw_views(images[:num_images], augment, num_views, seed)  # (views, n, 3, s, s)
    views = views * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]

    fig, axes = plt.subplots(
        num_images, num_views + 1, figsize=(1.4 * (num_views + 1), 1.4 * num_images), squeeze=False
    )
    fig.patch.set_facecolor("white")
    for row in range(num_images):
        panels = [originals[row], *(views[v, row] for v in range(num_views))]
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(panel.clamp(0, 1).permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("original" if col == 0 else f"view {col}", color="black", fontsize=9)
        axes[row, 0].set_ylabel(f"image {row}", color="black", fontsize=9)
    fig.tight_layout()
    return fig


def _draw_views(images: Tensor, augment: Callable, num_views: int, seed: int) -> Tensor:
    """``num_views`` augmentations of every image, reproducible from ``seed``, without touching
    the global random state."""
    if isinstance(augment, BatchedAugment):
        generator = torch.Generator(images.device).manual_seed(seed)
        return torch.stack([augment(images, generator).cpu() for _ in range(num_views)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.stack(
            [torch.stack([augment(img) for img in images]).cpu() for _ in range(num_views)]
        )
