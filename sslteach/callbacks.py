"""Callbacks: hooks into a training run, after every step, every epoch and every checkpoint.

Notebooks use them to plot live, the command line to show progress, keep metrics.json
current and measure accuracy during training. Write your own by subclassing ``Callback``; each
hook receives the running ``sslteach.train.Trainer`` (read its ``config``, ``epoch``, ``step``,
``steps_per_epoch``, ``model`` and ``history``).

Under ``torchrun`` every process runs the callbacks; those that print, write or evaluate do so
on rank 0 only, and ``AccuracyMonitor`` holds the other ranks at a barrier while it evaluates.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from sslteach.checkpoint import write_json_atomically
from sslteach.data import ImageSet
from sslteach.distributed import barrier, is_main_process
from sslteach.evaluate import evaluate_encoder


class Callback:
    """Hooks into a run; override what you need (notebooks use them to plot live)."""

    def on_step(self, trainer, terms: dict[str, Tensor]) -> None:
        """After every optimisation step, with the step's unweighted terms and ``"loss"``."""

    def on_epoch_end(self, trainer, record: dict) -> None:
        """After every epoch, with the epoch's entry of ``trainer.history``."""

    def on_checkpoint(self, trainer) -> None:
        """After the checkpoint file was written completely (epoch ends and Ctrl-C)."""


class ProgressBar(Callback):
    """A ``tqdm.auto`` bar over all steps (a widget in notebooks, text in a terminal)."""

    def __init__(self, leave: bool = True) -> None:
        self.bar = None
        self.leave = leave

    def on_step(self, trainer, terms: dict[str, Tensor]) -> None:
        if not is_main_process():
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            total = trainer.config.epochs * trainer.steps_per_epoch
            done = trainer.epoch * trainer.steps_per_epoch + trainer.step - 1
            self.bar = tqdm(total=total, initial=done, desc=trainer.config.method, leave=self.leave)
        self.bar.update(1)

    def on_epoch_end(self, trainer, record: dict) -> None:
        if self.bar is None:
            return
        self.bar.set_postfix(
            epoch=record["epoch"],
            loss=f"{record['loss']:.3f}",
            rank=f"{record['effective_rank']:.1f}",
        )
        if trainer.epoch == trainer.config.epochs:
            self.bar.close()


class StepHistory(Callback):
    """Records the loss and every unweighted term after each step (curves for short runs).

    Reading the values makes one host-device sync per term and step: fine for the notebooks'
    CPU runs, and the reason the training loop itself sums the terms on the device."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def on_step(self, trainer, terms: dict[str, Tensor]) -> None:
        self.steps.append({name: value.item() for name, value in terms.items()})


class AccuracyMonitor(Callback):
    """After every epoch, add the test accuracy of linear-probe and kNN to the epoch's record,
    fitting them on ``train_set`` (a few thousand images keep it to about a second on a CPU)."""

    def __init__(self, train_set: ImageSet, test_set: ImageSet) -> None:
        self.train_set, self.test_set = train_set, test_set

    def on_epoch_end(self, trainer, record: dict) -> None:
        if is_main_process():
            encoder, augment = trainer.model.encoder, trainer.augment_config
            record.update(evaluate_encoder(encoder, self.train_set, self.test_set, augment))
        barrier()  # the other ranks wait here while rank 0 evaluates


class MetricsFile(Callback):
    """Keeps metrics.json current: after every checkpoint, so that it never describes an epoch
    that the checkpoint does not hold (written on rank 0 only)."""

    def __init__(self, path: Path, header: dict) -> None:
        self.path, self.header = path, header

    def write(self, status: str, history: list[dict], **results) -> None:
        if is_main_process():
            record = {**self.header, "status": status, **results, "history": history}
            write_json_atomically(self.path, record)

    def on_checkpoint(self, trainer) -> None:
        self.write("training", trainer.history)
