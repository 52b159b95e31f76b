"""Whitening: 2-D pictures of PCA/ZCA/Cholesky whitening, correlation heatmaps, and why a
covariance needs many more samples than dimensions before it can be whitened."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from matplotlib.ticker import MaxNLocator, ScalarFormatter
from torch import Tensor

from sslteach.plots.base import new_or_given_axes
from sslteach.whitening import METHODS, whiten

NAMES = {"pca": "PCA", "zca": "ZCA", "cholesky": "Cholesky"}


def spread_points(points: Tensor, k: int = 6) -> Tensor:
    """Indices of ``k`` points of a 2-D cloud that lie well out from its centre (Mahalanobis
    radius near 1.5) at evenly spaced angles: landmarks that make a rotation easy to see."""
    if k < 1 or k > len(points):
        raise ValueError(f"k must be between 1 and the number of points {len(points)}, got {k}")
    white = whiten(points.double(), "zca")  # angles measured where the cloud is round
    radius, angle = white.norm(dim=1), torch.atan2(white[:, 1], white[:, 0])
    chosen: list[int] = []
    for target in torch.arange(k, dtype=torch.float64) * (2 * math.pi / k) - math.pi + 0.3:
        gap = torch.remainder(angle - target + math.pi, 2 * math.pi) - math.pi
        cost = gap.abs() + (radius - 1.5).abs()
        cost[chosen] = math.inf
        chosen.append(int(cost.argmin()))
    return torch.tensor(chosen)


def _covariance_ellipse(ax: Axes, points: Tensor, scale: float = 2.0) -> None:
    """The ellipse {x : (x − μ)ᵀ Σ⁻¹ (x − μ) = scale²} of the points' sample covariance."""
    mean, cov = points.mean(0), torch.cov(points.T)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending
    major = eigenvectors[:, 1]
    width, height = (2 * scale * eigenvalues.flip(0).clamp_min(0).sqrt()).tolist()
    angle = math.degrees(math.atan2(major[1].item(), major[0].item()))
    ellipse = Ellipse(
        mean.tolist(), width, height, angle=angle, fill=False, color="black", lw=1.5, ls="--"
    )
    ax.add_patch(ellipse)


def _draw_cloud(ax: Axes, points: Tensor, landmarks: Tensor, title: str) -> None:
    colors = plt.get_cmap("tab10")(range(len(landmarks)))
    ax.scatter(points[:, 0], points[:, 1], s=5, color="0.6", alpha=0.5)
    ring = points[torch.cat([landmarks, landmarks[:1]])]
    ax.plot(ring[:, 0], ring[:, 1], color="0.25", lw=1)
    ax.scatter(*points[landmarks].T, s=70, c=colors, edgecolors="black", zorder=3)
    _covariance_ellipse(ax, points)
    ax.set_title(title)


