"""Adding a method is one loss class and one ``LOSSES`` entry: its hyperparameter reaches the
command line, sweeps, the config checks, metrics.json and the widget without editing any
other module."""

from __future__ import annotations

import json

import matplotlib
import pytest
import torch.nn.functional as F

from sslteach.cli import main
from sslteach.losses import LOSSES, Knob, SSLLoss, variance_loss
from sslteach.widgets import LossExplorer

matplotlib.use("Agg")

QUICK = ["--train-images", "256", "--epochs", "1", "--batch-size", "64", "--no-progress"]


class CosineVarianceLoss(SSLLoss):
    """1 − mean cos(z_a, z_b) + α·v(Z): a made-up method with a made-up hyperparameter α."""

    knobs = {"alpha": Knob("α", 0, 10, 0.5, "weight of the variance hinge")}

    def __init__(self, alpha: float = 1.0, gather_distributed: bool = False) -> None:
        super().__init__()
        if alpha < 0:
            raise ValueError(f"alpha must be ≥ 0, got {alpha}")
        self.alpha = alpha

    def terms(self, z_a, z_b):
        cosine = F.cosine_similarity(z_a, z_b).mean()
        return {"invariance": 1 - cosine, "variance": variance_loss(z_a, gamma=0.1)}

    @property
    def weights(self):
        return {"invariance": 1.0, "variance": self.alpha}


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(LOSSES, "cosine-variance", CosineVarianceLoss)
    return "cosine-variance"


def test_train_takes_the_new_flag(registered, tmp_path, capsys):
    argv = ["train", "--method", registered, "--alpha", "2.5", *QUICK, "--out", str(tmp_path)]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["loss"] == {"alpha": 2.5}
    assert metrics["hyperparameters"] == {"alpha": 2.5}
    assert set(metrics["history"][0]) >= {"invariance", "variance"}
    assert "--alpha" in main_help(capsys)


def main_help(capsys) -> str:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    return capsys.readouterr().out


def test_sweep_varies_the_new_hyperparameter(registered, tmp_path):
    argv = ["sweep", "--method", registered, "--param", "alpha", "--values", "0,4"]
    assert main([*argv, "--monitor-images", "64", *QUICK, "--out", str(tmp_path)]) == 0
    for value in (0.0, 4.0):
        config = json.loads((tmp_path / f"alpha={value:g}" / "metrics.json").read_text())["config"]
        assert config["loss"] == {"alpha": value}


def test_bad_values_of_the_new_hyperparameter_are_refused_before_training(
    registered, tmp_path, capsys
):
    argv = ["train", "--method", registered, "--alpha", "-1", *QUICK, "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "alpha must be ≥ 0" in capsys.readouterr().err
    assert not (tmp_path / "checkpoint.pt").exists()
    argv = ["train", "--method", "vicreg", "--alpha", "1", *QUICK, "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--alpha does not apply to --method vicreg" in capsys.readouterr().err


def test_the_widget_shows_a_slider_for_it(registered):
    explorer = LossExplorer(registered, epochs=1, train_images=256)
    assert explorer.values() == {"alpha": 1.0}
    slider = explorer.sliders["alpha"]
    assert (slider.min, slider.max, slider.step, slider.description) == (0, 10, 0.5, "α")
    explorer.sliders["alpha"].value = 3.0
    run = explorer.run()
    assert run.config.loss == {"alpha": 3.0} and run.weights == {"invariance": 1.0, "variance": 3.0}


def test_a_hyperparameter_without_a_range_gets_a_slider_around_its_default(monkeypatch):
    class Plain(CosineVarianceLoss):
        knobs = {}

    monkeypatch.setitem(LOSSES, "plain", Plain)
    slider = LossExplorer("plain").sliders["alpha"]
    assert (slider.min, slider.max, slider.value) == (0, 4.0, 1.0)
    assert ((slider.value - slider.min) / slider.step) % 1 == 0


def test_a_loss_without_type_hints_is_told_what_to_declare(monkeypatch):
    class Untyped(SSLLoss):
        def __init__(self, alpha=1.0, gather_distributed=False):
            super().__init__()

    monkeypatch.setitem(LOSSES, "untyped", Untyped)
    with pytest.raises(TypeError, match="'alpha' needs a default and a type hint"):
        main(["train", "--method", "untyped", "--out", "unused"])
