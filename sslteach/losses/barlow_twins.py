"""Barlow Twins: drive the cross-correlation matrix of the two views to the identity.

Zbontar, Jing, Misra, LeCun, Deny, "Barlow Twins: Self-Supervised Learning via Redundancy
Reduction", ICML 2021 (official code: github.com/facebookresearch/barlowtwins).

    ẑ = (z − mean) / sqrt(var + ε)       per feature over the batch (BatchNorm1d, no affine)
    c = ẑ_aᵀ ẑ_b / n                     (d, d) cross-correlation
    L = Σ_i (1 − c_ii)² + λ Σ_{i≠j} c_ij²,   λ = 0.0051

The on-diagonal term makes each feature invariant to the augmentation (c_ii → 1); the
off-diagonal term decorrelates different features (c_ij → 0), reducing redundancy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sslteach._checks import check_matrix, check_number, check_pair, upcast
from sslteach.losses.base import SSLLoss, off_diagonal


def standardize(z: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-feature (z − mean)/sqrt(var + ε) with the biased batch variance.

    Exactly what ``BatchNorm1d(d, affine=False)`` computes in training mode, which is how the
    official code standardises; ε = 1e-5 is BatchNorm's default and keeps constant features finite.
    """
    check_matrix(z, "z")
    z = upcast(z)
    mean = z.mean(dim=0)
    var = z.var(dim=0, unbiased=False)
    return (z - mean) / torch.sqrt(var + eps)


def cross_correlation(z_a: Tensor, z_b: Tensor) -> Tensor:
    """c = standardize(z_a)ᵀ standardize(z_b) / n, the (d, d) cross-correlation of the views."""
    check_pair(z_a, z_b)
    return standardize(z_a).T @ standardize(z_b) / z_a.shape[0]


def on_diagonal_loss(c: Tensor) -> Tensor:
    """Σ_i (1 − c_ii)²: each feature should agree perfectly across the two views."""
    return (1 - torch.diagonal(c)).pow(2).sum()


def off_diagonal_loss(c: Tensor) -> Tensor:
    """Σ_{i≠j} c_ij²: different features should be uncorrelated (redundancy reduction)."""
    return off_diagonal(c).pow(2).sum()


class BarlowTwinsLoss(SSLLoss):
    """Barlow Twins loss (Zbontar et al., ICML 2021): on_diagonal + λ·off_diagonal, λ = 0.0051."""

    def __init__(self, lambda_: float = 0.0051) -> None:
        super().__init__()
        self.lambda_ = check_number("lambda_", lambda_)

    def terms(self, z_a: Tensor, z_b: Tensor) -> dict[str, Tensor]:
        c = cross_correlation(z_a, z_b)
        return {"on_diagonal": on_diagonal_loss(c), "off_diagonal": off_diagonal_loss(c)}

    @property
    def weights(self) -> dict[str, float]:
        return {"on_diagonal": 1.0, "off_diagonal": self.lambda_}

    def hyperparameters(self) -> dict[str, float]:
        return {"lambda_": self.lambda_}
