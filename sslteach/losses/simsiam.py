"""SimSiam and BYOL: asymmetric siamese networks, kept from collapse by a predictor and a
stop-gradient (SimSiam) or a momentum target (BYOL), with no negatives and no batch statistics
in the loss.

Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021; Grill et al.,
"Bootstrap Your Own Latent", NeurIPS 2020. A *predictor* q (a small MLP, trained) maps each
view's embedding z to a prediction p = q(z) of the other view's *target* t:

    D(p, t) = −mean_i cos(p_i, t_i)
    L = ½ D(p_a, sg(t_b)) + ½ D(p_b, sg(t_a))

sg = stop-gradient: the targets are constants for the gradient. In SimSiam t = z, the online
network's own embedding; without the stop-gradient it collapses completely (the paper's central
ablation, ``stop_gradient=False``). In BYOL t comes from a *momentum (EMA) target network*,
ξ ← τξ + (1 − τ)θ (``TrainConfig.momentum``), which gets no gradient at all. BYOL writes its
loss as 2 − 2·cos = 2 + 2·D: the same minimiser, with gradients twice as large.

SimSiam's projector ends in a BatchNorm without affine parameters (``embedding_norm=
"batchnorm"``); BYOL's does not. Both predictors are Linear → BN → ReLU → Linear; SimSiam's
hidden layer is a bottleneck (d/4), BYOL's is wide.

Several processes (``gather_distributed=True``): D is a per-sample mean, so each rank computes
it on its shard and the value is averaged over ranks, as VICReg's invariance is.
"""

from __future__ import annotations

from dataclasses import replace

import torch.nn.functional as F
from torch import Tensor, nn

from sslteach._checks import check_pair, check_positive_int, upcast
from sslteach.distributed import all_reduce_mean
from sslteach.losses.base import Knob, SSLLoss
from sslteach.models import Projector


def negative_cosine_similarity(p: Tensor, t: Tensor) -> Tensor:
    """D(p, t) = −mean_i cos(p_i, t_i); −1 when every prediction points along its target."""
    check_pair(p, t, min_rows=1)
    return -(F.normalize(upcast(p), dim=1) * F.normalize(upcast(t), dim=1)).sum(dim=1).mean()


class SimSiamLoss(SSLLoss):
    """SimSiam (Chen & He, CVPR 2021): ½ D(p_a, sg(z_b)) + ½ D(p_b, sg(z_a)).

    ``terms(p_a, p_b, t_a, t_b)`` takes the predictions of both views and their targets.
    Notebook 08 removes the stop-gradient and watches the collapse.
    """

    title = "SimSiam"
    knobs = {
        "predictor_hidden": Knob("hidden", 16, 1024, 16, "width of the predictor's hidden layer"),
        "stop_gradient": Knob("stop-gradient", help="treat the targets as constants"),
    }
    train_defaults = {"all": {"embedding_norm": "batchnorm"}}

    def __init__(
        self,
        predictor_hidden: int = 128,
        stop_gradient: bool = True,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        self.predictor_hidden = check_positive_int("predictor_hidden", predictor_hidden)
        if not isinstance(stop_gradient, bool):
            raise TypeError(f"stop_gradient must be True or False, got {stop_gradient!r}")
        self.stop_gradient = stop_gradient
        self.gather_distributed = gather_distributed

    def build_predictor(self, dim: int) -> nn.Module:
        """q: Linear(d, h, no bias) → BatchNorm → ReLU → Linear(h, d), h = predictor_hidden."""
        return Projector(dim, f"{self.predictor_hidden}-{dim}")

    def terms(self, p_a: Tensor, p_b: Tensor, t_a: Tensor, t_b: Tensor) -> dict[str, Tensor]:
        check_pair(p_a, p_b, min_rows=1)
        check_pair(t_a, t_b, min_rows=1)
        if self.stop_gradient:
            t_a, t_b = t_a.detach(), t_b.detach()
        loss = (negative_cosine_similarity(p_a, t_b) + negative_cosine_similarity(p_b, t_a)) / 2
        if self._distributed():
            loss = all_reduce_mean(loss)
        return {"negative_cosine": loss}

    @property
    def weights(self) -> dict[str, float]:
        return {"negative_cosine": 1.0}


class BYOLLoss(SimSiamLoss):
    """BYOL (Grill et al., NeurIPS 2020): SimSiam's loss with targets from a momentum (EMA)
    target network, τ from 0.99 towards 1 on a cosine schedule (from 0.8 on the short shapes
    runs); a wider predictor."""

    title = "BYOL"
    knobs = {
        **SimSiamLoss.knobs,
        "predictor_hidden": replace(
            SimSiamLoss.knobs["predictor_hidden"], low=64, high=4096, step=64
        ),
    }
    # Measured, 8 epochs on shapes (624 steps), linear probe: τ_base 0.99 → 0.72 (seed 0),
    # 0.9 → 0.69-0.83, 0.8 → 0.81-0.91 (seeds 0-2). A short run needs a target that keeps up.
    train_defaults = {"all": {"momentum": 0.99}, "shapes": {"momentum": 0.8}}

    def __init__(
        self,
        predictor_hidden: int = 1024,
        stop_gradient: bool = True,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(predictor_hidden, stop_gradient, gather_distributed)
