"""The two-view augmentation: per-sample randomness, exactness where it should be exact,
agreement with torchvision, devices, reproducibility and argument checks."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision.transforms.v2 import functional as TF
from torchvision.transforms.v2.functional._color import _rgb_to_hsv

from sslteach.augment import (
    AugmentConfig,
    BatchedAugment,
    _axis_aligned_grid,
    augment_preset,
)
from sslteach.data.shapes import generate_shapes
from sslteach.per_sample import TwoViews, torchvision_transform

IDENTITY = AugmentConfig(
    size=16,
    crop_scale=(1.0, 1.0),
    crop_ratio=(1.0, 1.0),
    flip_p=0.0,
    jitter_p=0.0,
    grayscale_p=0.0,
    solarize_p=0.0,
)


@pytest.fixture(scope="module")
def images():
    return generate_shapes(64, seed=5)[0]  # (64, 3, 16, 16) uint8


def normalised(x, cfg):
    mean = torch.tensor(cfg.mean)[:, None, None]
    std = torch.tensor(cfg.std)[:, None, None]
    return (x.float() / 255 - mean) / std


def test_identity_recipe_only_normalises(images):
    out = BatchedAugment(IDENTITY)(images)
    torch.testing.assert_close(out, normalised(images, IDENTITY), atol=1e-4, rtol=0)


def test_flip_only_mirrors_about_p_of_the_samples(images):
    cfg = dataclasses.replace(IDENTITY, flip_p=0.5)
    x = images.repeat(20, 1, 1, 1)  # 1280 samples
    out = BatchedAugment(cfg)(x, torch.Generator().manual_seed(0))
    plain, mirrored = normalised(x, cfg), normalised(x.flip(-1), cfg)
    is_plain = (out - plain).abs().flatten(1).amax(1) < 1e-4
    is_mirrored = (out - mirrored).abs().flatten(1).amax(1) < 1e-4
    assert (is_plain | is_mirrored).all()
    assert 0.45 < (is_mirrored & ~is_plain).float().mean() < 0.55


def test_every_sample_gets_its_own_parameters(images):
    same = images[:1].expand(128, -1, -1, -1)
    views = BatchedAugment(augment_preset("shapes"))(same).flatten(1)
    distinct = torch.cdist(views, views) + torch.eye(128) > 1e-3
    assert distinct.all()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_output_shape_dtype_and_range(images, dtype):
    cfg = dataclasses.replace(augment_preset("cifar10"), size=24)
    x = images if dtype == torch.uint8 else images.float() / 255
    a, b = BatchedAugment(cfg).two_views(x)
    assert a.shape == b.shape == (64, 3, 24, 24) and a.dtype == torch.float32
    pixels = a * torch.tensor(cfg.std)[:, None, None] + torch.tensor(cfg.mean)[:, None, None]
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    assert not torch.allclose(a, b)


def test_generator_makes_views_reproducible(images):
    aug = BatchedAugment(augment_preset("shapes"))
    first = aug.two_views(images, torch.Generator().manual_seed(3))
    again = aug.two_views(images, torch.Generator().manual_seed(3))
    other = aug.two_views(images, torch.Generator().manual_seed(4))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_grid_matches_affine_grid():
    theta = torch.zeros(5, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = torch.tensor([0.5, -1, 0.3, -0.7, 1]), torch.rand(5)
    theta[:, :, 2] = torch.rand(5, 2) - 0.5
    expected = F.affine_grid(theta, [5, 3, 7, 7], align_corners=False)
    torch.testing.assert_close(_axis_aligned_grid(theta, 7), expected)


def jitter_only(**strengths):
    zero = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}
    return dataclasses.replace(
        IDENTITY, jitter_p=1.0, mean=(0, 0, 0), std=(1, 1, 1), **zero | strengths
    )


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2)])
def test_fused_colour_map_equals_torchvision_steps(order):
    """Brightness, contrast and saturation in a given order, on colours that never clip."""
    aug = BatchedAugment(jitter_only(brightness=0.4, contrast=0.4, saturation=0.4))
    x = 0.3 + 0.3 * torch.rand(4, 3, 8, 8)
    u = torch.zeros(4, 10)
    u[:, 1:4] = torch.tensor([0.9, 0.1, 0.2])  # factors 1.32, 0.68, 0.76
    u[:, 5:9] = torch.tensor([order.index(i) if i in order else 3 for i in range(4)]) / 4
    a, t = aug._colour(u, x.mean((2, 3)))
    ours = torch.einsum("nij,njhw->nihw", a, x) + t[:, :, None, None]
    steps = [
        lambda y: TF.adjust_brightness(y, 1.32),
        lambda y: TF.adjust_contrast(y, 0.68),
        lambda y: TF.adjust_saturation(y, 0.76),
    ]
    expected = x
    for i in order:
        expected = steps[i](expected)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_hue_turns_colours_by_the_drawn_amount():
    """The hue rotation moves the HSV hue by at most ``hue`` turns, like adjust_hue."""
    aug = BatchedAugment(dataclasses.replace(jitter_only(hue=0.1), size=1))
    colours = torch.rand(2000, 3, 1, 1) * 0.6 + 0.2
    out = aug(colours, torch.Generator().manual_seed(0))
    hsv_in, hsv_out = _rgb_to_hsv(colours), _rgb_to_hsv(out.clamp(0, 1))
    turn = ((hsv_out[:, 0] - hsv_in[:, 0] + 0.5) % 1 - 0.5).flatten().abs()
    assert turn.quantile(0.95) < 0.1 * 1.1
    assert 0.04 < turn.mean() < 0.06  # |uniform(-0.1, 0.1)| has mean 0.05


def test_torchvision_path_matches_shapes_and_statistics(images):
    cfg = augment_preset("shapes")
    x = images.repeat(4, 1, 1, 1)
    batched = BatchedAugment(cfg)(x, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    loader = DataLoader(TwoViews(x, torchvision_transform(cfg)), batch_size=64, num_workers=2)
    a, b = (torch.cat(v) for v in zip(*loader, strict=True))
    assert a.shape == b.shape == batched.shape and a.dtype == torch.float32
    assert not torch.equal(a, b)
    for stat in (lambda v: v.mean((0, 2, 3)), lambda v: v.std((0, 2, 3))):
        torch.testing.assert_close(stat(a), stat(batched), atol=0.15, rtol=0)


def test_device_is_preserved_on_cpu(images):
    assert BatchedAugment(IDENTITY)(images).device == images.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_views_for_a_cpu_generator(images):
    aug = BatchedAugment(augment_preset("shapes"))
    on_cpu = aug(images, torch.Generator().manual_seed(0))
    on_gpu = aug(images.cuda(), torch.Generator().manual_seed(0))
    assert on_gpu.device.type == "cuda"
    # identical parameters; float rounding may flip a pixel across the solarise threshold
    assert ((on_gpu.cpu() - on_cpu).abs() < 1e-3).float().mean() > 0.999


@pytest.mark.parametrize(
    ("bad", "error", "name"),
    [
        (torch.zeros(3, 16, 16, dtype=torch.uint8), ValueError, "images"),
        (torch.zeros(2, 1, 16, 16, dtype=torch.uint8), ValueError, "images"),
        (torch.zeros(2, 3, 16, 16, dtype=torch.int32), TypeError, "images"),
        ([[0.0]], TypeError, "images"),
    ],
)
def test_bad_images_name_the_argument(bad, error, name):
    with pytest.raises(error, match=name):
        BatchedAugment(IDENTITY)(bad)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("flip_p", 1.5),
        ("solarize_p", -0.1),
        ("hue", 0.7),
        ("crop_scale", (0.9, 0.2)),
        ("crop_scale", (0.0, 1.0)),
        ("crop_ratio", (0.0, 1.0)),
        ("size", 0),
        ("std", (1.0, 0.0, 1.0)),
        ("mean", (0.5, 0.5)),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        AugmentConfig(**{field: value})


def test_presets():
    assert augment_preset("cifar10").crop_scale == (0.2, 1.0)
    assert augment_preset("shapes").size == 16
    with pytest.raises(ValueError, match="cifar10"):
        augment_preset("imagenet")
    with pytest.raises(TypeError, match="config"):
        BatchedAugment({"size": 16})
