"""W-MSE: whiten each view, then pull the views together with a normalised MSE.

Ermolov, Siarohin, Sangineto, Sebe, "Whitening for Self-Supervised Representation Learning",
ICML 2021 (official code: github.com/htdt/self-supervised). Per iteration, the batch is split
by a random permutation into sub-batches of ``w_size`` rows; inside each, every view is
whitened on its own with the Cholesky transform of its (shrunk) covariance:

    v = z − mean(z),  Σ = vᵀv/(m − 1),  Σ_ε = (1 − ε)Σ + ε·I,  Σ_ε = L Lᵀ,  w = L⁻¹ v

and the loss is 2 − 2·mean_i cos(w_a,i, w_b,i), averaged over ``w_iter`` permutations.
Gradients flow through the whitening. Whitening makes the embedding's covariance the
identity by construction, so the views can be pulled together without collapse. The paper's
CIFAR-10 setting is w_size = 128 with a 64-dimensional embedding (w_size ≥ 2·d keeps Σ
well-conditioned).

Several processes (``gather_distributed=True``): the embeddings of all ranks are gathered
(autograd-aware) and split into sub-batches by one permutation drawn on rank 0 and broadcast,
so every rank whitens the same sub-batches of the global batch, as one process would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sslteach._checks import check_number, check_pair, check_positive_int, upcast
from sslteach.distributed import broadcast, gather
from sslteach.losses.base import Knob, SSLLoss
from sslteach.whitening import whiten


def normalized_mse_loss(w_a: Tensor, w_b: Tensor) -> Tensor:
    """2 − 2·mean_i cos(w_a,i, w_b,i) = mean_i ||ŵ_a,i − ŵ_b,i||² for unit rows ŵ."""
    check_pair(w_a, w_b, min_rows=1)
    return 2 - 2 * (F.normalize(w_a, dim=1) * F.normalize(w_b, dim=1)).sum(dim=1).mean()


class WMSELoss(SSLLoss):
    """W-MSE loss (Ermolov et al., ICML 2021) with Cholesky whitening of random sub-batches.

    Args:
        w_size: rows whitened together; must divide the batch size and be ≥ 2·d.
        w_iter: random sub-batch partitions averaged per step.
        eps: covariance shrinkage (1 − ε)Σ + ε·I, in [0, 1); raise it if Σ is singular.
        gather_distributed: whiten sub-batches of the batch gathered from all processes.

    It trains with a 64-dimensional embedding (projector 512-64), as in the paper, so that the
    default w_size = 128 meets w_size ≥ 2·d. Notebook 05 derives the whitening.
    """

    title = "W-MSE"
    knobs = {
        "w_size": Knob("w", 16, 512, 16, "rows whitened together (≥ 2·d, divides the batch)"),
        "w_iter": Knob("iterations", 1, 4, 1, "random sub-batch partitions per step"),
        "eps": Knob("ε", 0, 0.5, 0.01, "covariance shrinkage (1 − ε)Σ + εI; raise if singular"),
    }
    train_defaults = {"all": {"projector": "512-64"}}

    def __init__(
        self, w_size: int = 128, w_iter: int = 1, eps: float = 0.0, gather_distributed: bool = False
    ) -> None:
        super().__init__()
        self.gather_distributed = gather_distributed
        self.w_size = check_positive_int("w_size", w_size)
        if w_size < 2:
            raise ValueError(f"w_size must be at least 2 to estimate a covariance, got {w_size}")
        self.w_iter = check_positive_int("w_iter", w_iter)
        self.eps = check_number("eps", eps, high=1.0, high_inclusive=False)

    def terms(self, z_a: Tensor, z_b: Tensor) -> dict[str, Tensor]:
        check_pair(z_a, z_b)
        distributed = self._distributed()
        if distributed:
            z_a, z_b = gather(z_a), gather(z_b)  # (K·n, d): the global batch
        n, d = z_a.shape
        self._check_w_size(n, d)
        z_a, z_b = upcast(z_a), upcast(z_b)
        total = z_a.new_zeros(())
        for _ in range(self.w_iter):
            w_a, w_b = torch.empty_like(z_a), torch.empty_like(z_b)
            perm = torch.randperm(n, device=z_a.device)
            if distributed:  # every rank must whiten the same sub-batches
                perm = broadcast(perm)
            for rows in perm.view(-1, self.w_size):
                w_a[rows] = self._whiten(z_a[rows])
                w_b[rows] = self._whiten(z_b[rows])
            total = total + normalized_mse_loss(w_a, w_b)
        return {"whitened_mse": total / self.w_iter}

    def _check_w_size(self, n: int, d: int) -> None:
        if self.w_size > n or n % self.w_size:
            raise ValueError(
                f"w_size={self.w_size} must divide the batch size n={n}; choose a batch size "
                f"that is a multiple of w_size, or a w_size that divides {n}"
            )
        if self.w_size < 2 * d:
            raise ValueError(
                f"w_size={self.w_size} is smaller than 2·d = {2 * d} for d={d} embedding "
                "dimensions, so the sub-batch covariance is (nearly) singular; "
                f"use w_size ≥ {2 * d} or a narrower projector"
            )

    def _whiten(self, v: Tensor) -> Tensor:
        try:
            return whiten(v, method="cholesky", eps=self.eps)
        except ValueError as err:
            raise ValueError(
                f"covariance is singular; increase eps (now {self.eps}) or w_size "
                f"(now {self.w_size}) — the embeddings of a sub-batch span fewer than d "
                "dimensions, which happens when they have collapsed"
            ) from err

    @property
    def weights(self) -> dict[str, float]:
        return {"whitened_mse": 1.0}
