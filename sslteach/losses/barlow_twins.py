"""drive the cross-correlation matrix of the two views to the identity.

Zbontar, Jing, Misra, LeCun, Deny, "Self-Supervised Learning via Redundancy
Reduction", ICML 2021 (official code: github.com/facebookresearch/barlowtwins).

    ẑ = (z − mean) / sqrt(var + ε)       per feature over the batch (BatchNorm1d, no affine)
    c = ẑ_aᵀ ẑ_b / n                     (d, d) cross-correlation
    L = Σ_i (1 − c_ii)² + λ Σ_{i≠j} c_ij²,   λ = 0.0051

The on-diagonal term makes each feature invariant to the augmentation (c_ii → 1); the
off-diagonal term decorrelates different features (c_ij → 0), reducing redundancy.

Several processes (``gather_distributed=True``): the mean and variance are sums over the global
batch, and so is c = Σ_ranks ẑ_a,rᵀ ẑ_b,r / N, each sum an autograd-aware all-reduce. A plain
``all_reduce`` of c is invisible to autograd and, after DDP averages the gradients, leaves them
K times too small — a bug a popular library shipped (see ``sslteach.distributed``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sslteach._checks import check_matrix, check_number, check_pair, upcast
from sslteach.distributed import all_reduce_sum, world_size
from sslteach.losses.base import Knob, SSLLoss, off_diagonal


def standardize(z: Tensor, eps: float = 1e-5, *, distributed: bool = False) -> Tensor:
    """Per-feature (z − mean)/sqrt(var + ε) with the biased batch variance.

    Exactly what ``BatchNorm1d(d, affine=False)`` computes in training mode, which is how the
    official code standardises; ε = 1e-5 is BatchNorm's default and keeps constant features finite.
    With ``distributed``, mean and variance are those of the global batch (equal shards).
    """
    check_matrix(z, "z")
    z = upcast(z)
    if not distributed:
        # The same maths as below, fused: backward keeps only mean and 1/std, not z − mean.
        return F.batch_norm(z, None, None, training=True, eps=eps)
    n = z.shape[0] * world_size()
    mean = all_reduce_sum(z.sum(dim=0)) / n  # (d,)
    var = all_reduce_sum((z - mean).pow(2).sum(dim=0)) / n
    return (z - mean) / torch.sqrt(var + eps)


def cross_correlation(z_a: Tensor, z_b: Tensor, *, distributed: bool = False) -> Tensor:
    """c = standardize(z_a)ᵀ standardize(z_b) / n, the (d, d) cross-correlation of the views.

    With ``distributed`` (each rank passing its shard), c of the global batch of N rows:
    Σ_ranks ẑ_a,rᵀ ẑ_b,r / N, summed by an autograd-aware all-reduce.
    """
    check_pair(z_a, z_b)
    if not distributed:
        return standardize(z_a).T @ standardize(z_b) / z_a.shape[0]
    n = z_a.shape[0] * world_size()
    local = standardize(z_a, distributed=True).T @ standardize(z_b, distributed=True)
    return all_reduce_sum(local) / n


def on_diagonal_loss(c: Tensor) -> Tensor:
    """Σ_i (1 − c_ii)²: each feature should agree perfectly across the two views."""
    return (1 - torch.diagonal(c)).pow(2).sum()


def off_diagonal_loss(c: Tensor) -> Tensor:
    """Σ_{i≠j} c_ij²: different features should be uncorrelated (redundancy reduction)."""
    return off_diagonal(c).pow(2).sum()


def terms_from_gram_matrices(z_a: Tensor, z_b: Tensor) -> dict[str, Tensor]:
    """Both terms without the (d, d) matrix c, for a batch much narrower than the embedding.

    With A = ẑ_a, B = ẑ_b: c_ii = Σ_k A_ki B_ki / n, and ‖c‖²_F = ‖AᵀB‖²_F / n² =
    ⟨AAᵀ, BBᵀ⟩_F / n², so Σ_{i≠j} c_ij² = ‖c‖²_F − Σ_i c_ii² needs two (n, n) Gram matrices
    instead of one (d, d) product: d/(2n) times less arithmetic, and no (d, d) matrix to keep
    for backward. The subtraction cancels most of ‖c‖²_F when the views nearly agree, so both
    products are taken in float64, which costs about twice as much: the road pays from d ≈ 4n
    (``benchmarks/loss_roads.py`` measures it), and ``BarlowTwinsLoss`` takes it from there.
    """
    a, b = standardize(z_a), standardize(z_b)
    a64, b64 = a.double(), b.double()
    n = a.shape[0]
    diagonal = (a64 * b64).sum(dim=0) / n  # c_ii
    squared_norm = ((a64 @ a64.T) * (b64 @ b64.T)).sum() / n**2  # ‖c‖²_F
    return {
        "on_diagonal": (1 - diagonal).pow(2).sum().to(a.dtype),
        "off_diagonal": (squared_norm - diagonal.pow(2).sum()).to(a.dtype),
    }


class BarlowTwinsLoss(SSLLoss):
    """Barlow Twins loss (Zbontar et al., ICML 2021): on_diagonal + λ·off_diagonal.

    λ = 0.0051 is the official code's default; the paper states 5·10⁻³ (lightly and solo-learn
    use that). Notebook 03 derives why λ is of order 1/d.
    """

    title = "Barlow Twins"
    knobs = {
        "lambda_": Knob("λ", 0, 0.05, 0.0001, "weight of the off-diagonal term"),
    }

    def __init__(self, lambda_: float = 0.0051, gather_distributed: bool = False) -> None:
        super().__init__()
        self.lambda_ = check_number("lambda_", lambda_)
        self.gather_distributed = gather_distributed

    def terms(self, z_a: Tensor, z_b: Tensor) -> dict[str, Tensor]:
        check_pair(z_a, z_b)
        n, d = z_a.shape
        distributed = self._distributed()
        if 4 * n > d or distributed:  # the (d, d) road is the faster one below d = 4n
            c = cross_correlation(z_a, z_b, distributed=distributed)
            return {"on_diagonal": on_diagonal_loss(c), "off_diagonal": off_diagonal_loss(c)}
        return terms_from_gram_matrices(z_a, z_b)

    @property
    def weights(self) -> dict[str, float]:
        return {"on_diagonal": 1.0, "off_diagonal": self.lambda_}
