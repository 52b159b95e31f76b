"""A whole run as the command line does it: load data, train, evaluate, write results.

``run`` starts a run in an output folder and ``resume`` continues the one saved there. Both
keep two files current while training: ``checkpoint.pt`` (everything needed to resume) and
``metrics.json`` (config, per-epoch history, and at the end the linear-probe and kNN
accuracies), written after the checkpoint it describes. One run at a time holds a folder: a
second one fails at once, and a new run does not replace a finished or interrupted one unless
asked to (``overwrite=True``).

Under ``torchrun`` every process calls ``run``. All of them load the data (rank 0 first, in
case it downloads) and train; rank 0 alone shows progress, writes both files and evaluates,
while the others wait for it at a barrier.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import torch

from sslteach.callbacks import AccuracyMonitor, Callback, MetricsFile, ProgressBar
from sslteach.checkpoint import CheckpointWriteError, load_checkpoint, run_lock
from sslteach.config import TrainConfig, augment_config_for, model_for, resume_config
from sslteach.data import ImageSet, load_dataset
from sslteach.distributed import (
    barrier,
    is_main_process,
    main_process_first,
    resolve_device,
    world_size,
)
from sslteach.evaluate import baseline_accuracies, evaluate_encoder
from sslteach.guard import NonFiniteError
from sslteach.losses import build_loss
from sslteach.resume import recorded_config
from sslteach.train import Trainer, resume_trainer

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


def existing_run(out: Path) -> str | None:
    """What ``out`` already holds ("a finished run", …), or None for a folder without a run."""
    if not (out / CHECKPOINT).exists() and not (out / METRICS).exists():
        return None
    try:
        status = json.loads((out / METRICS).read_text()).get("status", "unknown")
    except (OSError, ValueError, AttributeError):
        status = "unknown"
    return f"a run (status: {status})"


def load_splits(config: TrainConfig) -> tuple[ImageSet, ImageSet]:
    """The run's training images (limited to ``config.train_images``) and its test split."""
    train_set = load_dataset(config.dataset, "train", config.data_root)
    test_set = load_dataset(config.dataset, "test", config.data_root)
    return train_set.subset(config.train_images), test_set


def run(
    config: TrainConfig,
    out: str | Path,
    *,
    overwrite: bool = False,
    baselines: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> dict:
    """Train ``config`` into ``out``, evaluate it, and return its metrics.

    A folder that already holds a run is refused unless ``overwrite`` (then its checkpoint and
    metrics are replaced); continue such a run with ``resume`` instead. Under ``torchrun``,
    ranks other than 0 return only the header and ``"status"``.
    """
    out = prepare_output(out) if is_main_process() else Path(out)
    with run_lock(out) if is_main_process() else nullcontext():
        held = existing_run(out) if is_main_process() else None
        if held and not overwrite:
            raise ValueError(
                f"--out {out} already holds {held}; continue it with --resume, replace it "
                "with --overwrite, or choose another --out"
            )
        if held:
            (out / CHECKPOINT).unlink(missing_ok=True)
            (out / METRICS).unlink(missing_ok=True)
        with main_process_first():
            train_set, test_set = load_splits(config)
        return _train(config, out, train_set, test_set, None, baselines, progress, callbacks)


def resume(
    out: str | Path,
    *,
    changes: dict | None = None,
    baselines: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> dict:
    """Continue the run saved in ``out`` exactly, on its own data and config, and evaluate it.

    ``changes`` (a TrainConfig field → value, ``"loss"`` → hyperparameters) may only say where
    and how the run continues (the device, the data folder); anything else is refused.
    """
    out = Path(out)
    with run_lock(out) if is_main_process() and out.is_dir() else nullcontext():
        path = out / CHECKPOINT
        state = load_checkpoint(path)
        config = resume_config(recorded_config(path, state), changes or {})
        with main_process_first():
            train_set, test_set = load_splits(config)
        return _train(config, out, train_set, test_set, state, baselines, progress, callbacks)


def _train(
    config: TrainConfig,
    out: Path,
    train_set: ImageSet,
    test_set: ImageSet,
    state: dict | None,
    baselines: bool,
    progress: bool,
    callbacks: Sequence[Callback],
) -> dict:
    metrics = MetricsFile(out / METRICS, _header(config))
    monitor = config.monitor_images
    callbacks = [
        *([AccuracyMonitor(train_set.subset(monitor), test_set)] if monitor else []),
        *callbacks,
        metrics,
        *([ProgressBar()] if progress else []),
    ]
    path = out / CHECKPOINT
    if state is None:
        trainer = Trainer(config, train_set, callbacks=callbacks, checkpoint_path=path)
    else:
        trainer = resume_trainer(path, train_set, callbacks=callbacks, state=state, config=config)
    start = time.perf_counter()
    try:
        trainer.fit()
    except (NonFiniteError, CheckpointWriteError) as err:
        _record_stop(metrics, trainer, f"stopped: {err}")
        raise
    except KeyboardInterrupt:
        _record_stop(metrics, trainer, "interrupted")
        raise
    if not is_main_process():
        barrier()  # rank 0 evaluates
        return {**metrics.header, "status": "finished"}
    results = {
        **evaluate_encoder(trainer.model.encoder, train_set, test_set, trainer.augment_config),
        **{key: trainer.history[-1][key] for key in FINAL_DIAGNOSTICS},
        "train_seconds": time.perf_counter() - start,
        "device": str(trainer.device),
    }
    if baselines:
        torch.manual_seed(config.seed)
        random_encoder = model_for(config).encoder.to(trainer.device)
        results["baselines"] = baseline_accuracies(
            random_encoder, train_set, test_set, trainer.augment_config
        )
    metrics.write("finished", trainer.history, **results)
    barrier()
    return {**metrics.header, "status": "finished", **results, "history": trainer.history}


def _record_stop(metrics: MetricsFile, trainer: Trainer, status: str) -> None:
    """metrics.json after a stop: the history the checkpoint holds, never more."""
    saved = trainer.saved_position[0] if trainer.saved_position else 0
    try:
        metrics.write(status, trainer.history[:saved])
    except CheckpointWriteError:
        pass  # the folder cannot be written: the error being raised already says so


def _header(config: TrainConfig) -> dict:
    """What metrics.json says about the run before its results."""
    return {
        "method": config.method,
        "dataset": config.dataset,
        "epochs": config.epochs,
        "processes": world_size(),
        "peak_lr": config.peak_lr,
        "hyperparameters": build_loss(config.method, **config.loss).hyperparameters(),
        "config": asdict(config),
    }


def evaluate_checkpoint(path: str | Path, *, device: str = "auto") -> dict:
    """Re-evaluate the encoder saved at ``path`` on its data set's train/test splits."""
    path = Path(path)
    state = load_checkpoint(path)
    config = resume_config(recorded_config(path, state), {"device": device})
    model = model_for(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ValueError(
            f"{path} holds weights that do not match the config it records "
            f"({str(err).splitlines()[0]}); retrain"
        ) from err
    model.to(resolve_device(config.device))
    train_set, test_set = load_splits(config)
    return {
        "checkpoint": str(path),
        "method": config.method,
        "dataset": config.dataset,
        "epochs_trained": state["position"]["epoch"],
        **evaluate_encoder(model.encoder, train_set, test_set, augment_config_for(config)),
    }
