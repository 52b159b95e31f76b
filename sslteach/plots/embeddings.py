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


def plot_quick_run(run, limit: float = 3.0) -> Figure:
    """A ``widgets.QuickRun`` in four panels: the *unweighted* loss terms per step (so a term
    with weight 0 still shows what it measures), the held-out embedding std per step (the scale
    of z), the spectrum of the held-out embeddings, and their first two principal components on
    fixed axes ±``limit`` (a collapsed embedding looks small), coloured by class. The title
    gives the run's settings and the kNN accuracy of its representation."""
    from sslteach.diagnostics import effective_rank

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    fig.patch.set_facecolor("white")
    steps = range(1, len(run.steps) + 1)
    for name, weight in run.weights.items():
        values = [max(abs(s[name]), 1e-6) for s in run.steps]  # a log axis hides 0
        axes[0].plot(steps, values, label=f"{name} (weight {weight:g})")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("term value (log; |value| of signed terms)")
    axes[0].set_title("unweighted loss terms")
    axes[0].legend(fontsize=7)
    axes[1].plot(range(1, len(run.scale) + 1), run.scale, color="black")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("embedding std (log)")
    axes[1].set_title("scale of z (held-out, eval mode)")
    d = run.embeddings.shape[1]
    plot_spectra({"held-out": run.embeddings}, ax=axes[2])
    axes[2].get_legend().remove()
    axes[2].set_title(f"spectrum: effective rank {effective_rank(run.embeddings):.1f} of d = {d}")
    plot_embedding_2d(
        run.embeddings, run.labels, run.classes, ax=axes[3], title=f"held-out z, PCs on ±{limit:g}"
    )
    axes[3].set_xlim(-limit, limit)
    axes[3].set_ylim(-limit, limit)
    axes[3].set_aspect("equal")
    settings = ", ".join(f"{k.rstrip('_')}={v:g}" for k, v in run.config.loss.items())
    fig.suptitle(
        f"{run.config.method} ({settings or 'defaults'}): kNN accuracy {run.knn_accuracy:.2f}",
        color="black",
    )
    fig.tight_layout()
    return fig
