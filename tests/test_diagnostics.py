"""Collapse diagnostics checked against numpy reimplementations and known limiting cases."""

import math

import numpy as np
import pytest
import torch

from sslteach.diagnostics import (
    correlation_matrix,
    effective_rank,
    embedding_std,
    l2_normalized_std,
    mean_abs_correlation,
    spectrum,
)

SHAPES = [(50, 4, 0), (128, 16, 1), (300, 40, 2), (20, 64, 3)]  # (n, d, seed); last: n < d


def correlated(n: int, d: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    return torch.from_numpy(z)


def low_rank(n: int, d: int, rank: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)))


def isotropic(n: int = 4096, d: int = 32) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def np_rankme(z: np.ndarray) -> float:
    sigma = np.linalg.svd(z, compute_uv=False)
    p = sigma / sigma.sum() + 1e-7
    return float(np.exp(-(p * np.log(p)).sum()))


def np_row_normalize(z: np.ndarray) -> np.ndarray:
    return z / np.linalg.norm(z, axis=1, keepdims=True)


@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
def test_diagnostics_match_numpy(n, d, seed):
    z = correlated(n, d, seed)
    x = z.numpy()
    assert effective_rank(z) == pytest.approx(np_rankme(x), rel=1e-10)
    expected_spectrum = np.linalg.svd(np.cov(np_row_normalize(x), rowvar=False), compute_uv=False)
    np.testing.assert_allclose(spectrum(z).numpy(), expected_spectrum, rtol=1e-8, atol=1e-12)
    expected_std = np_row_normalize(x).std(axis=0, ddof=1).mean()
    assert l2_normalized_std(z) == pytest.approx(expected_std, rel=1e-10)
    corr = np.corrcoef(x, rowvar=False)
    np.testing.assert_allclose(correlation_matrix(z).numpy(), corr, rtol=1e-9, atol=1e-12)
    off_diagonal = ~np.eye(d, dtype=bool)
    assert mean_abs_correlation(z) == pytest.approx(np.abs(corr[off_diagonal]).mean(), rel=1e-9)
    assert embedding_std(z) == pytest.approx(x.std(axis=0, ddof=1).mean(), rel=1e-10)


def test_effective_rank_limits():
    assert effective_rank(low_rank(256, 16, 1, 0)) == pytest.approx(1.0, abs=0.05)
    assert effective_rank(torch.ones(100, 8)) == pytest.approx(1.0, abs=0.05)  # a single point
    assert effective_rank(isotropic()) > 0.9 * 32
    assert effective_rank(torch.zeros(10, 4)) == 0.0  # zero matrix: rank 0, not NaN


@pytest.mark.parametrize("rank", [1, 3, 8])
def test_spectrum_of_low_rank_data_has_a_cliff(rank):
    d = 16
    values = spectrum(low_rank(200, d, rank, rank))
    assert values.shape == (d,) and values.dtype == torch.float64 and values.device.type == "cpu"
    assert torch.all(values[:-1] >= values[1:])
    assert torch.all(values[rank:] < 1e-12 * values[0])
    assert torch.all(values[:rank] > 1e-3 * values[0])


def test_zero_rows_do_not_give_nan():
    z = correlated(30, 5, 0)
    z[::3] = 0
    assert torch.isfinite(spectrum(z)).all()
    assert math.isfinite(l2_normalized_std(z))


def test_l2_normalized_std_limits():
    assert l2_normalized_std(isotropic()) == pytest.approx(1 / math.sqrt(32), rel=0.05)
    point = torch.tensor([[0.3, -1.0, 2.0]]).repeat(50, 1)
    assert l2_normalized_std(point) == pytest.approx(0.0, abs=1e-12)
    assert embedding_std(point) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
def test_normalised_diagnostics_are_scale_invariant_and_embedding_std_is_not(n, d, seed):
    z = correlated(n, d, seed)
    small = z * 1e-3
    assert effective_rank(small) == pytest.approx(effective_rank(z), rel=1e-9)
    assert l2_normalized_std(small) == pytest.approx(l2_normalized_std(z), rel=1e-9)
    assert mean_abs_correlation(small) == pytest.approx(mean_abs_correlation(z), rel=1e-9)
    torch.testing.assert_close(spectrum(small), spectrum(z), rtol=1e-8, atol=1e-12)
    assert embedding_std(small) == pytest.approx(1e-3 * embedding_std(z), rel=1e-12)


@pytest.mark.parametrize("fill", [0.0, 0.1, -7.3])
def test_constant_column_has_zero_correlation_and_no_nan(fill):
    z = correlated(40, 5, 1)
    z[:, 2] = fill
    corr = correlation_matrix(z)
    assert torch.isfinite(corr).all()
    assert corr[2, 2] == 1.0
    others = [0, 1, 3, 4]
    torch.testing.assert_close(corr[2, others], torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(corr[others, 2], torch.zeros(4, dtype=torch.float64))
    expected = np.corrcoef(z[:, others].numpy(), rowvar=False)
    np.testing.assert_allclose(corr[others][:, others].numpy(), expected, rtol=1e-9, atol=1e-12)
    assert math.isfinite(mean_abs_correlation(z))


def test_mean_abs_correlation_limits():
    assert mean_abs_correlation(correlated(10, 1, 0)) == 0.0
    base = correlated(100, 1, 0)
    assert mean_abs_correlation(torch.cat([base, -2 * base, base + 1], dim=1)) == pytest.approx(1.0)


def test_float32_input_is_accepted():
    z = correlated(64, 8, 4).float()
    for value in (
        effective_rank(z),
        l2_normalized_std(z),
        mean_abs_correlation(z),
        embedding_std(z),
    ):
        assert isinstance(value, float) and math.isfinite(value)
    for matrix in (spectrum(z), correlation_matrix(z)):
        assert matrix.dtype == torch.float64 and matrix.device.type == "cpu"
    assert effective_rank(z) == pytest.approx(effective_rank(z.double()), rel=1e-6)


def test_diagnostics_do_not_track_gradients():
    z = correlated(32, 4, 0).requires_grad_()
    assert not spectrum(z).requires_grad and not correlation_matrix(z).requires_grad


DIAGNOSTICS = [
    effective_rank,
    spectrum,
    l2_normalized_std,
    correlation_matrix,
    mean_abs_correlation,
    embedding_std,
]


@pytest.mark.parametrize("diagnostic", DIAGNOSTICS)
def test_bad_input_names_the_argument(diagnostic):
    with pytest.raises(ValueError, match="z must be 2-D"):
        diagnostic(torch.randn(10))
    with pytest.raises(ValueError, match="z has batch size n=1"):
        diagnostic(torch.randn(1, 4))
    with pytest.raises(TypeError, match="z must be a torch"):
        diagnostic(np.zeros((4, 4)))
    with pytest.raises(TypeError, match="z must be a floating-point"):
        diagnostic(torch.ones(4, 4, dtype=torch.int64))
