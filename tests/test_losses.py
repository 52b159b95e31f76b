"""Every loss and term against the independent references in ``reference_losses``: values and
gradients, float64, several seeds and shapes (d = 1 included), plus finite-difference checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

import sslteach.losses.barlow_twins as barlow_twins
import sslteach.losses.vicreg as vicreg
from sslteach.losses import (
    LOSSES,
    BarlowTwinsLoss,
    TiCoLoss,
    VICRegLoss,
    VICRegTiCoLoss,
    WMSELoss,
    build_loss,
    cosine_invariance_loss,
    covariance_contrast_loss,
    covariance_loss,
    covariance_matrix,
    cross_correlation,
    invariance_loss,
    off_diagonal,
    off_diagonal_loss,
    on_diagonal_loss,
    variance_loss,
)

import reference_losses as ref

# (8, 24): d = 3n, VICReg's Gram-matrix road and Barlow Twins' (d, d) one; the last two: d ≥ 4n,
# both losses' Gram-matrix roads.
SHAPES = [(2, 1), (8, 1), (16, 4), (32, 16), (64, 8), (8, 24), (4, 16), (8, 64)]
SEEDS = [0, 1, 2]


def embeddings(n: int, d: int, seed: int, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    z_a = (scale * torch.randn(n, d, generator=g, dtype=torch.float64)).requires_grad_()
    z_b = z_a.detach() + 0.3 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return z_a, z_b.requires_grad_()


def inputs_for(loss, z_a, z_b) -> tuple:
    """What ``loss`` takes: (z_a, z_b), or for a method with a predictor (p_a, p_b, t_a, t_b),
    here the embeddings themselves as predictions of each other."""
    if loss.build_predictor(z_a.shape[1]) is None:
        return z_a, z_b
    return z_a, z_b, z_a, z_b


def assert_same_values_and_grads(ours: dict, theirs: dict, inputs, atol=1e-10):
    """Each term equal in value and in its gradient w.r.t. every input."""
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], atol=atol, rtol=1e-9, msg=name)
        g_ours = torch.autograd.grad(ours[name], inputs, retain_graph=True, allow_unused=True)
        g_ref = torch.autograd.grad(theirs[name], inputs, retain_graph=True, allow_unused=True)
        for a, b in zip(g_ours, g_ref, strict=True):
            a = torch.zeros_like(inputs[0]) if a is None else a
            b = torch.zeros_like(inputs[0]) if b is None else b
            torch.testing.assert_close(a, b, atol=atol, rtol=1e-8, msg=f"grad of {name}")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n,d", SHAPES)
def test_vicreg_matches_reference(n, d, seed):
    z_a, z_b = embeddings(n, d, seed, scale=0.5)  # std < γ so the variance hinge is active
    loss = VICRegLoss(lambda_=20.0, mu=25.0, nu=1.0)
    ref_loss, ref_terms = ref.vicreg(z_a, z_b, lam=20.0, mu=25.0, nu=1.0)
    terms = loss.terms(z_a, z_b)
    assert_same_values_and_grads(
        {**terms, "total": loss(z_a, z_b)}, {**ref_terms, "total": ref_loss}, (z_a, z_b)
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n,d", SHAPES)
def test_barlow_twins_matches_reference(n, d, seed):
    z_a, z_b = embeddings(n, d, seed)
    loss = BarlowTwinsLoss()
    ref_loss, ref_terms = ref.barlow_twins(z_a, z_b)
    assert_same_values_and_grads(
        {**loss.terms(z_a, z_b), "total": loss(z_a, z_b)},
        {**ref_terms, "total": ref_loss},
        (z_a, z_b),
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n,d", SHAPES)
def test_tico_matches_unrolled_reference_over_steps(n, d, seed):
    loss = TiCoLoss(beta=0.8, rho=8.0)
    past = []
    for step in range(4):
        z_a, z_b = embeddings(n, d, seed * 10 + step)
        ref_loss, ref_terms, ref_C = ref.tico(z_a, z_b, past, beta=0.8, rho=8.0)
        terms = loss.terms(z_a, z_b)
        assert_same_values_and_grads(
            {**terms, "total": loss.combine(terms)}, {**ref_terms, "total": ref_loss}, (z_a, z_b)
        )
        torch.testing.assert_close(loss.C, ref_C.detach(), atol=1e-12, rtol=1e-10)
        past.append(z_a.detach())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n,d", SHAPES)
def test_vicreg_tico_matches_reference_over_steps(n, d, seed):
    loss = VICRegTiCoLoss(lambda_=20.0, mu=25.0, rho=8.0, beta=0.9)
    past = []
    for step in range(3):
        z_a, z_b = embeddings(n, d, seed * 10 + step, scale=0.5)
        ref_loss, ref_terms, ref_C = ref.vicreg_tico(z_a, z_b, past, lam=20.0)
        terms = loss.terms(z_a, z_b)
        assert_same_values_and_grads(
            {**terms, "total": loss.combine(terms)}, {**ref_terms, "total": ref_loss}, (z_a, z_b)
        )
        torch.testing.assert_close(loss.C, ref_C.detach(), atol=1e-12, rtol=1e-10)
        past.append(z_a.detach())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n,d,w_size,w_iter", [(8, 1, 4, 1), (32, 4, 16, 2), (64, 8, 32, 3)])
def test_wmse_matches_reference(n, d, w_size, w_iter, seed):
    z_a, z_b = embeddings(n, d, seed)
    loss = WMSELoss(w_size=w_size, w_iter=w_iter, eps=0.01)
    torch.manual_seed(seed)
    terms = loss.terms(z_a, z_b)
    torch.manual_seed(seed)
    perms = [torch.randperm(n) for _ in range(w_iter)]
    ref_value = ref.wmse(z_a, z_b, w_size, perms, eps=0.01)
    assert_same_values_and_grads(
        {"whitened_mse": terms["whitened_mse"]}, {"whitened_mse": ref_value}, (z_a, z_b), atol=1e-9
    )


def test_tico_running_matrix_is_the_unrolled_ema():
    beta, d = 0.7, 5
    loss = TiCoLoss(beta=beta)
    batches = [embeddings(12, d, seed)[0].detach() for seed in range(6)]
    for z in batches:
        loss(z, z + 0.1)
    autocorrelations = [ref.unit_rows(z).T @ ref.unit_rows(z) / z.shape[0] for z in batches]
    k = len(batches)
    unrolled = sum((1 - beta) * beta ** (k - 1 - t) * B for t, B in enumerate(autocorrelations))
    torch.testing.assert_close(loss.C, unrolled, atol=1e-12, rtol=1e-10)


def test_tico_update_false_and_reset_leave_memory_as_documented():
    loss = TiCoLoss()
    z_a, z_b = embeddings(16, 4, 0)
    loss(z_a, z_b)
    stored = loss.C.clone()
    loss(z_b, z_a, update=False)
    torch.testing.assert_close(loss.C, stored)
    loss.reset()
    assert loss.C.numel() == 0
    with pytest.raises(ValueError, match=r"call reset\(\)"):
        loss(z_a, z_b)
        loss(torch.randn(16, 5, dtype=torch.float64), torch.randn(16, 5, dtype=torch.float64))


@pytest.mark.parametrize("cls", [TiCoLoss, VICRegTiCoLoss])
def test_running_matrix_survives_a_state_dict_round_trip(cls, tmp_path):
    loss = cls()
    for seed in range(3):
        z_a, z_b = embeddings(16, 6, seed)
        loss(z_a, z_b)
    torch.save(loss.state_dict(), tmp_path / "loss.pt")
    restored = cls()
    assert restored.C.numel() == 0
    restored.load_state_dict(torch.load(tmp_path / "loss.pt"))
    torch.testing.assert_close(restored.C, loss.C, atol=0, rtol=0)
    z_a, z_b = embeddings(16, 6, 99)
    torch.testing.assert_close(restored(z_a, z_b), loss(z_a, z_b), atol=0, rtol=0)


def test_losses_pass_finite_difference_gradcheck():
    z_a, z_b = embeddings(12, 4, 0, scale=0.5)
    # TiCo's C is a stop-gradient constant, so finite differences (which would move C with z)
    # apply to its pieces with C held fixed; the full loss is compared with the reference.
    C = ref.unit_rows(z_a.detach()).T @ ref.unit_rows(z_a.detach()) / 12
    checks = {
        "vicreg": VICRegLoss(),
        "barlow": BarlowTwinsLoss(),
        "tico pieces": lambda a, b: (
            cosine_invariance_loss(a, b) + 8.0 * covariance_contrast_loss(F.normalize(a, dim=1), C)
        ),
        "wmse": WMSELoss(w_size=12, eps=0.05),
    }
    for name, fn in checks.items():
        assert gradcheck(fn, (z_a, z_b), eps=1e-6, atol=1e-5), name


def test_tico_memory_is_a_constant_for_the_gradient():
    """∂L/∂z equals the gradient with C (this batch's B included) treated as a fixed matrix."""
    z_a, z_b = embeddings(16, 4, 1)
    loss = TiCoLoss(beta=0.5)
    value = loss(z_a, z_b)
    C = loss.C.clone()
    fixed = cosine_invariance_loss(z_a, z_b) + 8.0 * covariance_contrast_loss(
        F.normalize(z_a, dim=1), C
    )
    torch.testing.assert_close(value, fixed)
    grads = torch.autograd.grad(value, (z_a, z_b))
    expected = torch.autograd.grad(fixed, (z_a, z_b))
    for a, b in zip(grads, expected, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("method", list(LOSSES))
def test_gather_distributed_is_not_a_hyperparameter_and_alone_changes_nothing(method):
    """Without a process group the flag is inert; it never shows up as a loss weight."""
    kwargs = {"w_size": 32} if method == "wmse" else {}
    plain = build_loss(method, **kwargs)
    gathering = build_loss(method, gather_distributed=True, **kwargs)
    assert "gather_distributed" not in gathering.hyperparameters()
    assert "gather_distributed=True" in repr(gathering)
    assert "gather_distributed" not in repr(plain)
    z_a, z_b = embeddings(64, 8, 0, scale=0.5)
    torch.manual_seed(0)
    expected = plain(*inputs_for(plain, z_a, z_b))
    torch.manual_seed(0)
    torch.testing.assert_close(gathering(*inputs_for(plain, z_a, z_b)), expected, atol=0, rtol=0)


def test_cross_correlation_from_global_sums_equals_the_batch_formula():
    """The distributed formula (sums over ranks, / N) with K = 1 process is the plain one."""
    z_a, z_b = embeddings(32, 6, 4)
    torch.testing.assert_close(
        cross_correlation(z_a, z_b, distributed=True),
        cross_correlation(z_a, z_b),
        atol=1e-12,
        rtol=1e-12,
    )


def test_pieces_are_the_official_functions():
    z_a, z_b = embeddings(32, 8, 3, scale=0.5)
    _, terms = ref.vicreg(z_a, z_b)
    torch.testing.assert_close(invariance_loss(z_a, z_b), terms["invariance"])
    torch.testing.assert_close((variance_loss(z_a) + variance_loss(z_b)) / 2, terms["variance"])
    torch.testing.assert_close(covariance_loss(z_a) + covariance_loss(z_b), terms["covariance"])
    c = cross_correlation(z_a, z_a)  # a view with itself: c_ii = var/(var + ε) ≈ 1
    torch.testing.assert_close(
        torch.diagonal(c), torch.ones(8, dtype=torch.float64), atol=1e-3, rtol=0
    )


def test_paper_normalisation_differs_from_code_by_d_and_two():
    """The paper's s(Z,Z') is 1/n Σ||z−z'||² = d·mse, and it sums (not averages) v(Z)+v(Z')."""
    n, d = 32, 8
    z_a, z_b = embeddings(n, d, 0, scale=0.5)
    terms = VICRegLoss().terms(z_a, z_b)
    paper_invariance = ((z_a - z_b) ** 2).sum(1).mean()
    torch.testing.assert_close(paper_invariance, d * terms["invariance"])
    paper_variance = variance_loss(z_a) + variance_loss(z_b)
    torch.testing.assert_close(paper_variance, 2 * terms["variance"])


def test_zero_variance_columns_stay_finite():
    z = torch.randn(16, 6, dtype=torch.float64)
    z[:, 2] = 3.0  # a collapsed dimension
    z_a, z_b = z.clone().requires_grad_(), (z + 0.0).requires_grad_()
    for name, cls in LOSSES.items():
        loss = cls(w_size=16, eps=0.1) if name == "wmse" else cls()
        value = loss(*inputs_for(loss, z_a, z_b))
        (grad_a,) = torch.autograd.grad(value, z_a)
        assert torch.isfinite(value) and torch.isfinite(grad_a).all(), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_low_precision_inputs_are_upcast(dtype):
    z_a, z_b = embeddings(64, 8, 0)
    for name, cls in LOSSES.items():
        loss = cls(w_size=32) if name == "wmse" else cls()
        torch.manual_seed(0)
        exact = loss(*inputs_for(loss, z_a.detach(), z_b.detach()))
        exact = exact if name not in ("tico", "vicreg-tico") else None
        torch.manual_seed(0)
        fresh = cls(w_size=32) if name == "wmse" else cls()
        value = fresh(*inputs_for(fresh, z_a.detach().to(dtype), z_b.detach().to(dtype)))
        assert value.dtype in (torch.float32, torch.float64) and torch.isfinite(value), name
        if exact is not None:
            tol = 1e-4 if dtype == torch.float32 else 0.05
            assert abs(value.item() - exact.item()) <= tol * max(1.0, abs(exact.item())), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_losses_run_on_cuda():
    z_a, z_b = (z.detach().cuda() for z in embeddings(64, 8, 0))
    for name, cls in LOSSES.items():
        loss = (cls(w_size=32) if name == "wmse" else cls()).cuda()
        assert loss(*inputs_for(loss, z_a, z_b)).device.type == "cuda"


def test_build_loss_registry():
    assert isinstance(build_loss("vicreg", lambda_=20.0), VICRegLoss)
    assert build_loss("tico", rho=20.0).rho == 20.0
    with pytest.raises(ValueError, match="unknown method 'moco'; choose one of vicreg"):
        build_loss("moco")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: VICRegLoss()(torch.randn(8), torch.randn(8)), "z_a must be 2-D"),
        (lambda: VICRegLoss()(torch.randn(8, 4, 2), torch.randn(8, 4, 2)), "z_a must be 2-D"),
        (lambda: VICRegLoss()(torch.randn(8, 4), torch.randn(8, 5)), "same shape"),
        (lambda: BarlowTwinsLoss()(torch.randn(1, 4), torch.randn(1, 4)), "batch size n=1"),
        (lambda: TiCoLoss()(torch.randn(8, 4), torch.randn(7, 4)), "same shape"),
        (lambda: VICRegLoss(mu=-1.0), "mu must lie in"),
        (lambda: VICRegLoss(gamma=0.0), "gamma must lie in"),
        (lambda: VICRegLoss(eps=0.0), "eps must lie in"),
        (lambda: BarlowTwinsLoss(lambda_=float("nan")), "lambda_ must lie in"),
        (lambda: TiCoLoss(beta=1.0), "beta must lie in"),
        (lambda: VICRegTiCoLoss(rho=-2.0), "rho must lie in"),
        (lambda: WMSELoss(w_size=0), "w_size must be a positive integer"),
        (lambda: WMSELoss(w_size=1), "w_size must be at least 2"),
        (lambda: WMSELoss(eps=1.0), "eps must lie in"),
        (lambda: WMSELoss(w_size=48)(torch.randn(64, 8), torch.randn(64, 8)), "must divide"),
        (lambda: WMSELoss(w_size=128)(torch.randn(64, 8), torch.randn(64, 8)), "must divide"),
        (lambda: WMSELoss(w_size=8)(torch.randn(64, 8), torch.randn(64, 8)), r"w_size ≥ 16"),
    ],
)
def test_bad_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_tensor_and_integer_inputs_raise_type_errors():
    with pytest.raises(TypeError, match=r"z_a must be a torch\.Tensor"):
        VICRegLoss()([[1.0, 2.0]], torch.randn(1, 2))
    with pytest.raises(TypeError, match="floating-point"):
        VICRegLoss()(torch.ones(4, 2, dtype=torch.long), torch.ones(4, 2, dtype=torch.long))


