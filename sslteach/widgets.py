"""Interactive loss explorers for the notebooks: sliders for a loss's weights, a Run button,
and the resulting training curves, spectrum and embedding in one figure.

The logic is the plain function ``quick_run`` (train a seconds-long run on a slice of the
embedded ``shapes`` data, return its history and embeddings); the widget only reads sliders,
calls it and draws ``plot_quick_run``. Tests and static readers use the function directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import Tensor

from sslteach.callbacks import StepHistory
from sslteach.data import ImageSet, load_dataset
from sslteach.evaluate import prepare_images
from sslteach.losses import LOSSES
from sslteach.train import TrainConfig, Trainer

# Slider ranges (low, high, step) per method and hyperparameter.
SLIDER_RANGES: dict[str, dict[str, tuple[float, float, float]]] = {
    "vicreg": {"lambda_": (0, 50, 1), "mu": (0, 50, 1), "nu": (0, 10, 0.5), "gamma": (0.1, 2, 0.1)},
    "barlow-twins": {"lambda_": (0, 0.05, 0.0005)},
    "tico": {"rho": (0, 40, 1), "beta": (0, 0.99, 0.01)},
    "vicreg-tico": {
        "lambda_": (0, 50, 1),
        "mu": (0, 50, 1),
        "rho": (0, 40, 1),
        "beta": (0, 0.99, 0.01),
    },
    "wmse": {"eps": (0, 0.5, 0.01)},
}
SYMBOLS = {"lambda_": "λ", "mu": "μ", "nu": "ν", "gamma": "γ", "rho": "ρ", "beta": "β", "eps": "ε"}


@dataclass
class QuickRun:
    """A seconds-long training run: its config, per-step terms, and held-out embeddings."""

    config: TrainConfig
    steps: list[dict[str, float]]
    history: list[dict]
    embeddings: Tensor  # (m, d) of held-out images, eval mode
    labels: Tensor  # (m,)
    weights: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=2)
def _shapes(split: str) -> ImageSet:
    return load_dataset("shapes", split)


def quick_run(
    method: str = "vicreg",
    *,
    epochs: int = 3,
    train_images: int = 2048,
    held_out: int = 1000,
    projector: str = "256-64",
    embedding_norm: str = "none",
    seed: int = 0,
    **hyperparameters: float,
) -> QuickRun:
    """Train ``method`` with the given loss ``hyperparameters`` on the first ``train_images``
    shapes for ``epochs``; embed ``held_out`` test images. About 5–10 s on a 2-core CPU.

    The default 64-d embedding keeps the spectrum readable: with 1,000 held-out images every
    one of its singular values is well estimated.
    """
    if method not in LOSSES:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(LOSSES)}")
    config = TrainConfig(
        method=method,
        epochs=epochs,
        train_images=train_images,
        loss=hyperparameters,
        projector=projector,
        embedding_norm=embedding_norm,
        seed=seed,
        device="cpu",
        warmup_epochs=0.5,
    )
    recorder = StepHistory()
    trainer = Trainer(config, _shapes("train").subset(train_images), callbacks=[recorder])
    trainer.fit()
    test = _shapes("test").subset(held_out)
    trainer.model.eval()
    with torch.no_grad():
        _, embeddings = trainer.model(prepare_images(test.images, trainer.augment_config))
    return QuickRun(
        config, recorder.steps, trainer.history, embeddings, test.labels, trainer.loss.weights
    )


class LossExplorer:
    """Sliders for ``method``'s loss weights, a Run button, and the figure of the last run.

    ``LossExplorer("vicreg")`` in a notebook cell shows it; ``explorer.run()`` trains with the
    current slider values (the button does the same) and returns the ``QuickRun``.
    """

    def __init__(
        self, method: str = "vicreg", *, epochs: int = 3, train_images: int = 2048, **values: float
    ) -> None:
        import ipywidgets as widgets

        if method not in SLIDER_RANGES:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(SLIDER_RANGES)}")
        self.method, self.epochs, self.train_images = method, epochs, train_images
        defaults = LOSSES[method]().hyperparameters()
        unknown = set(values) - set(SLIDER_RANGES[method])
        if unknown:
            names = ", ".join(SLIDER_RANGES[method])
            raise ValueError(f"{', '.join(sorted(unknown))}: not a slider of {method}; use {names}")
        self.sliders = {
            name: widgets.FloatSlider(
                value=values.get(name, defaults[name]),
                min=low,
                max=high,
                step=step,
                description=SYMBOLS.get(name, name),
                continuous_update=False,
            )
            for name, (low, high, step) in SLIDER_RANGES[method].items()
        }
        self.button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.output = widgets.Output()
        self.button.on_click(lambda _: self.run())
        self.widget = widgets.VBox(
            [widgets.HBox([*self.sliders.values(), self.button]), self.output]
        )
        self.last: QuickRun | None = None

    def values(self) -> dict[str, float]:
        return {name: slider.value for name, slider in self.sliders.items()}

    def run(self) -> QuickRun:
        import matplotlib.pyplot as plt
        from IPython.display import display

        from sslteach.plots import plot_quick_run

        self.button.disabled = True
        try:
            self.last = quick_run(
                self.method, epochs=self.epochs, train_images=self.train_images, **self.values()
            )
            figure = plot_quick_run(self.last)
            self.output.clear_output(wait=True)
            with self.output:
                display(figure)
            plt.close(figure)  # shown once, in the output area, not again by the inline backend
        finally:
            self.button.disabled = False
        return self.last

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
