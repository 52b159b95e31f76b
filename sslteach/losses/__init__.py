"""Joint-embedding losses, one per file; each ``forward(z_a, z_b)`` returns a scalar and
``terms(z_a, z_b)`` the unweighted pieces.

Adding a method is one new file here and one entry in ``LOSSES``; the command line
(``--method``, its flags, ``sweep --param``), the config checks, metrics.json and the
notebooks' ``LossExplorer`` all read the constructor's signature. A complete example, a cosine
invariance with a variance hinge on the cosine similarity's own scale::

    import torch.nn.functional as F
    from sslteach.losses import LOSSES, Knob, SSLLoss, variance_loss

    class CosineVarianceLoss(SSLLoss):
        knobs = {"alpha": Knob("α", 0, 10, 0.5, "weight of the variance hinge")}

        def __init__(self, alpha: float = 1.0, gather_distributed: bool = False) -> None:
            super().__init__()
            self.alpha = alpha

        def terms(self, z_a, z_b):
            cosine = F.cosine_similarity(z_a, z_b).mean()
            return {"invariance": 1 - cosine, "variance": variance_loss(z_a, gamma=0.1)}

        @property
        def weights(self):
            return {"invariance": 1.0, "variance": self.alpha}

    LOSSES["cosine-variance"] = CosineVarianceLoss

after which ``sslteach train --method cosine-variance --alpha 2`` trains it (from a script that
registered it: ``sslteach.cli.main([...])``) and ``LossExplorer("cosine-variance")`` shows an α
slider. A method with a trainable head (SimSiam's predictor) also defines ``build_predictor``.
"""

from __future__ import annotations

from sslteach.losses.barlow_twins import (
    BarlowTwinsLoss,
    cross_correlation,
    off_diagonal_loss,
    on_diagonal_loss,
    standardize,
    terms_from_gram_matrices,
)
from sslteach.losses.base import Hyperparameter, Knob, SSLLoss, hyperparameters_of, off_diagonal
from sslteach.losses.simclr import SimCLRLoss, nt_xent_loss
from sslteach.losses.simsiam import BYOLLoss, SimSiamLoss, negative_cosine_similarity
from sslteach.losses.tico import (
    RunningCovariance,
    TiCoLoss,
    cosine_invariance_loss,
    covariance_contrast_loss,
)
from sslteach.losses.vicreg import (
    VICRegLoss,
    covariance_loss,
    covariance_loss_from_gram,
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
    "simclr": SimCLRLoss,
    "simsiam": SimSiamLoss,
    "byol": BYOLLoss,
}


def loss_class(method: str) -> type[SSLLoss]:
    """The loss class registered as ``method`` in ``LOSSES``; a clear error for other names."""
    if method not in LOSSES:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[method]


def method_title(method: str) -> str:
    """The method's name in tables and figures: its loss's ``title``, else the key itself."""
    return loss_class(method).title or method


def method_hyperparameters(method: str) -> dict[str, Hyperparameter]:
    """The hyperparameters of ``method``'s loss, read from its constructor's signature."""
    return hyperparameters_of(loss_class(method))


def build_loss(
    method: str, *, gather_distributed: bool = False, **hyperparameters: float
) -> SSLLoss:
    """The loss for ``method`` (a key of ``LOSSES``) with the given hyperparameters;
    ``gather_distributed`` for training in several processes (see ``SSLLoss``)."""
    cls = loss_class(method)
    accepted = hyperparameters_of(cls)
    unknown = [name for name in hyperparameters if name not in accepted]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)} does not apply to method {method} "
            f"(it takes {', '.join(accepted) or 'no hyperparameters'})"
        )
    return cls(gather_distributed=gather_distributed, **hyperparameters)


__all__ = [
    "LOSSES",
    "BYOLLoss",
    "BarlowTwinsLoss",
    "Hyperparameter",
    "Knob",
    "RunningCovariance",
    "SSLLoss",
    "SimCLRLoss",
    "SimSiamLoss",
    "TiCoLoss",
    "VICRegLoss",
    "VICRegTiCoLoss",
    "WMSELoss",
    "build_loss",
    "cosine_invariance_loss",
    "covariance_contrast_loss",
    "covariance_loss",
    "covariance_loss_from_gram",
    "covariance_matrix",
    "cross_correlation",
    "hyperparameters_of",
    "invariance_loss",
    "loss_class",
    "method_hyperparameters",
    "method_title",
    "negative_cosine_similarity",
    "normalized_mse_loss",
    "nt_xent_loss",
    "off_diagonal",
    "off_diagonal_loss",
    "on_diagonal_loss",
    "standardize",
    "terms_from_gram_matrices",
    "two_view_variance_loss",
    "variance_loss",
]
