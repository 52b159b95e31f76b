"""Independent reference computations of the losses, written from the papers and the official
code with plain tensor maths (explicit sums, masks, BatchNorm1d, explicit inverses) so that they
share no code with ``sslteach.losses``."""

from __future__ import annotations

import torch
from torch import Tensor


def vicreg(z_a: Tensor, z_b: Tensor, lam=25.0, mu=25.0, nu=1.0, gamma=1.0, eps=1e-4):
    n, d = z_a.shape
    invariance = ((z_a - z_b) ** 2).sum() / (n * d)

    def std(z):
        centred = z - z.sum(0) / n
        return torch.sqrt((centred**2).sum(0) / (n - 1) + eps)

    def hinge(z):
        return torch.clamp(gamma - std(z), min=0).sum() / d

    def cov_term(z):
        centred = z - z.sum(0) / n
        cov = torch.einsum("ni,nj->ij", centred, centred) / (n - 1)
        mask = 1 - torch.eye(d, dtype=z.dtype)
        return (cov**2 * mask).sum() / d

    variance = 0.5 * hinge(z_a) + 0.5 * hinge(z_b)
    covariance = cov_term(z_a) + cov_term(z_b)
    terms = {"invariance": invariance, "variance": variance, "covariance": covariance}
    return lam * invariance + mu * variance + nu * covariance, terms


def barlow_twins(z_a: Tensor, z_b: Tensor, lam=0.0051):
    n, d = z_a.shape
    bn = torch.nn.BatchNorm1d(d, affine=False, dtype=z_a.dtype).train()
    c = bn(z_a).T @ bn(z_b) / n
    eye = torch.eye(d, dtype=z_a.dtype)
    on = ((c * eye).sum(1) - 1).pow(2).sum()
    off = (c**2 * (1 - eye)).sum()
    return on + lam * off, {"on_diagonal": on, "off_diagonal": off}


def unit_rows(z: Tensor) -> Tensor:
    return z / torch.sqrt((z**2).sum(1, keepdim=True))


def tico(z_a: Tensor, z_b: Tensor, past: list[Tensor], beta=0.9, rho=8.0):
    """TiCo at step k = len(past): C is the unrolled EMA of the past batches' auto-correlations
    and this batch's, all of them constants for the gradient."""
    n, _ = z_a.shape
    ha, hb = unit_rows(z_a), unit_rows(z_b)
    memory = sum(
        (1 - beta) * beta ** (len(past) - t) * (h.T @ h / h.shape[0]).detach()
        for t, h in enumerate(unit_rows(p) for p in past)
    )
    C = memory + (1 - beta) * (ha.T @ ha / n).detach()
    invariance = 1 - torch.einsum("nd,nd->n", ha, hb).mean()
    contrast = torch.einsum("nd,de,ne->n", ha, C, ha).mean()
    return (
        invariance + rho * contrast,
        {"invariance": invariance, "covariance_contrast": contrast},
        C,
    )


def vicreg_tico(z_a, z_b, past, lam=25.0, mu=25.0, rho=8.0, beta=0.9):
    _, v_terms = vicreg(z_a, z_b, lam=lam, mu=mu, nu=0.0)
    _, t_terms, C = tico(z_a, z_b, past, beta=beta, rho=rho)
    terms = {
        "invariance": v_terms["invariance"],
        "variance": v_terms["variance"],
        "covariance_contrast": t_terms["covariance_contrast"],
    }
    loss = lam * terms["invariance"] + mu * terms["variance"] + rho * terms["covariance_contrast"]
    return loss, terms, C


def cholesky_whiten(v: Tensor, eps=0.0) -> Tensor:
    m, d = v.shape
    centred = v - v.mean(0)
    sigma = centred.T @ centred / (m - 1)
    sigma = (1 - eps) * sigma + eps * torch.eye(d, dtype=v.dtype)
    W = torch.inverse(torch.linalg.cholesky(sigma))
    return centred @ W.T


def wmse(z_a: Tensor, z_b: Tensor, w_size: int, perms: list[Tensor], eps=0.0):
    """W-MSE with the sub-batch partitions given explicitly (one permutation per iteration)."""
    total = 0.0
    for perm in perms:
        w_a = torch.zeros_like(z_a)
        w_b = torch.zeros_like(z_b)
        for rows in perm.view(-1, w_size):
            w_a = w_a.index_put((rows,), cholesky_whiten(z_a[rows], eps))
            w_b = w_b.index_put((rows,), cholesky_whiten(z_b[rows], eps))
        cos = (unit_rows(w_a) * unit_rows(w_b)).sum(1)
        total = total + (2 - 2 * cos).mean()
    return total / len(perms)


def nt_xent(z_a: Tensor, z_b: Tensor, temperature=0.5):
    """SimCLR's NT-Xent written anchor by anchor: −log softmax of the positive among the 2n − 1
    other embeddings, averaged over the 2n anchors."""
    n = z_a.shape[0]
    z = torch.cat([unit_rows(z_a), unit_rows(z_b)])
    losses = []
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        logits = torch.stack([z[i] @ z[k] for k in others]) / temperature
        losses.append(torch.logsumexp(logits, 0) - z[i] @ z[positive] / temperature)
    return torch.stack(losses).mean()


def negative_cosine_pair(p_a, p_b, t_a, t_b, stop_gradient=True):
    """SimSiam/BYOL: ½ D(p_a, t_b) + ½ D(p_b, t_a) with D = −mean cos, targets detached."""
    if stop_gradient:
        t_a, t_b = t_a.detach(), t_b.detach()

    def d(p, t):
        return -(unit_rows(p) * unit_rows(t)).sum(1).mean()

    return 0.5 * d(p_a, t_b) + 0.5 * d(p_b, t_a)