def plot_whitening_2d(
    points: Tensor, methods: Sequence[str] = METHODS, landmarks: int | Tensor = 6
) -> Figure:
    """The 2-D cloud ``points`` (n, 2) and its whitened versions, one panel per method.

    The same ``landmarks`` (a count, or indices) carry the same colours in every panel and are
    joined by a line, so the rotation (or reflection) between the methods shows; the dashed
    ellipse is each panel's 2-standard-deviation covariance ellipse (a circle once whitened).
    """
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {tuple(points.shape)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown whitening method(s) {unknown}; choose among {METHODS}")
    points = points.detach().double().cpu()
    if isinstance(landmarks, int):
        landmarks = spread_points(points, landmarks)
    fig, axes = plt.subplots(1, 1 + len(methods), figsize=(3.6 * (1 + len(methods)), 3.9))
    fig.patch.set_facecolor("white")
    _draw_cloud(axes[0], points, landmarks, "original data")
    axes[0].set_aspect("equal", adjustable="datalim")
    axes[0].set_xlabel("$x_1$")
    axes[0].set_ylabel("$x_2$")
    whitened = [whiten(points, method) for method in methods]
    limit = 1.1 * max(w.abs().max().item() for w in whitened)
    for ax, method, white in zip(axes[1:], methods, whitened, strict=True):
        _draw_cloud(ax, white, landmarks, f"{NAMES[method]} whitening")
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel("whitened coordinate 1")
        ax.set_ylabel("whitened coordinate 2")
    fig.tight_layout()
    return fig


def plot_correlation_matrices(embeddings: dict[str, Tensor], title: str = "") -> Figure:
    """Heatmaps of the Pearson correlation matrices of named (n, d) embeddings, side by side,
    each titled with its mean absolute off-diagonal correlation (Hua et al., ICCV 2021)."""
    from sslteach.diagnostics import correlation_matrix, mean_abs_correlation

    if not embeddings:
        raise ValueError("embeddings must name at least one (n, d) tensor")
    fig, axes = plt.subplots(1, len(embeddings), figsize=(3.6 * len(embeddings) + 0.8, 3.6))
    fig.patch.set_facecolor("white")
    axes = [axes] if len(embeddings) == 1 else list(axes)
    for ax, (name, z) in zip(axes, embeddings.items(), strict=True):
        image = ax.imshow(correlation_matrix(z).numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"{name}\nmean $|\\rho_{{ij}}|$ = {mean_abs_correlation(z):.3f}", fontsize=10)
        ax.set_xlabel("dimension $j$")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(False)
    axes[0].set_ylabel("dimension $i$")
    fig.colorbar(image, ax=axes, shrink=0.8, label="correlation $\\rho_{ij}$")
    if title:
        fig.suptitle(title, color="black")
    return fig


def sample_covariance_eigenvalues(
    d: int, sizes: Sequence[int], repeats: int = 20, seed: int = 0
) -> dict[str, Tensor]:
    """Smallest and largest eigenvalue of the sample covariance of m standard-normal vectors
    in d dimensions (true covariance I), averaged over ``repeats`` draws, for each m in
    ``sizes``. For m ≤ d the smallest is 0: m samples span at most m − 1 directions."""
    generator = torch.Generator().manual_seed(seed)
    smallest, largest = [], []
    for m in sizes:
        if m < 2:
            raise ValueError(f"every size must be at least 2 samples, got {m}")
        z = torch.randn(repeats, m, d, generator=generator, dtype=torch.float64)
        z = z - z.mean(dim=1, keepdim=True)
        eigenvalues = torch.linalg.eigvalsh(z.transpose(1, 2) @ z / (m - 1)).clamp_min(0)
        smallest.append(eigenvalues[:, 0].mean())
        largest.append(eigenvalues[:, -1].mean())
    return {
        "m": torch.tensor(list(sizes)),
        "smallest": torch.stack(smallest),
        "largest": torch.stack(largest),
    }


def plot_sample_covariance_eigenvalues(
    d: int, sizes: Sequence[int], ax: Axes | None = None, seed: int = 0
) -> Figure:
    """How well m samples estimate a d-dimensional identity covariance: the smallest and largest
    sample eigenvalue against m/d, with the Marchenko–Pastur edges (1 ± √(d/m))². Whitening
    multiplies the direction of the smallest by 1/√λ_min, so noise explodes as m → d."""
    fig, ax = new_or_given_axes(ax, (5.5, 3.6))
    values = sample_covariance_eigenvalues(d, sizes, seed=seed)
    ratio = values["m"].double() / d
    ax.plot(ratio, values["largest"], "o-", label="largest eigenvalue")
    ax.plot(ratio, values["smallest"].clamp_min(1e-6), "o-", label="smallest eigenvalue")
    fine = torch.linspace(ratio.min().item(), ratio.max().item(), 200, dtype=torch.float64)
    for sign in (1, -1):
        edge = (1 + sign * (1 / fine).sqrt()) ** 2
        label = "Marchenko–Pastur edges (1 ± √(d/m))²" if sign == 1 else None
        ax.plot(fine, edge.clamp_min(1e-6), color="0.4", lw=1, ls=":", label=label)
    ax.axhline(1.0, color="black", lw=1, label="true eigenvalue (all 1)")
    ax.axvline(2.0, color="tab:red", lw=1, ls="--", label="m = 2·d")
    ax.set_yscale("log")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("samples per dimension m / d")
    ax.set_ylabel("eigenvalue of the sample covariance")
    ax.set_title(f"estimating Σ = I in d = {d} dimensions from m samples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
