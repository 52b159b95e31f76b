"""One training loop for every sslteach method: two views → embeddings → loss → step.

    build: model (+ predictor), loss, optimiser, schedule, views (+ momentum target)
    for each epoch:
        for each step:  two views → train_step → callbacks
        diagnostics → callbacks → checkpoint

Around the loop, each in a module of its own: where the views come from (``views``), Ctrl-C
(``interrupt``), the NaN stop (``guard``), the momentum target (``momentum``), what a
checkpoint holds and exact resume (``resume``, ``checkpoint``), collapse diagnostics
(``evaluate``), progress, metrics and per-epoch evaluation (``callbacks``).

One host-device sync per step, the NaN check before backward; the terms are summed on the
device and read once per epoch. Under ``torchrun`` every process builds the same Trainer and
trains its share of each global batch through DDP (``sslteach.distributed``); the processes
agree once per step on whether Ctrl-C was pressed, and rank 0 alone writes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import Tensor

from sslteach.checkpoint import load_checkpoint, save_atomically
from sslteach.config import TrainConfig, augment_config_for, model_for
from sslteach.data import ImageSet
from sslteach.distributed import any_rank, is_distributed, is_main_process, resolve_device
from sslteach.distributed import wrap_model as distribute
from sslteach.evaluate import collapse_diagnostics
from sslteach.guard import check_finite_loss, check_finite_model
from sslteach.interrupt import CtrlC, TrainingInterrupted, interruption
from sslteach.losses import build_loss
from sslteach.momentum import MomentumTarget
from sslteach.optim import build_optimizer, warmup_cosine
from sslteach.resume import check_resumable, recorded_config, restore_trainer_state, trainer_state
from sslteach.views import TwoViewBatches


class Trainer:
    """Self-supervised training of a siamese model on an ``ImageSet``."""

    def __init__(
        self,
        config: TrainConfig,
        train_set: ImageSet,
        *,
        callbacks: Sequence = (),
        checkpoint_path: str | Path | None = None,
    ) -> None:
        self.config, self.callbacks = config, list(callbacks)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.device = resolve_device(config.device)
        if config.batch_size > len(train_set):
            raise ValueError(
                f"batch_size={config.batch_size} is larger than the training set "
                f"({len(train_set)} images); use --batch-size {len(train_set)} or less"
            )
        self.train_size = len(train_set)
        self.steps_per_epoch = len(train_set) // config.batch_size  # drop the partial batch
        self.augment_config = augment_config_for(config)
        self.views = TwoViewBatches(train_set.images, config, self.augment_config, self.device)

        torch.manual_seed(config.seed)
        self.loss = build_loss(config.method, gather_distributed=is_distributed(), **config.loss)
        self.loss.to(self.device)
        # channels_last: 1.3–1.6× faster convolutions on CPU, and the layout tensor cores want
        self.model = model_for(config).to(self.device, memory_format=torch.channels_last)
        total_steps = config.epochs * self.steps_per_epoch
        self.target = (  # BYOL's EMA copy of the encoder and projector
            MomentumTarget(self.model, config.momentum, total_steps, config.momentum_schedule)
            if config.momentum
            else None
        )
        self.network = distribute(self.model, self.device)  # the model, or DDP around it
        if config.compile:
            self.network = torch.compile(self.network)
        self.optimizer = build_optimizer(
            config.optimizer, self.model, config.peak_lr, config.weight_decay
        )
        warmup = round(config.warmup_epochs * self.steps_per_epoch)
        self.scheduler = warmup_cosine(self.optimizer, total_steps, warmup)
        probe = torch.Generator().manual_seed(config.seed + 1)
        index = torch.randperm(len(train_set), generator=probe)[: config.diagnostic_images]
        self.diagnostic_images = self.views.images[index.to(self.views.images.device)]

        self.epoch, self.step = 0, 0  # epochs completed; steps completed in the current one
        self.order: Tensor | None = None  # the current epoch's sample order
        self.sums: dict[str, Tensor] = {}  # per-term sums over the epoch's steps, on device
        self.history: list[dict] = []
        self._started = time.perf_counter()  # when the current epoch started
        self.saved_position: tuple[int, int] | None = None  # what the checkpoint file holds

    def fit(self) -> list[dict]:
        """Train until ``config.epochs``; on Ctrl-C see ``sslteach.interrupt``."""
        with CtrlC() as ctrl_c:
            try:
                while self.epoch < self.config.epochs:
                    self._run_epoch(ctrl_c)
            except TrainingInterrupted:
                raise
            except KeyboardInterrupt:  # a second Ctrl-C, in the middle of a step
                raise interruption(None, self.saved_position, self.checkpoint_path) from None
        return self.history

    def _run_epoch(self, ctrl_c: CtrlC) -> None:
        if self.order is None:
            self.order, self.sums, self._started = self.views.order(), {}, time.perf_counter()
        self.network.train()
        for view_a, view_b in self.views.epoch(self.order, self.epoch, self.step):
            terms = self.train_step(view_a, view_b)
            self.step += 1
            for name, value in terms.items():
                self.sums[name] = self.sums.get(name, 0) + value
            for callback in self.callbacks:
                callback.on_step(self, terms)
            self._stop_if_asked(ctrl_c)
        record = self._end_epoch()
        for callback in self.callbacks:
            callback.on_epoch_end(self, record)
        self.save_checkpoint(ctrl_c)
        self._stop_if_asked(ctrl_c)

    def train_step(self, view_a: Tensor, view_b: Tensor) -> dict[str, Tensor]:
        """One optimisation step on two augmented views; returns the detached terms."""
        amp = self.config.amp and self.device.type == "cuda"
        with torch.autocast(self.device.type, torch.bfloat16, enabled=amp):
            inputs = self.loss_inputs(view_a, view_b)
        terms = self.loss.terms(*(x.float() for x in inputs))
        loss = self.loss.combine(terms)
        check_finite_loss(loss, self)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        if self.target is not None:
            self.target.update(self.model, self.epoch * self.steps_per_epoch + self.step)
        return {"loss": loss.detach(), **{k: v.detach() for k, v in terms.items()}}

    def loss_inputs(self, view_a: Tensor, view_b: Tensor) -> tuple[Tensor, ...]:
        """What the loss compares, one pass per view (BatchNorm sees each view's own batch):
        (z_a, z_b) of the siamese network, z_b from the momentum target if there is one; with
        a predictor (p_a, p_b, t_a, t_b), the targets t being the target's z̄ or the online z."""
        view_a, view_b = (v.contiguous(memory_format=torch.channels_last) for v in (view_a, view_b))
        if self.model.predictor is None:
            z_a = self.network(view_a)[1]
            return z_a, self.target(view_b) if self.target else self.network(view_b)[1]
        (_, z_a, p_a), (_, z_b, p_b) = (self.network(v, predict=True) for v in (view_a, view_b))
        if self.target:
            z_a, z_b = self.target(view_a), self.target(view_b)
        return p_a, p_b, z_a, z_b

    def _end_epoch(self) -> dict:
        check_finite_model(self.model, self)
        record = {"epoch": self.epoch + 1}
        record.update({k: (total / self.steps_per_epoch).item() for k, total in self.sums.items()})
        record["lr"] = self.scheduler.get_last_lr()[0]
        record.update(self.diagnostics())
        record["seconds"] = time.perf_counter() - self._started
        self.history.append(record)
        self.epoch, self.step, self.order = self.epoch + 1, 0, None
        return record

    def diagnostics(self) -> dict[str, float]:
        """Collapse diagnostics on a fixed set of un-augmented training images."""
        images = self.diagnostic_images.to(self.device)
        return collapse_diagnostics(self.model, images, self.augment_config)

    def _stop_if_asked(self, ctrl_c: CtrlC) -> None:
        """After Ctrl-C (on any rank: all stop at the same step), save here and stop."""
        if any_rank(ctrl_c.requested, self.device):
            self.save_checkpoint(ctrl_c)
            position = (self.epoch, self.step)
            raise interruption(position, self.saved_position, self.checkpoint_path)

    # -- checkpoints ---------------------------------------------------------------------------

    def save_checkpoint(self, ctrl_c: CtrlC | None = None) -> None:
        """Write the whole state atomically, between steps, on rank 0 only (every rank holds the
        same model, optimiser, loss state and position); Ctrl-C waits for the file."""
        if self.checkpoint_path is None:
            return
        if is_main_process():
            with ctrl_c.saving() if ctrl_c else nullcontext():
                save_atomically(trainer_state(self), self.checkpoint_path)
        self.saved_position = (self.epoch, self.step)
        for callback in self.callbacks:
            callback.on_checkpoint(self)


def resume_trainer(
    path: str | Path,
    train_set: ImageSet,
    *,
    callbacks: Sequence = (),
    state: dict | None = None,
    config: TrainConfig | None = None,
) -> Trainer:
    """A ``Trainer`` continuing exactly where the checkpoint at ``path`` stopped, on the data
    it was trained on. ``state``: the checkpoint, if already loaded; ``config``: the recorded
    config with changes that do not alter what is computed (``resume_config``)."""
    path = Path(path)
    state = load_checkpoint(path) if state is None else state
    config = config or recorded_config(path, state)
    check_resumable(path, state, config, len(train_set))
    trainer = Trainer(config, train_set, callbacks=callbacks, checkpoint_path=path)
    restore_trainer_state(trainer, state, path)
    return trainer
