"""SimCLR's NT-Xent: a contrastive loss, with explicit negatives.

Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020. The n images of a batch give 2n L2-normalised embeddings; for
each anchor i its *positive* j(i) is the other view of the same image, and its *negatives* are
the other 2n − 2 embeddings:

    s_ik = ⟨ẑ_i, ẑ_k⟩ / τ
    ℓ_i  = −log  exp(s_i,j(i)) / Σ_{k≠i} exp(s_ik)
    L    = 1/(2n) Σ_i ℓ_i

a softmax cross-entropy that picks the positive out of the batch (a form of InfoNCE). τ = 0.5
is lightly's default; solo-learn's CIFAR-10 recipe uses 0.2. The non-contrastive losses of this
package have no negatives: they keep the embeddings apart with batch statistics instead.

Several processes (``gather_distributed=True``): the embeddings of all ranks are gathered
(autograd-aware), so every anchor is contrasted with the whole global batch and the loss equals
the single-process loss, value and gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sslteach._checks import check_number, check_pair, upcast
from sslteach.distributed import gather
from sslteach.losses.base import Knob, SSLLoss


def nt_xent_loss(z_a: Tensor, z_b: Tensor, temperature: float = 0.5) -> Tensor:
    """1/(2n) Σ_i −log exp(s_i,j(i)) / Σ_{k≠i} exp(s_ik), with s = ẑẑᵀ/τ over both views."""
    check_pair(z_a, z_b)
    n = z_a.shape[0]
    z = F.normalize(torch.cat([upcast(z_a), upcast(z_b)]), dim=1)  # (2n, d)
    logits = z @ z.T / temperature  # (2n, 2n)
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_pairs, float("-inf"))  # an anchor is not its own negative
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)  # j(i)
    return F.cross_entropy(logits, positives)


class SimCLRLoss(SSLLoss):
    """NT-Xent (Chen et al., ICML 2020) with temperature τ = 0.5; notebook 08 derives it."""

    title = "SimCLR"
    knobs = {"temperature": Knob("τ", 0.05, 2, 0.05, "softmax temperature of the similarities")}

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = False) -> None:
        super().__init__()
        self.temperature = check_number("temperature", temperature, low_inclusive=False)
        self.gather_distributed = gather_distributed

    def terms(self, z_a: Tensor, z_b: Tensor) -> dict[str, Tensor]:
        check_pair(z_a, z_b)
        if self._distributed():
            z_a, z_b = gather(z_a), gather(z_b)  # (K·n, d): negatives from every rank
        return {"nt_xent": nt_xent_loss(z_a, z_b, self.temperature)}

    @property
    def weights(self) -> dict[str, float]:
        return {"nt_xent": 1.0}
