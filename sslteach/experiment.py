"""A whole run as the command line does it: load data, train, evaluate, write results.

``run`` writes two files into its output folder and keeps them current while it trains:
``checkpoint.pt`` (everything needed to resume) and ``metrics.json`` (config, per-epoch
history, and at the end the linear-probe and kNN accuracies).

Under ``torchrun`` every process calls ``run``. All of them load the data (rank 0 first, in
case it downloads) and train; rank 0 alone shows progress, writes both files and evaluates,
while the others wait for it at a barrier.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from sslteach.callbacks import AccuracyMonitor, Callback, ProgressBar
from sslteach.checkpoint import load_checkpoint, write_json_atomically
from sslteach.data import ImageSet, load_dataset
from sslteach.distributed import barrier, is_main_process, main_process_first, world_size
from sslteach.evaluate import baseline_accuracies, evaluate_encoder
from sslteach.train import (
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    augment_config_for,
    model_for,
    resolve_device,
    resume_trainer,
)

FINAL_DIAGNOSTICS = ("effective_rank", "embedding_std", "l2_normalized_std")
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


def prepare_output(out: str | Path) -> Path:
    """Create ``out`` and prove it is writable before hours of training depend on it."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(
            f"cannot write to --out {out} ({err.strerror or err}); choose a writable folder"
        ) from err
    return out


class _MetricsWriter(Callback):
    """Keeps metrics.json current after every epoch, so nothing computed is lost."""

    def __init__(self, path: Path, header: dict) -> None:
        self.path, self.header = path, header

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        status = {"status": "training", "history": trainer.history}
        write_json_atomically(self.path, {**self.header, **status})


def load_splits(config: TrainConfig) -> tuple[ImageSet, ImageSet]:
    """The run's training images (limited to ``config.train_images``) and its test split."""
    train_set = load_dataset(config.dataset, "train", config.data_root)
    test_set = load_dataset(config.dataset, "test", config.data_root)
    return train_set.subset(config.train_images), test_set


def run(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    baselines: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> dict:
    """Train ``config`` (or resume the run in ``out``), evaluate it, and return its metrics.

    Under ``torchrun``, ranks other than 0 return only the header and ``"status"``.
    """
    main = is_main_process()
    out = prepare_output(out) if main else Path(out)
    checkpoint = out / CHECKPOINT
    with main_process_first():
        train_set, test_set = load_splits(config)
    writer = _MetricsWriter(out / METRICS, _header(config))
    monitor = (
        [AccuracyMonitor(train_set.subset(config.monitor_images), test_set)]
        if config.monitor_images
        else []
    )
    bar = [ProgressBar()] if progress else []
    callbacks = [*monitor, *callbacks, writer, *bar] if main else list(callbacks)
    if resume:
        trainer = resume_trainer(checkpoint, train_set, callbacks=callbacks)
        config = trainer.config
        writer.header = _header(config)
    else:
        trainer = Trainer(config, train_set, callbacks=callbacks, checkpoint_path=checkpoint)
    start = time.perf_counter()
    try:
        trainer.fit()
    except NonFiniteLossError as err:
        if main:
            status = {"status": f"stopped: {err}", "history": err.history}
            write_json_atomically(writer.path, {**writer.header, **status})
        raise
    except KeyboardInterrupt:
        if main:
            status = {"status": "interrupted", "history": trainer.history}
            write_json_atomically(writer.path, {**writer.header, **status})
        raise
    if not main:
        barrier()  # rank 0 evaluates
        return {**writer.header, "status": "finished"}
    metrics = {
        **writer.header,
        "status": "finished",
        **evaluate_encoder(trainer.model.encoder, train_set, test_set, trainer.augment_config),
        **{key: trainer.history[-1][key] for key in FINAL_DIAGNOSTICS},
        "train_seconds": time.perf_counter() - start,
        "device": str(trainer.device),
    }
    if baselines:
        torch.manual_seed(config.seed)
        random_encoder = model_for(config).encoder.to(trainer.device)
        metrics["baselines"] = baseline_accuracies(
            random_encoder, train_set, test_set, trainer.augment_config
        )
    metrics["history"] = trainer.history
    write_json_atomically(writer.path, metrics)
    barrier()
    return metrics


def _header(config: TrainConfig) -> dict:
    """What metrics.json says about the run before its results."""
    return {
        "method": config.method,
        "dataset": config.dataset,
        "epochs": config.epochs,
        "processes": world_size(),
        "peak_lr": config.peak_lr,
        "config": asdict(config),
    }


def evaluate_checkpoint(path: str | Path, *, device: str = "auto") -> dict:
    """Re-evaluate the encoder saved at ``path`` on its data set's train/test splits."""
    state = load_checkpoint(path)
    config = TrainConfig.from_dict({**state["config"], "device": device})
    model = model_for(config)
    model.load_state_dict(state["model"])
    model.to(resolve_device(config.device))
    train_set, test_set = load_splits(config)
    return {
        "checkpoint": str(path),
        "method": config.method,
        "dataset": config.dataset,
        "epochs_trained": state["position"]["epoch"],
        **evaluate_encoder(model.encoder, train_set, test_set, augment_config_for(config)),
    }
