"""Figures for the notebooks: each function takes tensors and returns a matplotlib Figure.

Figures use a white face and black text on purpose, so they stay readable in both light and
dark notebook themes (a transparent figure with black labels vanishes on a dark page).
"""

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
    ``torchvision_transform``). Views come out normalised; they are mapped back to [0, 1] with
    ``mean``/``std``, which default to the augmentation's own config. Seeing several views of one
    image side by side is the quickest way to judge a recipe: the class must survive every view.
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


def set_style() -> None:
    """sslteach's figure style: seaborn's "whitegrid" with a white face and black text, so
    figures stay readable on light and dark notebook themes. Notebooks call it once."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "figure.dpi": 90})


def principal_components(z: Tensor, k: int = 2) -> Tensor:
    """The first ``k`` principal-component coordinates of the rows of z (n, d): a linear view
    of the embedding that keeps as much of its variance as k dimensions can."""
    z = z.detach().double().cpu()
    z = z - z.mean(0)
    _, _, v = torch.linalg.svd(z, full_matrices=False)
    return z @ v[:k].T


def plot_embedding_2d(
    z: Tensor, labels: Tensor, classes: Sequence[str] = (), ax=None, title: str = ""
) -> Figure:
    """Scatter of the embeddings' first two principal components, coloured by class."""
    fig, ax = _figure(ax, (4, 4))
    points = principal_components(z)
    scatter = ax.scatter(
        points[:, 0], points[:, 1], c=labels.cpu(), cmap="tab10", s=6, vmin=0, vmax=9
    )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title or "embedding, first two principal components")
    if classes:
        handles, _ = scatter.legend_elements()
        ax.legend(handles, classes, fontsize=7, markerscale=0.8, loc="best", ncols=2)
    return fig


def plot_spectra(embeddings: dict[str, Tensor], ax=None, title: str = "") -> Figure:
    """Log-scale singular values of the covariance of L2-normalised embeddings (Jing et al.),
    one line per named embedding: collapsed dimensions fall off a cliff."""
    from sslteach.diagnostics import spectrum

    fig, ax = _figure(ax, (5, 3.5))
    for name, z in embeddings.items():
        values = spectrum(z).clamp_min(1e-12)
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("singular value index k")
    ax.set_ylabel("σ_k (log)")
    ax.set_title(title or "embedding spectrum")
    ax.legend(fontsize=8)
    return fig


def plot_history(
    history: Sequence[dict], keys: Sequence[str], ax=None, x: str = "epoch", title: str = ""
) -> Figure:
    """Curves of ``keys`` from a history (list of records) against ``x``."""
    fig, ax = _figure(ax, (5, 3.5))
    for key in keys:
        xs = [r[x] for r in history] if x in history[0] else range(1, len(history) + 1)
        ax.plot(list(xs), [r[key] for r in history], label=key)
    ax.set_xlabel(x)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_quick_run(run) -> Figure:
    """A ``widgets.QuickRun`` in three panels: weighted loss terms per step, the spectrum of
    its held-out embeddings, and their first two principal components by class."""
    from sslteach.diagnostics import effective_rank, embedding_std

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    fig.patch.set_facecolor("white")
    steps = range(1, len(run.steps) + 1)
    for name, weight in run.weights.items():
        axes[0].plot(steps, [weight * s[name] for s in run.steps], label=f"{weight:g} × {name}")
    axes[0].plot(steps, [s["loss"] for s in run.steps], color="black", lw=1.5, label="loss")
    axes[0].set_xlabel("step")
    axes[0].set_title("weighted loss terms")
    axes[0].legend(fontsize=7)
    plot_spectra({"held-out": run.embeddings}, ax=axes[1])
    axes[1].get_legend().remove()
    rank, std = effective_rank(run.embeddings), embedding_std(run.embeddings)
    axes[1].set_title(f"spectrum: effective rank {rank:.1f}, std {std:.2f}")
    plot_embedding_2d(run.embeddings, run.labels, ax=axes[2], title="held-out embeddings (PCA)")
    settings = ", ".join(f"{k.rstrip('_')}={v:g}" for k, v in run.config.loss.items())
    fig.suptitle(f"{run.config.method} ({settings or 'defaults'})", color="black")
    fig.tight_layout()
    return fig


def _figure(ax, size: tuple[float, float]):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size)
    fig.patch.set_facecolor("white")
    return fig, ax