def test_wmse_reports_singular_covariance_with_the_fix():
    z = torch.randn(16, 1).repeat(1, 4)  # rank 1: every sub-batch covariance is singular
    with pytest.raises(ValueError, match="covariance is singular; increase eps"):
        WMSELoss(w_size=8)(z, z)


@pytest.mark.parametrize("near_copy", [False, True])
def test_narrow_batch_shortcut_is_accurate_in_float32(near_copy):
    """d = 8n takes the Gram-matrix roads; in float32 they match the (d, d) matrix in float64,
    also when the views nearly agree (c_ii ≈ 1, the largest part of ‖c‖²_F cancelled)."""
    g = torch.Generator().manual_seed(0)
    z_a = torch.randn(128, 1024, generator=g) @ torch.randn(1024, 1024, generator=g) / 32
    z_b = z_a + (0.01 if near_copy else 1.0) * torch.randn(128, 1024, generator=g)
    c = cross_correlation(z_a.double(), z_b.double())
    expected = {
        "covariance": off_diagonal(covariance_matrix(z_a.double())).pow(2).sum() / 1024,
        "on_diagonal": on_diagonal_loss(c),
        "off_diagonal": off_diagonal_loss(c),
    }
    ours = {"covariance": covariance_loss(z_a), **BarlowTwinsLoss().terms(z_a, z_b)}
    for name, value in ours.items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value.double(), expected[name], rtol=2e-5, atol=1e-4, msg=name)


