"""Joint-embedding losses, one per file; each ``forward(z_a, z_b)`` returns a scalar and
``terms(z_a, z_b)`` the unweighted pieces."""

from __future__ import annotations

from sslteach.losses.barlow_twins import (
    BarlowTwinsLoss,
    cross_correlation,
    off_diagonal_loss,
    on_diagonal_loss,
    standardize,
)
from sslteach.losses.base import SSLLoss, off_diagonal
from sslteach.losses.tico import (
    RunningCovariance,
    TiCoLoss,
    cosine_invariance_loss,
    covariance_contrast_loss,
)
from sslteach.losses.vicreg import (
    VICRegLoss,
    covariance_loss,
    covariance_matrix,
    invariance_loss,
    two_view_variance_loss,
    variance_loss,
)
from sslteach.losses.vicreg_tico import VICRegTiCoLoss
from sslteach.losses.wmse import WMSELoss, normalized_mse_loss

LOSSES: dict[str, type[SSLLoss]] = {
    "vicreg": VICRegLoss,
    "barlow-twins": BarlowTwinsLoss,
    "tico": TiCoLoss,
    "vicreg-tico": VICRegTiCoLoss,
    "wmse": WMSELoss,
}


def build_loss(
    method: str, *, gather_distributed: bool = False, **hyperparameters: float
) -> SSLLoss:
    """The loss for ``method`` (a key of ``LOSSES``) with the given hyperparameters;
    ``gather_distributed`` for training in several processes (see ``SSLLoss``)."""
    if method not in LOSSES:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[method](gather_distributed=gather_distributed, **hyperparameters)


__all__ = [
    "LOSSES",
    "BarlowTwinsLoss",
    "RunningCovariance",
    "SSLLoss",
    "TiCoLoss",
    "VICRegLoss",
    "VICRegTiCoLoss",
    "WMSELoss",
    "build_loss",
    "cosine_invariance_loss",
    "covariance_contrast_loss",
    "covariance_loss",
    "covariance_matrix",
    "cross_correlation",
    "invariance_loss",
    "normalized_mse_loss",
    "off_diagonal",
    "off_diagonal_loss",
    "on_diagonal_loss",
    "standardize",
    "two_view_variance_loss",
    "variance_loss",
]
