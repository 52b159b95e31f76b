"""Variance-Invariance-Covariance Regularization.

Bardes, Ponce, LeCun, "Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", ICLR 2022. Implemented to equal the official code
(github.com/facebookresearch/vicreg), whose normalisation differs from the paper's formulas:

    L(Z, Z') = λ·s(Z, Z') + μ·[v(Z) + v(Z')]/2 + ν·[c(Z) + c(Z')]

    s(Z, Z') = 1/(n·d) Σ_i ||z_i − z'_i||²             (paper: 1/n Σ_i, i.e. d times larger)
    v(Z)     = 1/d Σ_j max(0, γ − sqrt(Var(z^j) + ε))   (paper: μ·[v(Z) + v(Z')], no /2)
    c(Z)     = 1/d Σ_{i≠j} C(Z)_ij²,  C(Z) = (Z − z̄)ᵀ(Z − z̄) / (n − 1)

The defaults λ = 25, μ = 25, ν = 1, γ = 1, ε = 1e-4 were tuned with the code's normalisation,
which is why sslteach follows the code.

Several processes (``gather_distributed=True``), as in the official code: the invariance is a
per-sample mean, so each rank computes it on its own shard; v and c are batch statistics, so
they are computed on the embeddings gathered from all ranks (autograd-aware). sslteach also
averages the invariance over ranks, which leaves the gradients unchanged but makes the value on
every rank that of one process on the whole batch (and a NaN stop every rank at once).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sslteach._checks import check_matrix, check_number, check_pair, upcast
from sslteach.distributed import all_reduce_mean, gather
from sslteach.losses.base import Knob, SSLLoss, off_diagonal


def invariance_loss(z_a: Tensor, z_b: Tensor) -> Tensor:
    """s(Z, Z') = 1/(n·d) Σ_i ||z_i − z'_i||²: pulls the two views of each image together."""
    check_pair(z_a, z_b, min_rows=1)
    return F.mse_loss(upcast(z_a), upcast(z_b))


def variance_loss(z: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """v(Z) = 1/d Σ_j max(0, γ − sqrt(Var(z^j) + ε)): keeps every dimension's std above γ.

    The hinge stops pushing once a dimension's std reaches γ, so it prevents complete collapse
    without inflating the embeddings; ε keeps the gradient finite when a dimension collapses.
    """
    check_matrix(z, "z")
    std = torch.sqrt(upcast(z).var(dim=0) + eps)  # (d,), unbiased variance as in torch.var
    return F.relu(gamma - std).mean()


def covariance_matrix(z: Tensor) -> Tensor:
    """C(Z) = (Z − z̄)ᵀ(Z − z̄) / (n − 1), the (d, d) sample covariance of a batch."""
    check_matrix(z, "z")
    z = upcast(z)
    z = z - z.mean(dim=0)
    return z.T @ z / (z.shape[0] - 1)


def covariance_loss(z: Tensor) -> Tensor:
    """c(Z) = 1/d Σ_{i≠j} C(Z)_ij²: decorrelates dimensions so each carries its own information.

    A batch narrower than half the embedding (2n ≤ d, as with VICReg's 8192-wide projector)
    takes the shorter road of ``covariance_loss_from_gram`` to the same number (from d = 2n
    on it is the faster one: ``benchmarks/loss_roads.py``).
    """
    check_matrix(z, "z")
    n, d = z.shape
    if 2 * n > d:
        return off_diagonal(covariance_matrix(z)).pow(2).sum() / d
    return covariance_loss_from_gram(z)


def covariance_loss_from_gram(z: Tensor) -> Tensor:
    """c(Z) without the (d, d) covariance: Σ_{i≠j} C_ij² = ‖C‖²_F − Σ_j C_jj², and
    ‖ZᵀZ‖_F = ‖ZZᵀ‖_F, so the (n, n) Gram matrix of the centred batch replaces C — d/n times
    less arithmetic, and an n×n matrix kept for backward, not d×d.

    The subtraction cancels most of ‖C‖²_F when nearly all variance lies on a few axes (the
    dimensional collapse the notebooks show): in float32 the value would then keep only a digit
    or two. The Gram matrix and the variances are therefore computed in float64.
    """
    check_matrix(z, "z")
    n, d = z.shape
    z = upcast(z)
    z64 = (z - z.mean(dim=0)).double()
    squared_norm = (z64 @ z64.T).pow(2).sum() / (n - 1) ** 2  # ‖C‖²_F
    variances = z64.pow(2).sum(dim=0) / (n - 1)  # C_jj
    return ((squared_norm - variances.pow(2).sum()) / d).to(z.dtype)


def two_view_variance_loss(
    z_a: Tensor, z_b: Tensor, gamma: float = 1.0, eps: float = 1e-4
) -> Tensor:
    """[v(Z) + v(Z')]/2: the official code averages the two views' variance terms."""
    return (variance_loss(z_a, gamma, eps) + variance_loss(z_b, gamma, eps)) / 2


class VICRegLoss(SSLLoss):
    """VICReg loss (Bardes et al., ICLR 2022), equal to the official code.

    L = λ·invariance + μ·variance + ν·covariance, with
    invariance = mse(Z, Z'), variance = [v(Z) + v(Z')]/2, covariance = c(Z) + c(Z').
    Defaults λ = 25, μ = 25, ν = 1, γ = 1, ε = 1e-4 (paper and code). Notebook 02 derives
    each term and drops each in turn.
    """

    title = "VICReg"
    knobs = {
        "lambda_": Knob("λ", 0, 50, 1, "weight of the invariance term"),
        "mu": Knob("μ", 0, 50, 1, "weight of the variance term"),
        "nu": Knob("ν", 0, 10, 0.5, "weight of the covariance term"),
        "gamma": Knob("γ", 0.1, 2, 0.1, "the std each dimension is pushed up to"),
        "eps": Knob("ε", 1e-5, 1e-3, 1e-5, "added to the variance before the square root"),
    }

    def __init__(
        self,
        lambda_: float = 25.0,
        mu: float = 25.0,
        nu: float = 1.0,
        gamma: float = 1.0,
        eps: float = 1e-4,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        self.gather_distributed = gather_distributed
        self.lambda_ = check_number("lambda_", lambda_)
        self.mu = check_number("mu", mu)
        self.nu = check_number("nu", nu)
        self.gamma = check_number("gamma", gamma, low_inclusive=False)
        self.eps = check_number("eps", eps, low_inclusive=False)

    def terms(self, z_a: Tensor, z_b: Tensor) -> dict[str, Tensor]:
        check_pair(z_a, z_b)
        invariance = invariance_loss(z_a, z_b)  # this rank's shard
        if self._distributed():
            invariance = all_reduce_mean(invariance)
            z_a, z_b = gather(z_a), gather(z_b)  # (K·n, d): the global batch
        return {
            "invariance": invariance,
            "variance": two_view_variance_loss(z_a, z_b, self.gamma, self.eps),
            "covariance": covariance_loss(z_a) + covariance_loss(z_b),
        }

    @property
    def weights(self) -> dict[str, float]:
        return {"invariance": self.lambda_, "variance": self.mu, "covariance": self.nu}
