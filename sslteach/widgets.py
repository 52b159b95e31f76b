"""Interactive loss explorers for the notebooks: a slider per hyperparameter, a Run button,
and the figure of the resulting run.

The sliders are read from the method's loss: its constructor's defaults and types, and the
symbols and ranges of its ``knobs`` (``sslteach.losses.base``); every slider's steps include
the default. The logic is the plain function ``quick_run`` (train a seconds-long run on a slice
of the embedded ``shapes`` data, return what the figure draws); the widget only reads sliders,
calls it and draws ``plot_quick_run``. Tests and static readers use the function directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import Tensor

from sslteach.callbacks import Callback, StepHistory
from sslteach.config import make_config
from sslteach.data import ImageSet, load_dataset
from sslteach.diagnostics import embedding_std
from sslteach.evaluate import extract_features, knn_accuracy, prepare_images
from sslteach.losses import Hyperparameter, method_hyperparameters
from sslteach.train import TrainConfig, Trainer


@dataclass
class QuickRun:
    """A seconds-long training run: per-step terms and scale, held-out embeddings, kNN."""

    config: TrainConfig
    steps: list[dict[str, float]]  # the loss and every unweighted term, per step
    history: list[dict]
    embeddings: Tensor  # (m, d) of held-out images, eval mode
    labels: Tensor  # (m,)
    weights: dict[str, float] = field(default_factory=dict)
    scale: list[float] = field(default_factory=list)  # held-out embedding std after each step
    knn_accuracy: float = 0.0  # of the representation, fit on the training slice
    classes: tuple[str, ...] = ()


class EmbeddingScale(Callback):
    """After every step, the std of the embeddings of a few held-out images (eval mode): the
    scale that the normalised diagnostics cannot see."""

    def __init__(self, images: Tensor) -> None:
        self.images, self.values = images, []

    def on_step(self, trainer, terms) -> None:
        model = trainer.model
        model.eval()
        with torch.no_grad():
            _, z = model(prepare_images(self.images, trainer.augment_config))
        model.train()
        self.values.append(embedding_std(z))


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
    embedding_norm: str | None = None,
    seed: int = 0,
    **hyperparameters: float,
) -> QuickRun:
    """Train ``method`` with the given loss ``hyperparameters`` on the first ``train_images``
    shapes for ``epochs``; embed ``held_out`` test images. About 5–10 s on a 2-core CPU.

    The default 64-d embedding keeps the spectrum readable: with 1,000 held-out images every
    one of its singular values is well estimated. ``embedding_norm`` defaults to the method's
    own (SimSiam's BatchNorm, none for the others).
    """
    norm = {} if embedding_norm is None else {"embedding_norm": embedding_norm}
    config = make_config(
        "shapes",
        method,
        epochs=epochs,
        train_images=train_images,
        loss=hyperparameters,
        projector=projector,
        seed=seed,
        device="cpu",
        warmup_epochs=0.5,
        **norm,
    )
    train, test = _shapes("train").subset(train_images), _shapes("test").subset(held_out)
    recorder, scale = StepHistory(), EmbeddingScale(test.images[:256])
    trainer = Trainer(config, train, callbacks=[recorder, scale])
    trainer.fit()
    trainer.model.eval()
    with torch.no_grad():
        _, embeddings = trainer.model(prepare_images(test.images, trainer.augment_config))
    encoder, augment = trainer.model.encoder, trainer.augment_config
    knn = knn_accuracy(
        extract_features(encoder, train.images, augment),
        train.labels,
        extract_features(encoder, test.images, augment),
        test.labels,
    )
    return QuickRun(
        config,
        recorder.steps,
        trainer.history,
        embeddings,
        test.labels,
        trainer.loss.weights,
        scale.values,
        knn,
        test.classes,
    )


def slider(hyperparameter: Hyperparameter, value: float | int | bool):
    """The ipywidget for one hyperparameter: a checkbox for a switch, else a slider."""
    import ipywidgets as widgets

    h = hyperparameter
    label = dict(description=h.symbol, continuous_update=False)
    if h.type is bool:
        return widgets.Checkbox(value=bool(value), description=h.symbol)
    if h.type is int:
        return widgets.IntSlider(value=value, min=h.low, max=h.high, step=h.step, **label)
    return widgets.FloatSlider(
        value=value, min=h.low, max=h.high, step=h.step, readout_format=".4g", **label
    )


class LossExplorer:
    """A slider for each of ``method``'s hyperparameters, a Run button, and the last run.

    ``LossExplorer("vicreg")`` in a notebook cell shows it; ``explorer.run()`` trains with the
    current slider values (the button does the same) and returns the ``QuickRun``.
    """

    def __init__(
        self, method: str = "vicreg", *, epochs: int = 3, train_images: int = 2048, **values: float
    ) -> None:
        import ipywidgets as widgets

        declared = method_hyperparameters(method)  # a clear error for an unknown method
        self.method, self.epochs, self.train_images = method, epochs, train_images
        unknown = set(values) - set(declared)
        if unknown:
            names = ", ".join(declared)
            raise ValueError(f"{', '.join(sorted(unknown))}: not a slider of {method}; use {names}")
        self.sliders = {
            name: slider(h, values.get(name, h.default)) for name, h in declared.items()
        }
        self.button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.output = widgets.Output()
        self.button.on_click(lambda _: self.run())
        self.widget = widgets.VBox(
            [widgets.HBox([*self.sliders.values(), self.button]), self.output]
        )
        self.last: QuickRun | None = None

    def values(self) -> dict[str, float]:
        return {name: widget.value for name, widget in self.sliders.items()}

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
