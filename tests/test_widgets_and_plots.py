"""The notebooks' widgets run headless, and every figure function returns a figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from sslteach.augment import BatchedAugment, augment_preset
from sslteach.losses import LOSSES, method_hyperparameters
from sslteach.plots import (
    plot_embedding_2d,
    plot_history,
    plot_quick_run,
    plot_spectra,
    plot_views,
    set_style,
)
from sslteach.widgets import LossExplorer, quick_run

TINY = dict(epochs=1, train_images=256, held_out=128)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def tiny_run():
    return quick_run("vicreg", mu=10.0, **TINY)


def test_quick_run_trains_with_the_requested_weights(tiny_run):
    assert tiny_run.config.loss == {"mu": 10.0}
    assert tiny_run.weights == {"invariance": 25.0, "variance": 10.0, "covariance": 1.0}
    assert len(tiny_run.steps) == 2 and tiny_run.embeddings.shape == (128, 64)
    assert set(tiny_run.steps[0]) == {"loss", "invariance", "variance", "covariance"}


def test_explorer_sliders_start_at_the_loss_defaults():
    for method in LOSSES:
        explorer = LossExplorer(method)
        defaults = {name: h.default for name, h in method_hyperparameters(method).items()}
        assert explorer.values() == defaults == LOSSES[method]().hyperparameters()


def test_every_default_lies_on_a_slider_step():
    for method in LOSSES:
        for name, h in method_hyperparameters(method).items():
            steps = (h.default - h.low) / h.step
            assert h.low <= h.default <= h.high, (method, name)
            assert abs(steps - round(steps)) < 1e-6, (method, name, steps)


def test_explorer_runs_headless_with_slider_values():
    explorer = LossExplorer("tico", rho=20.0, epochs=1, train_images=256)
    explorer.sliders["beta"].value = 0.5
    run = explorer.run()
    assert run.config.loss == {"rho": 20.0, "beta": 0.5} and explorer.last is run
    assert not explorer.button.disabled


def test_explorer_rejects_unknown_names():
    with pytest.raises(ValueError, match="nu: not a slider of tico; use rho, beta"):
        LossExplorer("tico", nu=1.0)
    with pytest.raises(ValueError, match="unknown method 'moco'"):
        LossExplorer("moco")


def test_figures(tiny_run):
    set_style()
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    z = torch.randn(100, 8)
    labels = torch.arange(100) % 10
    figures = [
        plot_quick_run(tiny_run),
        plot_views(images, BatchedAugment(augment_preset("shapes")), num_images=2),
        plot_embedding_2d(z, labels, classes=[str(i) for i in range(10)]),
        plot_spectra({"a": z, "b": z[:, :2] @ torch.randn(2, 8)}),
        plot_history([{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}], ["loss"]),
    ]
    assert all(isinstance(f, Figure) for f in figures)
