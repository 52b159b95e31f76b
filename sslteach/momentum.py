"""A momentum (EMA) target network: the slowly moving copy that BYOL learns to predict.

Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020. The *target* encoder + projector ξ is
not trained by gradients; after every optimiser step of the *online* network θ it moves a
little towards it, an exponential moving average (EMA) of the online weights:

    ξ ← τ·ξ + (1 − τ)·θ
    τ_k = 1 − (1 − τ_base)·(cos(π k / K) + 1) / 2      (cosine: τ_base at step 0, 1 at step K)

Any method can use one (``TrainConfig.momentum`` = τ_base > 0): the second view then goes
through the target without gradient, as lightly's TiCo and BYOL recipes do. Only the weights
are averaged; the target's BatchNorm layers keep their own running statistics from its own
forward passes (in training mode, like the online network's; synchronised across GPUs, too).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from sslteach._checks import check_number
from sslteach.distributed import sync_batchnorm
from sslteach.models import SiameseModel

SCHEDULES = ("cosine", "constant")


def momentum_at(step: int, total_steps: int, base: float, schedule: str = "cosine") -> float:
    """τ after ``step`` of ``total_steps`` optimiser steps: BYOL's cosine ramp to 1, or ``base``."""
    if schedule == "constant":
        return base
    return 1 - (1 - base) * (math.cos(math.pi * step / total_steps) + 1) / 2


class MomentumTarget(nn.Module):
    """An EMA copy of an online ``SiameseModel``'s encoder and projector (not its predictor)."""

    def __init__(
        self, online: SiameseModel, base: float, total_steps: int, schedule: str = "cosine"
    ) -> None:
        super().__init__()
        self.base = check_number("momentum", base, high=1.0, high_inclusive=False)
        if schedule not in SCHEDULES:
            raise ValueError(f"momentum_schedule must be one of {', '.join(SCHEDULES)}")
        self.schedule, self.total_steps = schedule, total_steps
        network = SiameseModel(copy.deepcopy(online.encoder), copy.deepcopy(online.projector))
        device = next(online.parameters()).device
        self.network = sync_batchnorm(network, device).requires_grad_(False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """The target embedding z̄ of ``x``: no gradient reaches the target."""
        return self.network(x)[1]

    @torch.no_grad()
    def update(self, online: SiameseModel, step: int) -> None:
        """ξ ← τ·ξ + (1 − τ)·θ with τ = τ_step; called after optimiser step ``step`` (from 0)."""
        tau = momentum_at(step, self.total_steps, self.base, self.schedule)
        for part in ("encoder", "projector"):
            targets = list(getattr(self.network, part).parameters())
            sources = list(getattr(online, part).parameters())
            torch._foreach_lerp_(targets, sources, 1 - tau)  # ξ + (1 − τ)(θ − ξ), fused
