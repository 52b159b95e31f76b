"""Collapse diagnostics: numbers that tell whether a batch of embeddings z (n × d) collapsed.

Two kinds of collapse (Jing et al., ICLR 2022; Hua et al., ICCV 2021):

- complete collapse: every input maps to (nearly) the same point, so the embeddings carry no
  information at all;
- dimensional collapse: the embeddings vary, but only inside a subspace of dimension r < d,
  so d − r dimensions are wasted (or are copies of each other).

Which diagnostic sees which, and how each reacts to rescaling z → c·z:

    diagnostic            scale-invariant   detects
    effective_rank        yes               dimensional (≈ r); complete collapse gives ≈ 1
    spectrum              yes               dimensional (d − r values ≈ 0); complete: all ≈ 0
    l2_normalized_std     yes               complete (→ 0); ≈ 1/√d when isotropic
    correlation_matrix,
    mean_abs_correlation  yes               redundant dimensions (|ρ| → 1)
    embedding_std         no                complete, in absolute units: the only one that sees
                                            z shrink towards zero, since the normalised
                                            diagnostics look at the direction of z alone

Every function validates z, detaches it and computes in float64 on z's device; tensors are
returned as CPU float64 tensors, scalars as Python floats. For finite z none of them returns
NaN, even for zero rows, constant dimensions or an all-zero batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from sslteach._checks import check_matrix

RANKME_EPS = 1e-7


def _float64(z: Tensor) -> Tensor:
    """z validated, detached and in float64 (on CPU for Apple's MPS, which has no float64)."""
    check_matrix(z, "z")
    device = "cpu" if z.device.type == "mps" else z.device
    return z.detach().to(device=device, dtype=torch.float64)


def effective_rank(z: Tensor) -> float:
    """RankMe (Garrido, Balestriero, Najman, LeCun, ICML 2023), the smooth rank of z:

        σ = singular values of z (raw, not centred),  p_k = σ_k / Σ_j σ_j + 1e-7,
        rank = exp(−Σ_k p_k log p_k)

    It lies between ≈ 1 (one direction, e.g. constant rows) and min(n, d) (all singular values
    equal). An all-zero z has no direction at all and Σσ = 0 makes p undefined: it returns 0.0,
    the rank of the zero matrix, rather than NaN.
    """
    sigma = torch.linalg.svdvals(_float64(z))  # (min(n, d),)
    total = sigma.sum()
    if total == 0:
        return 0.0
    p = sigma / total + RANKME_EPS
    return math.exp(-(p * p.log()).sum().item())


def _row_normalized_covariance(z: Tensor) -> Tensor:
    z = F.normalize(_float64(z), dim=1)  # F.normalize's eps keeps all-zero rows at zero, not NaN
    z = z - z.mean(dim=0)
    return z.T @ z / (z.shape[0] - 1)  # (d, d)


def spectrum(z: Tensor) -> Tensor:
    """Embedding spectrum (Jing, Vincent, LeCun, Tian, ICLR 2022), a (d,) CPU float64 tensor.

    ẑ_i = z_i / ||z_i||,  C = (Ẑ − mean)ᵀ(Ẑ − mean) / (n − 1),  σ = singular values of C,
    sorted descending. Plot log σ_k against k: a dimensionally collapsed embedding of rank r
    shows a cliff after k = r, where the remaining d − r values drop to ≈ 0.
    """
    return torch.linalg.svdvals(_row_normalized_covariance(z)).cpu()  # svdvals sorts descending


def l2_normalized_std(z: Tensor) -> float:
    """SimSiam's collapse monitor (Chen & He, CVPR 2021): 1/d Σ_j std_i(ẑ_ij), ẑ_i = z_i/||z_i||.

    0 means complete collapse (every ẑ_i is the same unit vector); ≈ 1/√d means the unit
    vectors spread isotropically over the sphere. Uses the unbiased std, /(n − 1).
    """
    return F.normalize(_float64(z), dim=1).std(dim=0).mean().item()


def correlation_matrix(z: Tensor) -> Tensor:
    """Pearson correlation ρ_ij = C_ij / (s_i s_j), a (d, d) CPU float64 tensor.

    A constant dimension (s_j = 0) has no defined correlation; it gets ρ_jj = 1 and ρ_ij = 0
    (it shares no information with the others), which keeps the matrix a valid correlation
    matrix and stops mean_abs_correlation from counting it as redundant.
    """
    z = _float64(z)
    n = z.shape[0]
    # Centring a constant column in floating point leaves round-off, not zeros; treat an std
    # below that round-off (≈ n·ε·max|z_j|) as exactly zero so it cannot fake a correlation.
    round_off = n * torch.finfo(torch.float64).eps * z.abs().amax(dim=0)  # (d,)
    z = z - z.mean(dim=0)
    std = z.std(dim=0)  # (d,)
    constant = std <= round_off
    z = torch.where(constant, 0.0, z / torch.where(constant, 1.0, std))  # no 0/0 anywhere
    corr = z.T @ z / (n - 1)
    return corr.fill_diagonal_(1.0).cpu()


def mean_abs_correlation(z: Tensor) -> float:
    """1/(d(d − 1)) Σ_{i≠j} |ρ_ij|: 0 for decorrelated dimensions, → 1 when they are redundant.

    Hua et al., "On Feature Decorrelation in Self-Supervised Learning", ICCV 2021. d = 1 has no
    pairs and gives 0.0.
    """
    corr = correlation_matrix(z)
    d = corr.shape[0]
    if d == 1:
        return 0.0
    off_diagonal = ~torch.eye(d, dtype=torch.bool)
    return corr[off_diagonal].abs().mean().item()


def embedding_std(z: Tensor) -> float:
    """1/d Σ_j std_i(z_ij), the raw per-dimension std (unbiased), averaged over dimensions.

    The only diagnostic here that is not scale-invariant (z → c·z multiplies it by |c|), which
    is exactly why it is needed: embeddings shrinking towards zero (z → c·z with c → 0) look
    unchanged to every normalised diagnostic, but drive this towards 0.
    """
    return _float64(z).std(dim=0).mean().item()
