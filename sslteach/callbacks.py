"""Callbacks: hooks into a training run, after every step and after every epoch.

Notebooks use them to plot live, the command line to show progress, keep metrics.json
current and measure accuracy during training. Write your own by subclassing ``Callback``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from sslteach.data import ImageSet
from sslteach.evaluate import evaluate_encoder

if TYPE_CHECKING:
    from sslteach.train import Trainer


class Callback:
    """Hooks into a run; override what you need (notebooks use them to plot live)."""

    def on_step(self, trainer: Trainer, terms: dict[str, Tensor]) -> None:
        """After every optimisation step, with the step's unweighted terms and ``"loss"``."""

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        """After every epoch, with the epoch's entry of ``trainer.history``."""


class ProgressBar(Callback):
    """A ``tqdm.auto`` bar over all steps (a widget in notebooks, text in a terminal)."""

    def __init__(self, leave: bool = True) -> None:
        self.bar = None
        self.leave = leave

    def on_step(self, trainer: Trainer, terms: dict[str, Tensor]) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            total = trainer.config.epochs * trainer.steps_per_epoch
            done = trainer.epoch * trainer.steps_per_epoch + trainer.step - 1
            self.bar = tqdm(total=total, initial=done, desc=trainer.config.method, leave=self.leave)
        self.bar.update(1)

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        self.bar.set_postfix(
            epoch=record["epoch"],
            loss=f"{record['loss']:.3f}",
            rank=f"{record['effective_rank']:.1f}",
        )
        if trainer.epoch == trainer.config.epochs:
            self.bar.close()


class StepHistory(Callback):
    """Records the loss and every unweighted term after each step (curves for short runs)."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def on_step(self, trainer: Trainer, terms: dict[str, Tensor]) -> None:
        self.steps.append({name: value.item() for name, value in terms.items()})


class AccuracyMonitor(Callback):
    """After every epoch, add the test accuracy of linear-probe and kNN to the epoch's record,
    fitting them on ``train_set`` (a few thousand images keep it to about a second on a CPU)."""

    def __init__(self, train_set: ImageSet, test_set: ImageSet) -> None:
        self.train_set, self.test_set = train_set, test_set

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        record.update(
            evaluate_encoder(
                trainer.model.encoder, self.train_set, self.test_set, trainer.augment_config
            )
        )
