"""Several embeddings side by side on one scale: the pictures of the three kinds of collapse.

Hua et al. ("On Feature Decorrelation in Self-Supervised Learning", ICCV 2021, Fig. 1) draw
complete collapse as a single point, dimensional collapse as points on a line or plane, and
decorrelated embeddings as a round cloud. These figures draw the same thing from trained
embeddings: principal-component coordinates (``principal_components``) of each embedding,
all panels on the *same* axis limits, so a collapsed embedding looks small next to a healthy
one instead of being stretched to fill its own panel. Each panel also says which share of the
embedding's total variance the drawn components hold: near 100 % for the first two or three
components means dimensional collapse.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from sslteach.plots.embeddings import principal_components


def _check_embeddings(
    embeddings: dict[str, Tensor], labels: Tensor | None = None
) -> dict[str, Tensor]:
    """The embeddings as CPU float64 (n, d) tensors, each matching ``labels`` (if given)."""
    if not isinstance(embeddings, dict) or not embeddings:
        raise ValueError(
            "embeddings must be a dict naming at least one (n, d) tensor, e.g. {'batchnorm': z}"
        )
    if labels is not None and (not isinstance(labels, Tensor) or labels.dim() != 1):
        raise ValueError("labels must be a 1-D tensor of class indices, one per embedding row")
    checked = {}
    for name, z in embeddings.items():
        if not isinstance(z, Tensor) or z.dim() != 2:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"embeddings[{name!r}] must be an (n, d) tensor, got {shape}")
        if labels is not None and z.shape[0] != len(labels):
            raise ValueError(
                f"embeddings[{name!r}] has {z.shape[0]} rows but labels has {len(labels)}; "
                "pass one label per row"
            )
        checked[name] = z.detach().double().cpu()
    return checked


def _variance_share(z: Tensor, coordinates: Tensor) -> float:
    """The share of z's total variance held by the given principal-component coordinates."""
    total = z.var(dim=0).sum()
    return (coordinates.var(dim=0).sum() / total).item() if total > 0 else 0.0


def _shared_limit(coordinates: Sequence[Tensor]) -> float:
    """Half-width of the common axis range: the largest |coordinate| plus a margin."""
    largest = max(c.abs().max().item() for c in coordinates)
    return 1.05 * largest if largest > 0 else 1.0


def _scatter(ax: Axes, points: Tensor, labels: Tensor, **kwargs) -> None:
    columns = [points[:, i].numpy() for i in range(points.shape[1])]
    ax.scatter(*columns, c=labels.numpy(), cmap="tab10", vmin=0, vmax=9, s=4, **kwargs)


def plot_projections_3d(
    embeddings: dict[str, Tensor], labels: Tensor, *, title: str = ""
) -> Figure:
    """One 3-D scatter per named embedding of its first three principal components (centred),
    coloured by class, all on the same axis limits; each panel's title gives the share of the
    total variance those three components hold."""
    zs = _check_embeddings(embeddings, labels)
    for name, z in zs.items():
        if z.shape[1] < 3:
            raise ValueError(f"embeddings[{name!r}] has d={z.shape[1]}; a 3-D view needs d ≥ 3")
    points = {name: principal_components(z, 3) for name, z in zs.items()}
    limit = _shared_limit(list(points.values()))
    labels = labels.cpu()
    fig = plt.figure(figsize=(4 * len(zs), 4.2))
    fig.patch.set_facecolor("white")
    for i, (name, p) in enumerate(points.items()):
        ax = fig.add_subplot(1, len(zs), i + 1, projection="3d")
        _scatter(ax, p, labels, depthshade=False)
        for axis in "xyz":
            getattr(ax, f"set_{axis}lim")(-limit, limit)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.set_zlabel("PC 3")
        ax.set_title(f"{name}\nPCs 1–3 hold {_variance_share(zs[name], p):.0%} of the variance")
    fig.suptitle(title or "embeddings, first three principal components (same scale)")
    fig.tight_layout()
    return fig


