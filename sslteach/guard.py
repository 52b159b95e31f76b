"""The non-finite guard: stop a diverging run cleanly, with where it happened and what to try.

The loss is checked before every backward pass (so the weights never take a NaN step), and the
weights and BatchNorm statistics once per epoch, before diagnostics and the checkpoint (a
finite loss can still push a weight to infinity). Either way the run stops with
``NonFiniteError``; the checkpoint on disk still holds the last good state.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sslteach.checkpoint import describe_position


class NonFiniteError(RuntimeError):
    """Training produced NaN or infinity; the history up to that point is attached."""

    def __init__(self, message: str, history: list[dict]) -> None:
        super().__init__(message)
        self.history = history


def check_finite_loss(loss: Tensor, trainer) -> None:
    """Raise ``NonFiniteError`` if ``loss`` is NaN or infinite (one host sync per step)."""
    if not torch.isfinite(loss):
        raise NonFiniteError(_message(f"the loss became {loss.item()}", trainer), trainer.history)


def check_finite_model(model: nn.Module, trainer) -> None:
    """Raise ``NonFiniteError`` if any weight or buffer of ``model`` is NaN or infinite."""
    values = [t for t in model.state_dict().values() if t.is_floating_point()]
    if not torch.stack([t.isfinite().all() for t in values]).all():
        bad = next(name for name, t in model.state_dict().items() if _non_finite(t))
        raise NonFiniteError(
            _message(f"the model's {bad} became non-finite", trainer), trainer.history
        )


def _non_finite(t: Tensor) -> bool:
    return t.is_floating_point() and not bool(t.isfinite().all())


def _message(what: str, trainer) -> str:
    config = trainer.config
    where = f"epoch {trainer.epoch + 1}, step {trainer.step + 1}"
    if trainer.checkpoint_path is None:
        kept = "the history so far is kept"
    elif trainer.saved_position is None:
        kept = "no checkpoint was written yet (the first is saved at the end of epoch 1)"
    else:
        kept = (
            f"the last good checkpoint ({trainer.checkpoint_path}, "
            f"{describe_position(*trainer.saved_position)}) and the history are kept"
        )
    return (
        f"{what} at {where}: the learning rate (lr={config.peak_lr}) is likely too high for "
        f"this optimizer and batch size, or the loss weights {config.loss or '(defaults)'} "
        f"unbalanced; lower --lr and start again; {kept}"
    )
