"""Transformation Invariance and Covariance Contrast.

Zhu, Moraes, Karakulak, Sobol, Canziani, LeCun, "Transformation Invariance and
Covariance Contrast for Self-Supervised Visual Representation Learning", 2022.

With ẑ the L2-normalised rows of the embeddings:

    B = ẑ_aᵀ ẑ_a / n, detached                 (d, d) auto-correlation of this batch
    C ← β·C + (1 − β)·B                        running matrix, updated first, C₀ = 0
    L = 1 − mean_i ⟨ẑ_a,i, ẑ_b,i⟩ + ρ · mean_i ẑ_a,i C ẑ_a,iᵀ,     β = 0.9, ρ = 8

Unrolled, C = (1 − β) Σ_t β^t B_{−t}, so ẑ C ẑᵀ = (1 − β) Σ_t β^t mean_j ⟨ẑ, ẑ_j^{(−t)}⟩²:
each embedding is contrasted, by squared cosine similarity, with every embedding of the past
batches, exponentially down-weighted — "MoCo with an implicit infinite memory bank". With β = 0
it is a Barlow-Twins-like penalty on the auto-correlation matrix of the current batch.

C is a constant for the gradient, this batch's B included (as in lightly's implementation):
like the entries of a memory bank, the embeddings that make up C are not pushed by the loss;
only the embeddings being contrasted are, by ∂/∂ẑ_i of ẑ_i C ẑ_iᵀ = 2 C ẑ_i.

Several processes (``gather_distributed=True``): B and the contrast term use the ẑ_a gathered
from all ranks (autograd-aware), so every rank updates C with the same global batch and holds
the same memory; the invariance, a per-sample mean, is averaged over the ranks' shards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslteach._checks import check_number, check_pair, upcast
from sslteach.distributed import all_reduce_mean, gather
from sslteach.losses.base import Knob, SSLLoss


def cosine_invariance_loss(z_a: Tensor, z_b: Tensor) -> Tensor:
    """1 − mean_i ⟨ẑ_a,i, ẑ_b,i⟩: one minus the mean cosine similarity of the two views."""
    check_pair(z_a, z_b, min_rows=1)
    return _one_minus_mean_cosine(F.normalize(upcast(z_a), dim=1), F.normalize(upcast(z_b), dim=1))


def _one_minus_mean_cosine(z_hat_a: Tensor, z_hat_b: Tensor) -> Tensor:
    return 1 - (z_hat_a * z_hat_b).sum(dim=1).mean()


def covariance_contrast_loss(z_hat: Tensor, C: Tensor) -> Tensor:
    """mean_i ẑ_i C ẑ_iᵀ for L2-normalised rows ``z_hat`` (n, d) and a (d, d) matrix C."""
    return ((z_hat @ C) * z_hat).sum(dim=1).mean()


class RunningCovariance(nn.Module):
    """TiCo's memory: the running auto-correlation matrix C ← β·C + (1 − β)·ẑᵀẑ/n.

    C is a registered buffer, so ``state_dict`` saves it and a resumed run continues with the
    same memory. Its width d is taken from the first batch (C₀ = 0).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("C", torch.zeros(0, 0))

    def forward(self, z_hat: Tensor, beta: float, update: bool = True) -> Tensor:
        """β·C + (1 − β)·ẑᵀẑ/n (no gradient) for normalised rows ``z_hat``; stored if ``update``."""
        d = z_hat.shape[1]
        if self.C.numel() == 0:
            previous = z_hat.new_zeros(d, d)
        elif self.C.shape != (d, d):
            raise ValueError(
                f"the running matrix C was built for d={self.C.shape[0]} dimensions, got "
                f"embeddings with d={d}; call reset() before changing the embedding width"
            )
        else:
            previous = self.C.to(z_hat)
        batch = (z_hat.T @ z_hat / z_hat.shape[0]).detach()  # (d, d), a constant like the memory
        C = beta * previous + (1 - beta) * batch
        if update:
            self.C = C.detach()
        return C

    def reset(self) -> None:
        """Forget the memory: the next batch starts again from C = 0."""
        self.C = torch.zeros(0, 0, device=self.C.device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # C's shape is only known once embeddings were seen; adopt the saved one before loading.
        saved = state_dict.get(prefix + "C")
        if isinstance(saved, Tensor):
            self.C = torch.empty_like(saved, device=self.C.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class TiCoLoss(SSLLoss):
    """TiCo loss (Zhu et al., 2022): L = invariance + ρ·covariance_contrast, ρ = 8, β = 0.9.

    ``forward(z_a, z_b, update=False)`` evaluates the loss without changing the memory C;
    ``reset()`` clears it. The early public code used ρ = 20; the paper's default is 8.
    Notebook 04 unrolls C into a memory bank.
    """

    title = "TiCo"
    knobs = {
        "rho": Knob("ρ", 0, 40, 1, "weight of the covariance-contrast term"),
        "beta": Knob("β", 0, 0.99, 0.01, "momentum of the running matrix C"),
    }

    def __init__(
        self, rho: float = 8.0, beta: float = 0.9, gather_distributed: bool = False
    ) -> None:
        super().__init__()
        self.rho = check_number("rho", rho)
        self.beta = check_number("beta", beta, high=1.0, high_inclusive=False)
        self.gather_distributed = gather_distributed
        self.memory = RunningCovariance()

    @property
    def C(self) -> Tensor:
        """The running matrix (d, d); empty before the first batch."""
        return self.memory.C

    def reset(self) -> None:
        self.memory.reset()

    def terms(self, z_a: Tensor, z_b: Tensor, update: bool = True) -> dict[str, Tensor]:
        check_pair(z_a, z_b)
        # Normalise each view once: the invariance and the contrast share ẑ_a.
        z_hat_a = F.normalize(upcast(z_a), dim=1)
        z_hat_b = F.normalize(upcast(z_b), dim=1)
        invariance = _one_minus_mean_cosine(z_hat_a, z_hat_b)  # this rank's shard
        if self._distributed():
            invariance, z_hat_a = all_reduce_mean(invariance), gather(z_hat_a)
        C = self.memory(z_hat_a, self.beta, update)
        return {
            "invariance": invariance,
            "covariance_contrast": covariance_contrast_loss(z_hat_a, C),
        }

    @property
    def weights(self) -> dict[str, float]:
        return {"invariance": 1.0, "covariance_contrast": self.rho}
