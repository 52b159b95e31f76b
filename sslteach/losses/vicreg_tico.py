"""The source study's modified loss: VICReg with TiCo's covariance contrast ("Custom").

VICReg's invariance and variance terms are kept; VICReg's covariance term is replaced by
TiCo's covariance-contrast term on the first view's L2-normalised embeddings ẑ_a, with TiCo's
running matrix updated first, exactly as in TiCo:

    C ← β·C + (1 − β)·ẑ_aᵀẑ_a / n
    L = λ·s(Z, Z') + μ·[v(Z) + v(Z')]/2 + ρ · mean_i ẑ_a,i C ẑ_a,iᵀ

The study's own snippet left C and the normalised embedding undefined and computed a
covariance term it never used; this is the loss it meant. Defaults: VICReg's λ = μ = 25 and
TiCo's ρ = 8, β = 0.9.

Several processes (``gather_distributed=True``): the invariance is averaged over the ranks'
shards; the variance, C and the contrast use the embeddings gathered from all ranks, as in
``VICRegLoss`` and ``TiCoLoss``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sslteach._checks import check_number, check_pair, upcast
from sslteach.distributed import all_reduce_mean, gather
from sslteach.losses.base import SSLLoss
from sslteach.losses.tico import RunningCovariance, TiCoLoss, covariance_contrast_loss
from sslteach.losses.vicreg import VICRegLoss, invariance_loss, two_view_variance_loss


class VICRegTiCoLoss(SSLLoss):
    """VICReg's invariance and variance plus TiCo's covariance contrast (no VICReg covariance).

    Notebook 06 assembles it from the two losses' pieces and re-tunes ρ.
    """

    title = "Custom (VICReg + TiCo)"
    knobs = {
        "lambda_": VICRegLoss.knobs["lambda_"],
        "mu": VICRegLoss.knobs["mu"],
        "rho": TiCoLoss.knobs["rho"],
        "beta": TiCoLoss.knobs["beta"],
        "gamma": VICRegLoss.knobs["gamma"],
        "eps": VICRegLoss.knobs["eps"],
    }

    def __init__(
        self,
        lambda_: float = 25.0,
        mu: float = 25.0,
        rho: float = 8.0,
        beta: float = 0.9,
        gamma: float = 1.0,
        eps: float = 1e-4,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        self.gather_distributed = gather_distributed
        self.lambda_ = check_number("lambda_", lambda_)
        self.mu = check_number("mu", mu)
        self.rho = check_number("rho", rho)
        self.beta = check_number("beta", beta, high=1.0, high_inclusive=False)
        self.gamma = check_number("gamma", gamma, low_inclusive=False)
        self.eps = check_number("eps", eps, low_inclusive=False)
        self.memory = RunningCovariance()

    @property
    def C(self) -> Tensor:
        """TiCo's running matrix (d, d); empty before the first batch."""
        return self.memory.C

    def reset(self) -> None:
        self.memory.reset()

    def terms(self, z_a: Tensor, z_b: Tensor, update: bool = True) -> dict[str, Tensor]:
        check_pair(z_a, z_b)
        invariance = invariance_loss(z_a, z_b)  # this rank's shard
        if self._distributed():
            invariance = all_reduce_mean(invariance)
            z_a, z_b = gather(z_a), gather(z_b)  # (K·n, d): the global batch
        z_hat_a = F.normalize(upcast(z_a), dim=1)
        C = self.memory(z_hat_a, self.beta, update)
        return {
            "invariance": invariance,
            "variance": two_view_variance_loss(z_a, z_b, self.gamma, self.eps),
            "covariance_contrast": covariance_contrast_loss(z_hat_a, C),
        }

    @property
    def weights(self) -> dict[str, float]:
        return {"invariance": self.lambda_, "variance": self.mu, "covariance_contrast": self.rho}
