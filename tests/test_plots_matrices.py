"""Heatmaps of square matrices: symmetric colour scale centred at 0, shared across panels."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from sslteach.plots.matrices import plot_matrices, plot_matrix


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _limits(ax) -> tuple[float, float]:
    return ax.images[0].get_clim()


def test_plot_matrix_centres_the_colour_scale_at_zero():
    m = torch.tensor([[1.0, -0.25], [0.5, 0.75]], requires_grad=True)
    fig = plot_matrix(m, title="c", label="correlation")
    assert isinstance(fig, Figure)
    heatmap, colourbar = fig.axes
    assert _limits(heatmap) == pytest.approx((-1.0, 1.0))
    assert heatmap.get_title() == "c" and colourbar.get_ylabel() == "correlation"
    assert fig.get_facecolor()[:3] == (1.0, 1.0, 1.0)


def test_plot_matrix_honours_vmax_and_draws_into_a_given_axes():
    fig, ax = plt.subplots()
    assert plot_matrix(torch.eye(3) * 0.1, ax=ax, vmax=1) is fig
    assert _limits(ax) == pytest.approx((-1.0, 1.0))


def test_an_all_zero_matrix_gets_a_finite_scale():
    fig = plot_matrix(torch.zeros(4, 4))
    assert _limits(fig.axes[0]) == pytest.approx((-1.0, 1.0))


def test_plot_matrices_shares_one_scale_across_panels():
    fig = plot_matrices({"before": torch.eye(3) * 0.2, "after": -2 * torch.eye(3)}, title="c")
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["before", "after"]
    assert all(_limits(ax) == pytest.approx((-2.0, 2.0)) for ax in panels)
    assert len(fig.axes) == 3  # two panels and one colour bar
    assert fig._suptitle.get_text() == "c"


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: plot_matrix(torch.zeros(3)), ValueError, "2-D"),
        (lambda: plot_matrix([[1.0]]), TypeError, "torch.Tensor"),
        (lambda: plot_matrix(torch.eye(2), vmax=0), ValueError, "vmax"),
        (lambda: plot_matrices({}), ValueError, "at least one"),
        (lambda: plot_matrices({"a": torch.zeros(2, 2, 2)}), ValueError, "matrices['a']"),
    ],
)
def test_bad_input_is_named_in_the_error(call, error, words):
    with pytest.raises(error, match=re.escape(words)):
        call()
