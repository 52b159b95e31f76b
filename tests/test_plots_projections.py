"""Side-by-side projections and diagnostics: one shared scale, variance shares, clear errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from sslteach.plots.projections import (
    plot_component_pairs,
    plot_diagnostics,
    plot_projections_3d,
)

N, D = 200, 12


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def embeddings() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(N, D, generator=g)
    line = torch.randn(N, 1, generator=g) * torch.ones(1, D) * 3  # rank 1: dimensional collapse
    point = 1.0 + 1e-3 * torch.randn(N, D, generator=g)  # complete collapse
    return {"point": point, "line": line, "spread": spread}


@pytest.fixture(scope="module")
def labels() -> torch.Tensor:
    return torch.arange(N) % 10


def test_3d_panels_share_one_scale_and_report_variance_shares(embeddings, labels):
    fig = plot_projections_3d(embeddings, labels, title="t")
    assert isinstance(fig, Figure) and fig.get_facecolor()[:3] == (1.0, 1.0, 1.0)
    assert len(fig.axes) == 3 and fig._suptitle.get_text() == "t"
    limits = {(ax.get_xlim(), ax.get_ylim(), ax.get_zlim()) for ax in fig.axes}
    assert len(limits) == 1  # every panel, every axis: the same range
    (x_limits, y_limits, z_limits) = limits.pop()
    assert x_limits == y_limits == z_limits
    assert x_limits[1] >= 3 * D**0.5  # the line reaches ≈ 3·√d·|t| along PC 1
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[1] == "line\nPCs 1–3 hold 100% of the variance"
    assert titles[2].startswith("spread\n") and "100%" not in titles[2]


def test_component_pairs_shrink_a_collapsed_embedding_to_a_dot(embeddings, labels):
    fig = plot_component_pairs(embeddings, labels, pairs=((1, 2), (5, 6)))
    axes = fig.axes
    assert len(axes) == 6  # 3 rows × 2 columns
    assert len({(ax.get_xlim(), ax.get_ylim()) for ax in axes}) == 1
    assert [ax.get_xlabel() for ax in axes[:2]] == ["PC 1", "PC 5"]
    assert axes[3].get_title() == "line: 0% of variance"  # PCs 5–6 of a rank-1 embedding
    late = axes[3].collections[0].get_offsets()
    assert abs(late).max() < 1e-6 * axes[3].get_xlim()[1]


def test_diagnostics_panels_say_which_are_scale_invariant(embeddings):
    fig = plot_diagnostics(embeddings)
    assert [ax.get_title() for ax in fig.axes] == [
        "scale-invariant",
        "scale-invariant",
        "scale-invariant",
        "NOT scale-invariant",
    ]
    rank_bars = [patch.get_height() for patch in fig.axes[0].patches]
    assert rank_bars[1] < 1.1 and rank_bars[2] > 0.8 * D  # line ≈ 1, spread ≈ d


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda z, y: plot_projections_3d({}, y), "at least one"),
        (lambda z, y: plot_projections_3d({"a": z[:, :2]}, y), "d ≥ 3"),
        (lambda z, y: plot_projections_3d({"a": z[:-1]}, y), "one label per row"),
        (lambda z, y: plot_projections_3d({"a": z[0]}, y), "must be an \\(n, d\\) tensor"),
        (lambda z, y: plot_component_pairs({"a": z}, y, pairs=((0, 1),)), "≥ 1"),
        (lambda z, y: plot_component_pairs({"a": z}, y, pairs=((1, 13),)), "component 13"),
        (lambda z, y: plot_component_pairs({"a": z}, y.float()[:, None]), "1-D tensor"),
        (lambda z, y: plot_diagnostics([z]), "dict"),
    ],
)
def test_bad_input_is_named(embeddings, labels, call, words):
    with pytest.raises(ValueError, match=words):
        call(embeddings["spread"], labels)
