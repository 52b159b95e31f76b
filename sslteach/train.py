"""One training loop for every sslteach loss: augment two views, embed, loss, step.

The training images stay on the device as uint8 and are augmented there in whole batches
(``sslteach.augment.BatchedAugment``), so no DataLoader workers are needed on CPU or GPU
(``pipeline="dataloader"`` runs the standard per-sample torchvision path instead, for
comparison). A ``Trainer`` keeps everything a run needs to continue exactly: model, loss state
(TiCo's C), optimiser, schedule, random generators, position inside the epoch and the history,
all saved atomically in one checkpoint file. Resume is exact for the batched pipeline; the
DataLoader's worker generators are not saved, so a resumed "dataloader" run draws other views.

Under ``torchrun`` (see ``sslteach.distributed``) every process builds the same Trainer. All of
them draw the same sample order from the shared seed; each trains on its contiguous 1/K of every
global batch (``config.batch_size``) with views from its own generator, through DDP, with losses
that gather across processes. Rank 0 alone writes checkpoints and runs the callbacks that
experiment.py gives it (progress, metrics, evaluation); the others wait at a barrier.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor

from sslteach.augment import AugmentConfig, BatchedAugment, augment_preset, two_view_loader
from sslteach.callbacks import Callback
from sslteach.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_atomically
from sslteach.config import TrainConfig
from sslteach.data import ImageSet, dataset_spec
from sslteach.diagnostics import effective_rank, embedding_std, l2_normalized_std
from sslteach.distributed import (
    any_rank,
    barrier,
    is_distributed,
    is_main_process,
    local_batch_size,
    rank_seed,
    shard,
    wrap_model,
)
from sslteach.evaluate import prepare_images
from sslteach.losses import build_loss
from sslteach.models import SiameseModel, build_model
from sslteach.optim import build_optimizer, warmup_cosine


def resolve_device(name: str) -> torch.device:
    """ "auto" → CUDA when available, else CPU; "cuda" without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was requested but no CUDA GPU is available; use --device cpu"
        )
    return torch.device(name)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the history up to that point is attached."""

    def __init__(self, message: str, history: list[dict]) -> None:
        super().__init__(message)
        self.history = history


class Trainer:
    """Self-supervised training of a siamese model on an ``ImageSet``."""

    def __init__(
        self,
        config: TrainConfig,
        train_set: ImageSet,
        *,
        callbacks: Sequence[Callback] = (),
        checkpoint_path: str | Path | None = None,
    ) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.distributed = is_distributed()
        if self.distributed and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())  # LOCAL_RANK's GPU
        self.callbacks = list(callbacks)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        if config.batch_size > len(train_set):
            raise ValueError(
                f"batch_size={config.batch_size} is larger than the training set "
                f"({len(train_set)} images); use --batch-size {len(train_set)} or less"
            )
        self.local_batch_size = local_batch_size(config.batch_size)  # this process's share
        self.train_set = train_set
        on_device = config.pipeline == "batched"  # uint8, augmented on the device
        self.images = train_set.images.to(self.device) if on_device else train_set.images
        self.augment_config = augment_config_for(config)
        self.augment = BatchedAugment(self.augment_config)

        torch.manual_seed(config.seed)
        # channels_last: 1.3–1.6× faster convolutions on CPU, and the layout tensor cores want
        self.model = model_for(config).to(self.device, memory_format=torch.channels_last)
        # What the training steps call: the model itself, or wrapped in DDP and/or compiled.
        self.network = wrap_model(self.model, self.device)
        if config.compile:
            self.network = torch.compile(self.network)
        self.loss = build_loss(
            config.method, gather_distributed=self.distributed, **config.loss
        ).to(self.device)
        self.optimizer = build_optimizer(
            config.optimizer, self.model, config.peak_lr, config.weight_decay
        )
        self.steps_per_epoch = (
            len(train_set) // config.batch_size
        )  # the last partial batch is dropped
        self.scheduler = warmup_cosine(
            self.optimizer,
            total_steps=config.epochs * self.steps_per_epoch,
            warmup_steps=round(config.warmup_epochs * self.steps_per_epoch),
        )
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self._rank_generator = torch.Generator(device=self.device)  # see _view_generator
        probe = torch.Generator().manual_seed(config.seed + 1)
        count = min(config.diagnostic_images, len(train_set))
        self.diagnostic_index = torch.randperm(len(train_set), generator=probe)[:count]

        self.epoch = 0  # epochs completed
        self.step = 0  # steps completed inside the current epoch
        self.order: Tensor | None = None  # the current epoch's sample order
        self.sums: dict[str, float] = {}
        self.history: list[dict] = []

    # -- the loop ------------------------------------------------------------------------------

    def fit(self) -> list[dict]:
        """Train until ``config.epochs``.

        Ctrl-C (or a notebook's interrupt) takes effect after the current step: the state is
        checkpointed and ``KeyboardInterrupt`` re-raised, so ``resume_trainer`` continues
        exactly from there. A second Ctrl-C stops at once.
        """
        with _interrupt_after_step() as interrupted:
            try:
                while self.epoch < self.config.epochs:
                    self._run_epoch(interrupted)
            except KeyboardInterrupt:
                self.save_checkpoint()
                raise
        return self.history

    def _run_epoch(self, interrupted: threading.Event) -> None:
        if self.order is None:  # the same order on every rank: the generator shares the seed
            self.order = torch.randperm(
                len(self.images), generator=self.generator, device=self.device
            )
            self.sums, self._epoch_start = {}, time.perf_counter()
        self.network.train()
        for view_a, view_b in self._views():
            terms = self.train_step(view_a, view_b)
            self.step += 1
            for name, value in terms.items():
                self.sums[name] = self.sums.get(name, 0.0) + value.item()
            for callback in self.callbacks:
                callback.on_step(self, terms)
            if any_rank(interrupted.is_set(), self.device):  # all ranks stop at the same step
                raise KeyboardInterrupt
        record = self._end_epoch()
        for callback in self.callbacks:
            callback.on_epoch_end(self, record)
        barrier()  # while rank 0 evaluates (AccuracyMonitor)
        self.save_checkpoint()

    def _views(self) -> Iterator[tuple[Tensor, Tensor]]:
        """This rank's two views for each remaining step of the epoch, from ``self.step`` on."""
        b = self.config.batch_size
        steps = range(self.step, self.steps_per_epoch)
        batches = [shard(self.order[s * b : (s + 1) * b]) for s in steps]  # (b / K,) each
        if self.config.pipeline == "dataloader":
            indices = torch.cat(batches).tolist() if batches else []
            loader = two_view_loader(
                self.images,
                indices,
                self.augment_config,
                self.local_batch_size,
                workers=self.config.workers,
                seed=rank_seed(self.config.seed, self.epoch, self.step),
                pin_memory=self.device.type == "cuda",
            )
            for views in loader:
                yield tuple(v.to(self.device, non_blocking=True) for v in views)
            return
        for step, indices in zip(steps, batches, strict=True):
            with torch.no_grad():  # closed before the yield: the step itself needs gradients
                views = self.augment.two_views(self.images[indices], self._view_generator(step))
            yield views

    def _view_generator(self, step: int) -> torch.Generator:
        """The generator of this step's views: the run's own in one process. With K processes
        each rank needs its own draws (shared ones would crop every shard alike), so it is
        seeded from (seed, epoch, step, rank): nothing to save, and resume stays exact."""
        if not self.distributed:
            return self.generator
        return self._rank_generator.manual_seed(rank_seed(self.config.seed, self.epoch, step))

    def train_step(self, view_a: Tensor, view_b: Tensor) -> dict[str, Tensor]:
        """One optimisation step on two augmented views; returns the detached terms."""
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self._use_amp()):
            # One pass per view, as in the official code: BatchNorm sees each view's own batch.
            _, z_a = self.network(view_a.contiguous(memory_format=torch.channels_last))
            _, z_b = self.network(view_b.contiguous(memory_format=torch.channels_last))
        terms = self.loss.terms(z_a.float(), z_b.float())
        loss = self.loss.combine(terms)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(self._non_finite_message(loss), self.history)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": loss.detach(), **{k: v.detach() for k, v in terms.items()}}

    def _use_amp(self) -> bool:
        return self.config.amp and self.device.type == "cuda"

    def _non_finite_message(self, loss: Tensor) -> str:
        where = f"epoch {self.epoch + 1}, step {self.step + 1}"
        saved = (
            f"; the last good checkpoint ({self.checkpoint_path}) and the history are kept"
            if self.checkpoint_path
            else ""
        )
        return (
            f"the loss became {loss.item()} at {where}: the learning rate "
            f"(lr={self.config.peak_lr}) is likely too high for this optimizer and batch size, or "
            f"the loss weights {self.config.loss or 'defaults'} unbalanced; lower --lr{saved}"
        )

    def _end_epoch(self) -> dict:
        record = {"epoch": self.epoch + 1}
        record.update({name: total / self.steps_per_epoch for name, total in self.sums.items()})
        record["lr"] = self.scheduler.get_last_lr()[0]
        record.update(self.diagnostics())
        record["seconds"] = time.perf_counter() - self._epoch_start
        self.history.append(record)
        self.epoch, self.step, self.order = self.epoch + 1, 0, None
        return record

    @torch.no_grad()
    def diagnostics(self) -> dict[str, float]:
        """Collapse diagnostics on a fixed set of un-augmented training images."""
        images = self.images[self.diagnostic_index.to(self.images.device)].to(self.device)
        self.model.eval()
        try:
            y, z = self.model(prepare_images(images, self.augment_config))
        finally:
            self.model.train()
        return {
            "effective_rank": effective_rank(z),
            "embedding_std": embedding_std(z),
            "l2_normalized_std": l2_normalized_std(z),
            "representation_rank": effective_rank(y),
        }

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": asdict(self.config),
            "model": self.model.state_dict(),
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "generator": self.generator.get_state()},
            "position": {
                "epoch": self.epoch,
                "step": self.step,
                "order": self.order,
                "sums": self.sums,
            },
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.loss.load_state_dict(state["loss"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        self.generator.set_state(state["rng"]["generator"])
        position = state["position"]
        self.epoch, self.step, self.sums = (
            position["epoch"],
            position["step"],
            dict(position["sums"]),
        )
        self.order = None if position["order"] is None else position["order"].to(self.device)
        self._epoch_start = time.perf_counter()
        self.history = list(state["history"])

    def save_checkpoint(self, path: str | Path | None = None) -> Path | None:
        """Write the whole state atomically (to a temporary file, then rename); on rank 0 only,
        since every rank holds the same model, optimiser, loss state and position."""
        path = Path(path) if path else self.checkpoint_path
        if path is None or not is_main_process():
            return None
        save_atomically(self.state_dict(), path)
        return path


@contextmanager
def _interrupt_after_step() -> Iterator[threading.Event]:
    """Turn the first SIGINT into a flag the loop checks between steps (main thread only)."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handler(signum, frame) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def model_for(config: TrainConfig) -> SiameseModel:
    """A freshly initialised model as ``config`` describes it."""
    return build_model(config.backbone, config.projector, config.embedding_norm)


def augment_config_for(config: TrainConfig) -> AugmentConfig:
    """The run's augmentation recipe: ``config.augment``, else its data set's preset."""
    return augment_preset(config.augment or dataset_spec(config.dataset).augment_preset)


def resume_trainer(
    path: str | Path,
    train_set: ImageSet,
    *,
    callbacks: Sequence[Callback] = (),
    epochs: int | None = None,
) -> Trainer:
    """A ``Trainer`` continuing exactly where the checkpoint at ``path`` stopped."""
    state = load_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    trainer = Trainer(config, train_set, callbacks=callbacks, checkpoint_path=path)
    trainer.load_state_dict(state)
    if epochs is not None and epochs != config.epochs:
        raise ValueError(
            f"the checkpoint was trained for epochs={config.epochs}; resuming keeps its schedule, "
            "so drop --epochs or start a new run in another --out"
        )
    return trainer


def train(
    config: TrainConfig,
    train_set: ImageSet,
    *,
    callbacks: Sequence[Callback] = (),
    checkpoint_path: str | Path | None = None,
) -> Trainer:
    """Train a new model; returns the ``Trainer`` (``.model``, ``.history``)."""
    trainer = Trainer(config, train_set, callbacks=callbacks, checkpoint_path=checkpoint_path)
    trainer.fit()
    return trainer
