"""What a checkpoint holds, and how a ``Trainer`` continues from one exactly.

A checkpoint is one dict of tensors and plain containers (``torch.load(weights_only=True)``
reads it): the config, model (with its predictor), loss state (TiCo's C), momentum target,
optimiser, schedule, the random generators, the position inside the epoch (epochs done,
steps into the next, its sample order, the running sums of the terms, the number of training
images) and the history. Restoring all of it makes the continued run equal the uninterrupted
one, bit for bit on CPU with the batched views.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from sslteach.checkpoint import CHECKPOINT_FORMAT
from sslteach.config import TrainConfig


def trainer_state(trainer) -> dict:
    """Everything ``trainer`` (a ``sslteach.train.Trainer``) needs to continue exactly."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": asdict(trainer.config),
        "model": trainer.model.state_dict(),
        "loss": trainer.loss.state_dict(),
        "target": None if trainer.target is None else trainer.target.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "generator": trainer.views.generator.get_state()},
        "position": {
            "epoch": trainer.epoch,
            "step": trainer.step,
            "order": trainer.order,
            "sums": trainer.sums,
            "train_size": trainer.train_size,
        },
        "history": trainer.history,
    }


def restore_trainer_state(trainer, state: dict, path: Path) -> None:
    """Load ``state`` into a freshly built ``trainer``; a clear error if they do not match."""
    try:
        trainer.model.load_state_dict(state["model"])
        trainer.loss.load_state_dict(state["loss"])
        if trainer.target is not None:
            trainer.target.load_state_dict(state["target"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        trainer.views.generator.set_state(state["rng"]["generator"])
        position = state["position"]
        trainer.epoch, trainer.step = position["epoch"], position["step"]
        trainer.sums = {k: v.to(trainer.device) for k, v in position["sums"].items()}
        order = position["order"]
        trainer.order = None if order is None else order.to(trainer.device)
    except (AttributeError, KeyError, RuntimeError, TypeError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{path} does not match the config it records ({reason}); it was not written by "
            "this version of sslteach for that config — retrain"
        ) from err
    trainer.history = list(state["history"])
    trainer.saved_position = (trainer.epoch, trainer.step)


def check_resumable(path: Path, state: dict, config: TrainConfig, train_size: int) -> None:
    """Refuse to resume on other data than the run's, or a momentum run without its target."""
    trained_on = state["position"].get("train_size")
    if trained_on != train_size:
        raise ValueError(
            f"{path} was trained on {trained_on} images, but {train_size} were given; resume "
            f"on the run's own data (dataset={config.dataset}, train_images="
            f"{config.train_images})"
        )
    if config.momentum and not isinstance(state.get("target"), dict):
        raise ValueError(
            f"{path} records momentum={config.momentum} but holds no momentum target state; "
            "it is incomplete — retrain"
        )


def recorded_config(path: Path, state: dict) -> TrainConfig:
    """The config a checkpoint records, validated like any other."""
    try:
        return TrainConfig.from_dict(state["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} records an invalid config ({err}); retrain") from err