@pytest.mark.parametrize(
    "n,d,vicreg_gram,barlow_gram",
    [(64, 96, False, False), (64, 128, True, False), (64, 192, True, False), (64, 256, True, True)],
)
def test_each_loss_takes_its_gram_road_where_it_is_the_faster_one(
    monkeypatch, n, d, vicreg_gram, barlow_gram
):
    """VICReg's covariance from d = 2n, Barlow Twins' terms from d = 4n (one (d, d) product
    against two float64 (n, n) ones: benchmarks/loss_roads.py measures the break-even)."""
    taken = []

    def recorded(module, name):
        road = getattr(module, name)

        def take(*z):
            taken.append(name)
            return road(*z)

        monkeypatch.setattr(module, name, take)

    recorded(vicreg, "covariance_loss_from_gram")
    recorded(barlow_twins, "terms_from_gram_matrices")
    z_a, z_b = torch.randn(n, d), torch.randn(n, d)
    covariance_loss(z_a)
    BarlowTwinsLoss().terms(z_a, z_b)
    assert ("covariance_loss_from_gram" in taken) == vicreg_gram
    assert ("terms_from_gram_matrices" in taken) == barlow_gram


def test_gram_shortcut_keeps_the_value_when_variance_sits_on_one_axis():
    """Dimensional collapse: one axis with std 30, 1023 with std 0.01 (n 64, d 1024). In
    float32, ‖C‖²_F − Σ C_jj² cancelled all but a digit (6e-2 relative error); the two (n, n)
    products in float64 keep it to round-off, like the (d, d) formula."""
    g = torch.Generator().manual_seed(0)
    z = 0.01 * torch.randn(64, 1024, generator=g)
    z[:, 0] = 30 * torch.randn(64, generator=g)
    exact = off_diagonal(covariance_matrix(z.double())).pow(2).sum() / 1024
    shortcut = covariance_loss(z)  # 2n ≤ d: the Gram-matrix road
    assert shortcut.dtype == torch.float32
    assert abs(shortcut.double() - exact) / exact < 1e-6
    z_b = z + 0.001 * torch.randn(64, 1024, generator=g)
    c = cross_correlation(z.double(), z_b.double())
    terms = BarlowTwinsLoss().terms(z, z_b)
    assert abs(terms["off_diagonal"].double() - off_diagonal_loss(c)) / off_diagonal_loss(c) < 1e-5
