"""What every sslteach loss shares: unweighted terms, their weights, and the weighted sum."""

from __future__ import annotations

from torch import Tensor, nn


class SSLLoss(nn.Module):
    """A joint-embedding loss  L(Z, Z') = Σ_k w_k · term_k(Z, Z').

    Subclasses implement ``terms`` (the unweighted pieces, so notebooks, logs and widgets can
    show each one) and ``weights`` (the w_k, keyed like the terms); ``forward`` is their sum.
    """

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
        return ", ".join(f"{name}={value}" for name, value in self.hyperparameters().items())

    def hyperparameters(self) -> dict[str, float]:
        """The constructor arguments, for logs and checkpoints."""
        raise NotImplementedError


def off_diagonal(m: Tensor) -> Tensor:
    """The d·(d−1) off-diagonal entries of a square (d, d) matrix, as a flat view (no copy).

    Dropping the last element of the flattened matrix and reading it as (d−1, d+1) puts every
    diagonal entry in column 0 — the trick of the official Barlow Twins code.
    """
    d = m.shape[0]
    return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()