def plot_component_pairs(
    embeddings: dict[str, Tensor],
    labels: Tensor,
    pairs: Sequence[tuple[int, int]] = ((1, 2), (9, 10)),
    *,
    title: str = "",
) -> Figure:
    """A grid with one row per named embedding and one column per pair of principal components
    (numbered from 1), every panel on the same square axis limits.

    Late components (e.g. 9 and 10) show dimensional collapse directly: a healthy embedding
    spreads as widely along them as along the first two, a collapsed one shrinks to a dot.
    """
    zs = _check_embeddings(embeddings, labels)
    pairs = [tuple(pair) for pair in pairs]
    if not pairs or any(len(pair) != 2 or min(pair) < 1 for pair in pairs):
        raise ValueError(
            f"pairs must be pairs of component numbers ≥ 1, e.g. ((1, 2),), got {pairs}"
        )
    needed = max(max(pair) for pair in pairs)
    for name, z in zs.items():
        if z.shape[1] < needed:
            raise ValueError(
                f"embeddings[{name!r}] has d={z.shape[1]} dimensions, fewer than component {needed}"
            )
    components = {name: principal_components(z, needed) for name, z in zs.items()}
    limit = _shared_limit(list(components.values()))
    labels = labels.cpu()
    fig, axes = plt.subplots(
        len(zs), len(pairs), figsize=(3.2 * len(pairs), 3.2 * len(zs)), squeeze=False
    )
    fig.patch.set_facecolor("white")
    for row, (name, c) in enumerate(components.items()):
        for col, (a, b) in enumerate(pairs):
            ax = axes[row, col]
            p = c[:, [a - 1, b - 1]]
            _scatter(ax, p, labels)
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_aspect("equal")
            ax.set_xlabel(f"PC {a}")
            ax.set_ylabel(f"PC {b}")
            ax.set_title(f"{name}: {_variance_share(zs[name], p):.0%} of variance", fontsize=9)
    fig.suptitle(title or "pairs of principal components, all panels on one scale")
    fig.tight_layout()
    return fig


# (diagnostic name, axis label, scale-invariant?)
_DIAGNOSTICS = (
    ("effective_rank", "effective rank (RankMe)", True),
    ("l2_normalized_std", "std of L2-normalised z", True),
    ("mean_abs_correlation", "mean |off-diagonal corr.|", True),
    ("embedding_std", "embedding std (raw units)", False),
)


def plot_diagnostics(embeddings: dict[str, Tensor], *, title: str = "") -> Figure:
    """The collapse diagnostics of ``sslteach.diagnostics`` as bar charts, one panel per
    diagnostic, one bar per named embedding. Dashed lines mark the values of an isotropic
    embedding (rank d, normalised std 1/√d); each panel says whether its diagnostic is
    scale-invariant, i.e. blind to embeddings that shrink towards zero."""
    from sslteach import diagnostics

    zs = _check_embeddings(embeddings)
    fig, axes = plt.subplots(1, len(_DIAGNOSTICS), figsize=(3.3 * len(_DIAGNOSTICS), 3.4))
    fig.patch.set_facecolor("white")
    d = max(z.shape[1] for z in zs.values())
    isotropic = {"effective_rank": d, "l2_normalized_std": d**-0.5}
    names = list(zs)
    for ax, (key, label, invariant) in zip(axes, _DIAGNOSTICS, strict=True):
        values = [getattr(diagnostics, key)(z) for z in zs.values()]
        bars = ax.bar(range(len(names)), values, color=[f"C{i}" for i in range(len(names))])
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        if key in isotropic:
            ax.axhline(isotropic[key], color="black", ls="--", lw=1, label="isotropic")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.set_title("scale-invariant" if invariant else "NOT scale-invariant", fontsize=9)
        ax.margins(y=0.15)
    fig.suptitle(title or "collapse diagnostics")
    fig.tight_layout()
    return fig
