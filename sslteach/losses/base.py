"""What every sslteach loss shares: unweighted terms, their weights, and the weighted sum."""

from __future__ import annotations

from torch import Tensor, nn

from sslteach.distributed import is_distributed


class SSLLoss(nn.Module):
    """A joint-embedding loss  L(Z, Z') = Σ_k w_k · term_k(Z, Z').

    Subclasses implement ``terms`` (the unweighted pieces, so notebooks, logs and widgets can
    show each one) and ``weights`` (the w_k, keyed like the terms); ``forward`` is their sum.

    ``gather_distributed=True`` (a constructor argument of every loss) makes the batch
    statistics span the embeddings of all processes of a ``torchrun`` run, so that K processes
    compute the loss of the whole global batch, value and gradients (see
    ``sslteach.distributed``). It changes how the loss runs, not what it computes, so it is not
    one of the ``hyperparameters``; without a process group it does nothing.
    """

    gather_distributed: bool = False

    def _distributed(self) -> bool:
        """Whether to gather across processes now: asked for, and more than one process."""
        return self.gather_distributed and is_distributed()

    def terms(self, z_a: Tensor, z_b: Tensor) -> dict[str, Tensor]:
        """The unweighted loss terms for embeddings ``z_a``, ``z_b`` of shape (n, d)."""
        raise NotImplementedError

    @property
    def weights(self) -> dict[str, float]:
        """The weight of each term, keyed like ``terms``."""
        raise NotImplementedError

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        """Σ_k w_k · term_k: the scalar loss from terms computed by ``terms``."""
        weights = self.weights
        return sum(weights[name] * value for name, value in terms.items())

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        return self.combine(self.terms(z_a, z_b))

    def extra_repr(self) -> str:
        values = dict(self.hyperparameters())
        if self.gather_distributed:
            values["gather_distributed"] = True
        return ", ".join(f"{name}={value}" for name, value in values.items())

    def hyperparameters(self) -> dict[str, float]:
        """The loss weights and constants (the constructor arguments but ``gather_distributed``),
        for logs, checkpoints and ``TrainConfig.loss``."""
        raise NotImplementedError


def off_diagonal(m: Tensor) -> Tensor:
    """The d·(d−1) off-diagonal entries of a square (d, d) matrix, as a flat view (no copy).

    Dropping the last element of the flattened matrix and reading it as (d−1, d+1) puts every
    diagonal entry in column 0 — the trick of the official Barlow Twins code.
    """
    d = m.shape[0]
    return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()
