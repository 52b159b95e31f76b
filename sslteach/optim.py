"""Optimisers and the learning-rate schedule used by ``sslteach.train``.

LARS (You et al., 2017) scales each layer's step by a trust ratio η·||w|| / ||g||, so that
large-batch SSL trains stably; as in the VICReg and Barlow Twins code, biases and
normalisation parameters (the 1-D tensors) get neither weight decay nor the trust ratio.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

OPTIMIZERS = ("sgd", "adam", "adamw", "lars")


class LARS(torch.optim.Optimizer):
    """SGD with momentum and a layer-wise trust ratio; groups with ``lars=False`` skip it."""

    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        eta: float = 0.02,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars=True)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                update = p.grad.add(p, alpha=group["weight_decay"])
                if group["lars"]:
                    p_norm, u_norm = torch.norm(p), torch.norm(update)
                    trust = torch.where(
                        (p_norm > 0) & (u_norm > 0), group["eta"] * p_norm / u_norm, 1.0
                    )
                    update = update.mul(trust)
                buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(update)
                p.add_(buf, alpha=-group["lr"])
        return loss


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weights get weight decay (and LARS adaptation); biases and norm parameters get neither."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0, "lars": False},
    ]


def build_optimizer(
    name: str, model: nn.Module, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """One of ``OPTIMIZERS`` over ``model``'s parameters, with bias/norm excluded from decay."""
    groups = parameter_groups(model, weight_decay)
    if name == "lars":
        return LARS(groups, lr=lr)
    for group in groups:
        group.pop("lars", None)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, final_ratio: float = 0.0
) -> LambdaLR:
    """Linear warm-up from 0 to the base lr over ``warmup_steps``, then a cosine decay to
    ``final_ratio``·lr at ``total_steps``; stepped once per optimisation step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
