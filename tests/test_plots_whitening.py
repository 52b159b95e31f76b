"""The whitening figures: landmarks, panels, and the sample-covariance eigenvalue experiment."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from sslteach.plots.whitening import (
    plot_correlation_matrices,
    plot_sample_covariance_eigenvalues,
    plot_whitening_2d,
    sample_covariance_eigenvalues,
    spread_points,
)
from sslteach.whitening import whiten


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def cloud() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    mixing = torch.tensor([[2.0, 0.0], [1.2, 0.6]])
    return torch.randn(400, 2, generator=generator) @ mixing.T + torch.tensor([1.0, -0.5])


def test_landmarks_are_distinct_and_spread_around_the_cloud(cloud):
    index = spread_points(cloud, 6)
    assert index.shape == (6,) and len(set(index.tolist())) == 6
    white = whiten(cloud.double(), "zca")[index]
    radius = white.norm(dim=1)
    assert ((radius > 1.0) & (radius < 2.0)).all()
    angles = torch.atan2(white[:, 1], white[:, 0]).sort().values
    gaps = torch.diff(torch.cat([angles, angles[:1] + 2 * math.pi]))
    assert gaps.max() < 2 * (2 * math.pi / 6)  # no side of the cloud left out


def test_landmark_count_is_checked(cloud):
    with pytest.raises(ValueError, match="k must be between 1 and the number of points 400"):
        spread_points(cloud, 0)


def test_whitening_figure_has_a_panel_per_method_with_round_ellipses(cloud):
    fig = plot_whitening_2d(cloud, landmarks=torch.tensor([0, 1, 2]))
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        "original data",
        "PCA whitening",
        "ZCA whitening",
        "Cholesky whitening",
    ]
    for ax in axes[1:]:
        (ellipse,) = [p for p in ax.patches if isinstance(p, Ellipse)]
        assert ellipse.width == pytest.approx(4.0) and ellipse.height == pytest.approx(4.0)
    (original,) = [p for p in axes[0].patches if isinstance(p, Ellipse)]
    assert original.width > 2 * original.height  # the data are elongated before whitening


def test_whitening_figure_takes_a_subset_of_methods(cloud):
    fig = plot_whitening_2d(cloud, methods=("zca",), landmarks=4)
    assert len(fig.axes) == 2


@pytest.mark.parametrize(
    ("points", "methods", "message"),
    [
        (torch.randn(10, 3), ("zca",), r"points must have shape \(n, 2\), got \(10, 3\)"),
        (torch.randn(10, 2), ("svd",), r"unknown whitening method\(s\) \['svd'\]"),
    ],
)
def test_whitening_figure_rejects_bad_input(points, methods, message):
    with pytest.raises(ValueError, match=message):
        plot_whitening_2d(points, methods=methods)


def test_sample_covariance_eigenvalues_follow_marchenko_pastur():
    d = 16
    values = sample_covariance_eigenvalues(d, [d, 2 * d, 64 * d], repeats=10)
    assert values["smallest"][0] < 1e-10  # m = d samples span only d − 1 directions
    edge = (1 - math.sqrt(1 / 2)) ** 2  # ≈ 0.086 at m = 2·d
    assert 0.5 * edge < values["smallest"][1] < 2.5 * edge
    assert 0.7 < values["smallest"][2] < 1.0 < values["largest"][2] < 1.3
    assert (values["smallest"] <= values["largest"]).all()


def test_sample_covariance_eigenvalues_reject_a_single_sample():
    with pytest.raises(ValueError, match="at least 2 samples, got 1"):
        sample_covariance_eigenvalues(4, [1])


def test_correlation_heatmaps():
    z = torch.randn(200, 8)
    fig = plot_correlation_matrices({"independent": z, "redundant": z[:, :2].repeat(1, 4)})
    heatmaps = [ax for ax in fig.axes if ax.get_title()]
    assert len(heatmaps) == 2 and len(fig.axes) == 3  # and the colour bar
    independent, redundant = (float(ax.get_title().split("= ")[-1]) for ax in heatmaps)
    assert independent < 0.15 < 0.4 < redundant
    single = plot_correlation_matrices({"one": z}, title="t")
    assert isinstance(single, Figure)
    with pytest.raises(ValueError, match="at least one"):
        plot_correlation_matrices({})


def test_eigenvalue_figure():
    fig = plot_sample_covariance_eigenvalues(8, [12, 16, 32, 64])
    assert isinstance(fig, Figure) and fig.axes[0].get_yscale() == "log"
