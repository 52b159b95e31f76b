"""Whitening: linear maps that give a batch of embeddings identity covariance.

For a batch Z (n × d) with mean μ and covariance Σ = (Z − μ)ᵀ(Z − μ) / (n − 1), a whitening
matrix W (d × d) makes the covariance of (Z − μ)Wᵀ the identity, i.e. W Σ Wᵀ = I.
W is unique only up to a rotation (if W whitens, so does RW for any orthogonal R);
three choices are standard. With Σ = U Λ Uᵀ (eigendecomposition) and Σ = L Lᵀ (Cholesky):

    PCA       W = Λ^{-1/2} Uᵀ          rotate onto the principal axes, then rescale
    ZCA       W = U Λ^{-1/2} Uᵀ        = Σ^{-1/2}; the whitened data stays closest to Z
    Cholesky  W = L⁻¹                  lower-triangular; used by W-MSE

Like W-MSE (Ermolov, Siarohin, Sangineto, Sebe, "Whitening for Self-Supervised Representation
Learning", ICML 2021), Σ may be shrunk towards the identity before whitening,

    Σ_eps = (1 − eps)·Σ + eps·I,   0 ≤ eps < 1,

which keeps W finite when the batch is too small to estimate Σ. Gradients flow through every
step, because W-MSE and Shuffled-DBN backpropagate through the whitening.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sslteach._checks import check_matrix, check_number, check_positive_int, upcast

METHODS = ("pca", "zca", "cholesky")


def _covariance(zc: Tensor) -> Tensor:
    """Σ = Zcᵀ Zc / (n − 1) of already-centred rows; works on (…, n, d) stacks."""
    return zc.transpose(-2, -1) @ zc / (zc.shape[-2] - 1)


def _shrink(sigma: Tensor, eps: float) -> Tensor:
    """Σ_eps = (1 − eps)·Σ + eps·I (W-MSE's shrinkage)."""
    eye = torch.eye(sigma.shape[-1], dtype=sigma.dtype, device=sigma.device)
    return (1 - eps) * sigma + eps * eye


def _singular_error(n: int, d: int, eps: float, groups: int = 1) -> ValueError:
    where = f" (d is the size of each of the {groups} groups)" if groups > 1 else ""
    return ValueError(
        f"covariance is singular; increase eps (got eps={eps}) or the batch: whitening "
        f"d={d} dimensions{where} from n={n} samples needs n to comfortably exceed d "
        f"(say n ≥ 2·d = {2 * d}), and no dimension may be constant or a copy of others"
    )


def _check_conditioning(spread: Tensor, n: int, eps: float, groups: int = 1) -> None:
    """Raise unless the smallest entry of ``spread`` (eigenvalues, variances or unexplained
    variance shares) exceeds d·(machine epsilon) times the largest, numpy's matrix_rank rule."""
    d = spread.shape[-1]
    tolerance = d * torch.finfo(spread.dtype).eps
    if not bool((spread.amin(dim=-1) > tolerance * spread.amax(dim=-1)).all()):
        raise _singular_error(n, d, eps, groups)


def _eigh_descending(sigma: Tensor, n: int, eps: float, groups: int = 1) -> tuple[Tensor, Tensor]:
    """Σ = U diag(λ) Uᵀ with λ sorted descending (column k of U is the k-th principal axis)."""
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(-1), eigenvectors.flip(-1)
    _check_conditioning(eigenvalues, n, eps, groups)
    return eigenvalues, eigenvectors


def _zca(sigma: Tensor, n: int, eps: float, groups: int = 1) -> Tensor:
    """W = U Λ^{-1/2} Uᵀ = Σ^{-1/2}, for one (d, d) matrix or a (G, k, k) stack."""
    eigenvalues, u = _eigh_descending(sigma, n, eps, groups)
    return u @ torch.diag_embed(eigenvalues.rsqrt()) @ u.transpose(-2, -1)


def _pca(sigma: Tensor, n: int, eps: float) -> Tensor:
    """W = Λ^{-1/2} Uᵀ, rows ordered by eigenvalue descending."""
    eigenvalues, u = _eigh_descending(sigma, n, eps)
    # An eigenvector is defined only up to sign; fixing it (largest entry positive) makes the
    # result the same on every device and keeps W a continuous function of z, so that
    # finite-difference gradient checks agree with autograd.
    largest = u.abs().argmax(dim=0, keepdim=True)  # (1, d)
    u = u * torch.gather(u, 0, largest).sign()
    return torch.diag(eigenvalues.rsqrt()) @ u.T


def _cholesky(sigma: Tensor, n: int, eps: float) -> Tensor:
    """W = L⁻¹ with Σ = L Lᵀ, found by solving L W = I rather than forming an inverse."""
    lower, info = torch.linalg.cholesky_ex(sigma)
    if info.item() != 0:
        raise _singular_error(n, sigma.shape[-1], eps)
    # Round-off can let Cholesky "succeed" on a singular Σ, so test both ways to be singular:
    # a dimension with almost no variance (Σ_kk ≈ 0), or one the earlier dimensions explain
    # (L_kk² / Σ_kk = 1 − R²_k ≈ 0, the share of its variance that dimensions 1…k−1 miss).
    variances = sigma.diagonal()
    _check_conditioning(variances, n, eps)
    _check_conditioning(lower.diagonal().pow(2) / variances, n, eps)
    eye = torch.eye(sigma.shape[-1], dtype=sigma.dtype, device=sigma.device)
    return torch.linalg.solve_triangular(lower, eye, upper=False)


def _whitening_matrix(z: Tensor, method: str, eps: float) -> tuple[Tensor, Tensor]:
    """(W, μ) in the compute dtype (float32 or float64), after validating the arguments."""
    check_matrix(z, "z")
    eps = check_number("eps", eps, high=1.0, high_inclusive=False)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    z = upcast(z)
    n = z.shape[0]
    mean = z.mean(dim=0)  # (d,)
    sigma = _shrink(_covariance(z - mean), eps)  # (d, d)
    if method == "pca":
        return _pca(sigma, n, eps), mean
    if method == "zca":
        return _zca(sigma, n, eps), mean
    return _cholesky(sigma, n, eps), mean


def whitening_matrix(z: Tensor, method: str = "zca", eps: float = 0.0) -> tuple[Tensor, Tensor]:
    """Return (W, μ) such that (z − μ) Wᵀ has identity covariance.

    Σ_eps = (1 − eps)·Σ + eps·I with Σ the unbiased batch covariance of z (n, d), then
    "pca": W = Λ^{-1/2} Uᵀ (row 0 is the top principal direction; each row's sign is fixed so
    that its largest entry is positive), "zca": W = U Λ^{-1/2} Uᵀ, "cholesky": W = L⁻¹.
    W has shape (d, d), μ shape (d,), both in z's dtype; computed in at least float32.
    Raises ValueError if Σ_eps is singular (n too small, or a constant/duplicated dimension).
    """
    w, mean = _whitening_matrix(z, method, eps)
    return w.to(z.dtype), mean.to(z.dtype)


def whiten(z: Tensor, method: str = "zca", eps: float = 0.0) -> Tensor:
    """The whitened batch (z − μ) Wᵀ, with (W, μ) from :func:`whitening_matrix`."""
    w, mean = _whitening_matrix(z, method, eps)
    return ((upcast(z) - mean) @ w.T).to(z.dtype)


class ShuffledDBN(nn.Module):
    """Shuffled decorrelated batch normalisation (Hua et al., ICCV 2021).

    Hua, Wang, Xue, Ren, Wang, Zhao, "On Feature Decorrelation in Self-Supervised Learning":
    in training, draw a random permutation π of the d dimensions (a new one every call, from
    torch's global RNG on z's device), split the permuted dimensions into G groups of k = d/G,
    ZCA-whiten each group with its own batch statistics, and undo the permutation:

        z_π = z[:, π],   ẑ_g = (z_π,g − μ_g) W_gᵀ,   W_g = U_g Λ_g^{-1/2} U_gᵀ  (from Σ_eps,g),
        out[:, π] = [ẑ_1, …, ẑ_G]

    Whitening small groups needs far fewer samples than whitening all d dimensions (n ≫ k
    instead of n ≫ d); reshuffling makes every pair of dimensions share a group now and then,
    so over training all of them get decorrelated. In eval mode the dimensions are not
    shuffled (groups are the contiguous blocks), so the output is deterministic.

    It always uses batch statistics, also in eval mode, with no running averages: it sits on
    the embedding, which downstream tasks discard in favour of the backbone's representation.

    eps is W-MSE's shrinkage Σ_eps = (1 − eps)·Σ + eps·I. The default 1e-3 keeps every
    eigenvalue ≥ 1e-3, so no direction is amplified more than ≈ 32× even when a batch barely
    spans a group, while moving eigenvalues of order 1 by only ≈ 0.1 % (λ → λ + eps·(1 − λ)).
    Keep n comfortably above k = d/G all the same. With num_groups=1 the module
    equals whiten(z, "zca", eps), since ZCA commutes with permuting the dimensions.
    """

    def __init__(self, num_groups: int = 1, eps: float = 1e-3) -> None:
        super().__init__()
        self.num_groups = check_positive_int("num_groups", num_groups)
        self.eps = check_number("eps", eps, high=1.0, high_inclusive=False)

    def forward(self, z: Tensor) -> Tensor:
        check_matrix(z, "z")
        n, d = z.shape
        groups = self.num_groups
        if d % groups != 0:
            raise ValueError(
                f"num_groups={groups} must divide the embedding dimension d={d}; "
                f"choose num_groups among the divisors of {d}"
            )
        x = upcast(z)
        if self.training:
            perm = torch.randperm(d, device=z.device)
            x = x[:, perm]
        x = x.reshape(n, groups, d // groups).transpose(0, 1)  # (G, n, k)
        x = x - x.mean(dim=1, keepdim=True)
        w = _zca(_shrink(_covariance(x), self.eps), n, self.eps, groups)  # (G, k, k)
        x = (x @ w.transpose(-2, -1)).transpose(0, 1).reshape(n, d)  # (n, d), permuted order
        if self.training:
            x = x[:, torch.argsort(perm)]
        return x.to(z.dtype)

    def extra_repr(self) -> str:
        return f"num_groups={self.num_groups}, eps={self.eps}"
