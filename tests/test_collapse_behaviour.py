"""What the losses are for: VICReg keeps a tiny encoder's embeddings spread; invariance alone
collapses them. Each kind of collapse is checked with the diagnostic that can see it."""

from __future__ import annotations

import pytest
import torch

from sslteach.diagnostics import effective_rank, embedding_std, l2_normalized_std
from sslteach.losses import VICRegLoss

D_IN, D = 16, 8


def train_linear_encoder(loss: VICRegLoss, *, bias: bool = True, steps: int = 300) -> torch.Tensor:
    """Train Linear(16 → 8) on two noisy views of Gaussian data; return held-out embeddings."""
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(D_IN, D_IN, generator=g) / D_IN**0.5
    torch.manual_seed(0)
    encoder = torch.nn.Linear(D_IN, D, bias=bias)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-2)
    for _ in range(steps):
        x = torch.randn(128, D_IN, generator=g) @ mixing
        view_a = x + 0.1 * torch.randn(x.shape, generator=g)
        view_b = x + 0.1 * torch.randn(x.shape, generator=g)
        value = loss(encoder(view_a), encoder(view_b))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    with torch.no_grad():
        return encoder(torch.randn(1024, D_IN, generator=g) @ mixing)


@pytest.fixture(scope="module")
def spread():
    return train_linear_encoder(VICRegLoss())


@pytest.fixture(scope="module")
def collapsed_to_a_point():
    return train_linear_encoder(VICRegLoss(mu=0.0, nu=0.0))


@pytest.fixture(scope="module")
def collapsed_to_the_origin():
    return train_linear_encoder(VICRegLoss(mu=0.0, nu=0.0), bias=False)


def test_vicreg_keeps_every_dimension_near_gamma(spread):
    std = spread.std(dim=0)
    assert std.min() > 0.8 and std.max() < 1.2, std


def test_vicreg_embeddings_use_all_dimensions(spread):
    assert effective_rank(spread) > 0.9 * D
    assert l2_normalized_std(spread) > 0.8 / D**0.5  # isotropic would be 1/√d


def test_invariance_alone_collapses_every_encoder(
    spread, collapsed_to_a_point, collapsed_to_the_origin
):
    # The raw (scale-dependent) std falls far below VICReg's γ = 1 in both cases.
    for collapsed in (collapsed_to_a_point, collapsed_to_the_origin):
        assert embedding_std(collapsed) < 1e-3 * embedding_std(spread)


def test_collapse_to_a_point_is_seen_by_the_direction_statistics(collapsed_to_a_point):
    # With a bias every embedding becomes the bias vector: one direction, one rank.
    assert l2_normalized_std(collapsed_to_a_point) < 1e-3
    assert effective_rank(collapsed_to_a_point) < 1.1


def test_scale_invariant_diagnostics_miss_collapse_to_the_origin(collapsed_to_the_origin):
    # Without a bias the embeddings shrink toward 0 but keep their spread of directions.
    # RankMe and the l2-normalised std divide the scale out, so they report a healthy
    # embedding: only embedding_std (previous test) detects this complete collapse.
    assert effective_rank(collapsed_to_the_origin) > 0.5 * D
    assert l2_normalized_std(collapsed_to_the_origin) > 0.5 / D**0.5
