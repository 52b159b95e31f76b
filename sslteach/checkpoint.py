"""Writing results so that a crash never leaves a half-written file, and reading checkpoints
back with errors that say what to do."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

CHECKPOINT_FORMAT = "sslteach-checkpoint-v1"


def save_atomically(state: dict, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def write_json_atomically(path: Path, data: dict) -> None:
    """The same for JSON: a crash never leaves a half-written metrics file behind."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by ``Trainer``; a clear error if it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; train first with sslteach train --out DIR"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ValueError(
            f"{path} is not a readable checkpoint ({type(err).__name__}); it may be truncated — "
            "retrain, or resume from a copy"
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an sslteach checkpoint ({CHECKPOINT_FORMAT})")
    return state
