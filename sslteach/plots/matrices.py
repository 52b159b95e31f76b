"""Square matrices as heatmaps: cross-correlation, covariance, TiCo's running matrix C.

A diverging colour map centred at 0 (blue negative, white zero, red positive) makes the two
things these losses care about visible at a glance: the diagonal (should it be 1? 1/d?) and
the off-diagonal entries (redundancy between dimensions, which the losses drive to 0).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from sslteach.plots.base import new_or_given_axes


def _as_matrix(m: Tensor, name: str) -> Tensor:
    if not isinstance(m, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(m).__name__}")
    if m.dim() != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(m.shape)}")
    return m.detach().double().cpu()


def _symmetric_limit(matrices: list[Tensor], vmax: float | None) -> float:
    """The colour scale's half-width: ``vmax``, else the largest |entry| (1.0 for all zeros)."""
    if vmax is not None:
        if not vmax > 0:
            raise ValueError(f"vmax must be positive, got {vmax}")
        return float(vmax)
    largest = max(m.abs().max().item() for m in matrices)
    return largest if largest > 0 else 1.0


def _draw(ax: Axes, m: Tensor, limit: float, cmap: str, title: str):
    image = ax.imshow(m.numpy(), cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xlabel("dimension j")
    ax.set_ylabel("dimension i")
    ax.set_title(title)
    ax.grid(False)  # seaborn's grid lines would cross every cell
    return image


def plot_matrix(
    m: Tensor,
    ax: Axes | None = None,
    *,
    title: str = "",
    vmax: float | None = None,
    cmap: str = "RdBu_r",
    label: str = "",
) -> Figure:
    """Heatmap of a (rows, cols) matrix with a colour bar, diverging colours centred at 0.

    The scale runs from −vmax to vmax (default: the largest |entry|); pass ``vmax=1`` for
    correlation matrices so that 1 always looks the same.
    """
    m = _as_matrix(m, "m")
    fig, ax = new_or_given_axes(ax, (4.4, 3.6))
    image = _draw(ax, m, _symmetric_limit([m], vmax), cmap, title)
    fig.colorbar(image, ax=ax, label=label)
    return fig


def plot_matrices(
    matrices: dict[str, Tensor],
    *,
    title: str = "",
    vmax: float | None = None,
    cmap: str = "RdBu_r",
    label: str = "",
) -> Figure:
    """Named matrices side by side on one shared colour scale (e.g. before / after training),
    so equal colours mean equal values across panels."""
    if not matrices:
        raise ValueError("matrices must name at least one matrix, e.g. {'before': c0, 'after': c1}")
    ms = {name: _as_matrix(m, f"matrices[{name!r}]") for name, m in matrices.items()}
    limit = _symmetric_limit(list(ms.values()), vmax)
    fig, axes = plt.subplots(
        1, len(ms), figsize=(3.6 * len(ms) + 0.8, 3.6), squeeze=False, layout="constrained"
    )
    fig.patch.set_facecolor("white")
    for ax, (name, m) in zip(axes[0], ms.items(), strict=True):
        image = _draw(ax, m, limit, cmap, name)
    fig.colorbar(image, ax=list(axes[0]), label=label)
    if title:
        fig.suptitle(title, color="black")
    return fig
