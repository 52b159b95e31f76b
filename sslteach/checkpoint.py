"""Writing results so that a crash never leaves a half-written file, reading checkpoints back
without running anything stored in them, and one run per output folder at a time."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

CHECKPOINT_FORMAT = "sslteach-checkpoint-v1"
REQUIRED_KEYS = ("config", "model", "loss", "optimizer", "scheduler", "rng", "position", "history")
LOCK = ".sslteach.lock"


class CheckpointWriteError(ValueError):
    """A result file could not be written; the previous complete file is left in place."""


def _replace_atomically(path: Path, write) -> None:
    """``write(tmp)`` to a temporary file of its own beside ``path``, then rename it over
    ``path``: a crash or a second writer never leaves a half-written ``path``."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as err:
        raise CheckpointWriteError(
            f"cannot write {path} ({err.strerror or err}); the previous version of the file, if "
            "any, is intact — free disk space or fix the folder, then continue with --resume"
        ) from err


def save_atomically(state: dict, path: Path) -> None:
    """``torch.save`` ``state`` to ``path`` atomically."""
    _replace_atomically(path, lambda tmp: torch.save(state, tmp))


def write_json_atomically(path: Path, data: dict) -> None:
    """The same for JSON: a crash never leaves a half-written metrics file behind."""
    _replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def describe_position(epoch: int, step: int) -> str:
    """(epochs completed, steps into the next) in words: "after epoch 2", "after step 5 of
    epoch 3"."""
    return f"after epoch {epoch}" if step == 0 else f"after step {step} of epoch {epoch + 1}"


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by ``Trainer``; a clear error if it is missing or corrupt.

    ``weights_only=True``: only tensors and plain containers are unpickled, so a crafted file
    cannot run code (torch's restricted unpickler refuses anything else).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; train first with sslteach train --out DIR"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path} is not a readable checkpoint ({type(err).__name__}); it may be truncated, "
            "or hold objects other than tensors and plain containers — retrain, or resume "
            "from a copy"
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an sslteach checkpoint ({CHECKPOINT_FORMAT})")
    missing = [key for key in REQUIRED_KEYS if not isinstance(state.get(key), (dict, list))]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}; it is incomplete — retrain")
    return state


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for one run; a second run on the same folder fails at once.

    An OS file lock (``flock``; ``msvcrt.locking`` on Windows) disappears with the process
    that held it, so a crashed run never leaves the folder locked.
    """
    path = folder / LOCK
    try:
        handle = path.open("a+")
    except OSError as err:
        raise CheckpointWriteError(f"cannot create {path} ({err.strerror or err})") from err
    with handle:
        try:
            _lock(handle)
        except OSError as err:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ValueError(
                f"another sslteach run ({holder}) is writing to {folder}; wait for it to "
                "finish, or choose another --out"
            ) from err
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)


def _lock(handle) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
