"""Whitening checked against numpy's eigendecomposition and Cholesky factor, and autograd."""

import numpy as np
import pytest
import torch

from sslteach.whitening import METHODS, ShuffledDBN, whiten, whitening_matrix

SINGULAR = "covariance is singular; increase eps"
SHAPES = [(64, 4, 0), (200, 16, 1), (500, 32, 2)]  # (n, d, seed)


def correlated(n: int, d: int, seed: int) -> torch.Tensor:
    """Gaussian data with a random full-rank mixing, a non-zero mean and unequal scales."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) + 2 * np.eye(d)
    z = rng.normal(size=(n, d)) @ mixing + rng.normal(scale=3, size=d)
    return torch.from_numpy(z)


def np_cov(z: torch.Tensor) -> np.ndarray:
    return np.cov(z.detach().numpy(), rowvar=False)


def cov(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(dim=0)
    return x.T @ x / (x.shape[0] - 1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
def test_whitened_covariance_is_identity(method, n, d, seed):
    z = correlated(n, d, seed)
    out = whiten(z, method)
    assert out.dtype == torch.float64
    torch.testing.assert_close(cov(out), torch.eye(d, dtype=torch.float64), rtol=0, atol=1e-8)
    torch.testing.assert_close(out.mean(dim=0), torch.zeros(d, dtype=torch.float64))


@pytest.mark.parametrize("method", METHODS)
def test_whiten_equals_formula(method):
    z = correlated(50, 5, 3)
    w, mean = whitening_matrix(z, method)
    assert w.shape == (5, 5) and mean.shape == (5,)
    torch.testing.assert_close(mean, torch.from_numpy(z.numpy().mean(axis=0)))
    torch.testing.assert_close(whiten(z, method), (z - mean) @ w.T)


@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
def test_zca_is_symmetric_and_matches_numpy(n, d, seed):
    z = correlated(n, d, seed)
    w, _ = whitening_matrix(z, "zca")
    eigenvalues, u = np.linalg.eigh(np_cov(z))
    expected = u @ np.diag(eigenvalues**-0.5) @ u.T
    torch.testing.assert_close(w, w.T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
def test_pca_rows_are_scaled_principal_axes_in_descending_order(n, d, seed):
    z = correlated(n, d, seed)
    w, _ = whitening_matrix(z, "pca")
    eigenvalues, u = np.linalg.eigh(np_cov(z))
    eigenvalues, u = eigenvalues[::-1], u[:, ::-1]
    expected = np.diag(eigenvalues**-0.5) @ u.T
    # Eigenvectors are defined up to sign: align numpy's to sslteach's (largest entry > 0).
    signs = np.sign(expected[np.arange(d), np.abs(expected).argmax(axis=1)])
    np.testing.assert_allclose(w.numpy(), signs[:, None] * expected, rtol=1e-6, atol=1e-9)
    largest = w.gather(1, w.abs().argmax(dim=1, keepdim=True))
    assert (largest > 0).all()


@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
def test_cholesky_is_inverse_of_numpy_factor(n, d, seed):
    z = correlated(n, d, seed)
    w, _ = whitening_matrix(z, "cholesky")
    expected = np.linalg.inv(np.linalg.cholesky(np_cov(z)))
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(w, w.tril(), rtol=0, atol=0)


@pytest.mark.parametrize(("n", "d", "seed"), SHAPES)
def test_methods_differ_by_a_rotation(n, d, seed):
    z = correlated(n, d, seed)
    outputs = {method: whiten(z, method).numpy() for method in METHODS}
    for a, b in [("pca", "zca"), ("zca", "cholesky"), ("cholesky", "pca")]:
        rotation, *_ = np.linalg.lstsq(outputs[a], outputs[b], rcond=None)  # out_b = out_a R
        np.testing.assert_allclose(outputs[a] @ rotation, outputs[b], atol=1e-8)
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(d), atol=1e-8)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_shrinkage_whitens_the_shrunk_covariance(method, eps):
    z = correlated(40, 6, 4)
    w, _ = whitening_matrix(z, method, eps=eps)
    shrunk = (1 - eps) * np_cov(z) + eps * np.eye(6)
    # W Σ_eps Wᵀ = I  <=>  Σ_eps⁻¹ = Wᵀ W
    np.testing.assert_allclose(w.numpy() @ shrunk @ w.numpy().T, np.eye(6), atol=1e-10)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.linalg.inv(shrunk), atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_shrinkage_rescues_a_singular_covariance(method):
    z = correlated(5, 10, 5)  # n < d: rank at most 4
    with pytest.raises(ValueError, match=SINGULAR):
        whiten(z, method)
    out = whiten(z, method, eps=0.1)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("method", METHODS)
def test_gradients_flow_through_whitening(method):
    z = correlated(10, 3, 0).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: whitening_matrix(x, method), (z,))
    assert torch.autograd.gradcheck(lambda x: whiten(x, method, eps=0.2), (z,))


def duplicated_column(z: torch.Tensor) -> torch.Tensor:
    return torch.cat([z, z[:, :1]], dim=1)


def constant_column(z: torch.Tensor) -> torch.Tensor:
    return torch.cat([z, torch.full_like(z[:, :1], 0.1)], dim=1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "make",
    [
        lambda: correlated(6, 10, 0),
        lambda: duplicated_column(correlated(100, 8, 1)),
        lambda: constant_column(correlated(100, 8, 2)),
    ],
    ids=["n<d", "duplicated", "constant"],
)
def test_singular_covariance_raises(method, dtype, make):
    z = make().to(dtype)
    n, d = z.shape
    with pytest.raises(ValueError, match=SINGULAR) as error:
        whitening_matrix(z, method)
    message = str(error.value)
    assert f"n={n}" in message and f"d={d}" in message and "eps=0.0" in message
    assert "2·d" in message


def test_bad_arguments_raise():
    z = correlated(20, 3, 0)
    with pytest.raises(ValueError, match="'pca', 'zca', 'cholesky'"):
        whiten(z, "svd")
    with pytest.raises(ValueError, match="z must be 2-D"):
        whiten(z[:, 0])
    with pytest.raises(TypeError, match=r"z must be a torch\.Tensor"):
        whiten(z.numpy())
    with pytest.raises(ValueError, match="n=1"):
        whiten(z[:1])
    with pytest.raises(ValueError, match="eps"):
        whiten(z, eps=1.0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_low_precision_input_keeps_its_dtype(method, dtype):
    z = torch.randn(256, 8, generator=torch.Generator().manual_seed(0)).to(dtype)
    w, mean = whitening_matrix(z, method)
    out = whiten(z, method)
    assert w.dtype == mean.dtype == out.dtype == dtype
    torch.testing.assert_close(
        cov(out.double()),
        torch.eye(8, dtype=torch.float64),
        rtol=0,
        atol=1e-2 if dtype == torch.float16 else 1e-4,
    )


def test_shuffled_dbn_with_one_group_equals_zca():
    z = correlated(100, 12, 0)
    # ZCA commutes with permuting the dimensions, so the random shuffle makes no difference.
    torch.testing.assert_close(ShuffledDBN(1, eps=0.05)(z), whiten(z, "zca", eps=0.05))


@pytest.mark.parametrize(("groups", "d"), [(2, 8), (4, 16), (3, 12)])
def test_shuffled_dbn_whitens_every_group(groups, d):
    z = correlated(200, d, groups)
    k = d // groups
    dbn = ShuffledDBN(groups, eps=0.0)
    # forward's first random draw is the permutation, so replaying the seed reveals the groups.
    torch.manual_seed(7)
    perm = torch.randperm(d)
    torch.manual_seed(7)
    out = dbn(z)
    for g in range(groups):
        block = out[:, perm[g * k : (g + 1) * k]]
        torch.testing.assert_close(cov(block), torch.eye(k, dtype=torch.float64))
        torch.testing.assert_close(block, whiten(z[:, perm[g * k : (g + 1) * k]], "zca"))
    eval_out = dbn.eval()(z)
    for g in range(groups):
        block = eval_out[:, g * k : (g + 1) * k]  # no shuffling: contiguous groups
        torch.testing.assert_close(cov(block), torch.eye(k, dtype=torch.float64))


def test_shuffled_dbn_eval_is_deterministic_and_training_is_not():
    z = correlated(200, 32, 1)
    dbn = ShuffledDBN(4)
    torch.manual_seed(0)  # two draws give the same grouping with probability ≈ 1e-16
    assert not torch.allclose(dbn(z), dbn(z))
    dbn.eval()
    torch.testing.assert_close(dbn(z), dbn(z), rtol=0, atol=0)


def test_shuffled_dbn_gradients():
    z = correlated(12, 4, 2).requires_grad_()
    assert torch.autograd.gradcheck(ShuffledDBN(2).eval(), (z,))


def test_shuffled_dbn_float32_and_repr():
    z = torch.randn(256, 16, generator=torch.Generator().manual_seed(3))
    out = ShuffledDBN(4)(z)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert "num_groups=4" in repr(ShuffledDBN(4))


def test_shuffled_dbn_bad_arguments():
    with pytest.raises(ValueError, match=r"num_groups=3 .*d=10"):
        ShuffledDBN(3)(torch.randn(20, 10))
    with pytest.raises(ValueError, match="num_groups"):
        ShuffledDBN(0)
    with pytest.raises(ValueError, match=SINGULAR):
        ShuffledDBN(2, eps=0.0)(torch.randn(3, 16))
