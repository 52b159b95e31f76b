"""Embeddings: principal-component projections, spectra, training curves, quick runs."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

from sslteach.plots.base import new_or_given_axes


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
    fig, ax = new_or_given_axes(ax, (4, 4))
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

    fig, ax = new_or_given_axes(ax, (5, 3.5))
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
    fig, ax = new_or_given_axes(ax, (5, 3.5))
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
