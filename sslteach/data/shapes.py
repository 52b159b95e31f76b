"""Shapes: a 10-class image set that sslteach draws itself, offline, in about half a second.

Why a home-made data set? The course must run on a 2-core laptop CPU with no download: CIFAR-10
at 32x32 trains a small CNN at ~1,100 views/s here, far too slow for a two-minute demo. Shapes
keep the one property that makes self-supervised learning interesting - the label is *not*
what the pixels mostly vary with - at a size a CPU can learn in seconds.

Class = the shape (``CLASSES``). Everything else is a *nuisance*, drawn at random per image,
chosen to be what the standard SSL augmentations teach an encoder to ignore:

* foreground and background colour, any RGB (colour jitter, grayscale), with a luma gap of at
  least 0.25 so that the shape survives a grayscale view;
* position and scale (random resized crop): half-extent 25-45 % of the side;
* a small rotation, +-15 degrees (no augmentation undoes it: the encoder learns it from data);
* a linear background ramp and uniform pixel noise (clutter a linear model cannot see past).

No two classes are rotations or mirror images of each other within these nuisances (no
plus vs x, square vs diamond): a label an augmentation can change would be noise.

Measured on this 2-core CPU (VICReg prototype: a 32-64-128 CNN, projector 512-512, AdamW,
batch 128, augment_preset("shapes"); 10k train / 2k test images; linear probe on the test split):

* a linear probe on raw pixels scores 0.14 and one on a random-init CNN 0.40-0.54: the task is
  not linearly solvable from pixels, and a random encoder is not enough;
* VICReg for 8 epochs (624 steps) reaches 0.98 (three seeds: 0.980-0.987), in 36-39 s of wall
  time for data, training and probe together;
* resolution (5 epochs at batch 256 on one thread): 16 px 0.94 after 35 s of training, 24 px
  0.95 after 71 s, 32 px 0.93 after 147 s - 16x16 gives the most accuracy per second;
* generating 12,000 images takes 0.6 s at 16 px (4.7 s at 32 px).

Each image is rendered from a signed distance function (SDF): for every pixel, its distance to
the shape's edge, negative inside. ``clamp(0.5 - distance_in_pixels, 0, 1)`` is then roughly
the fraction of the pixel the shape covers, which anti-aliases the edges for free.

Determinism: one CPU ``torch.Generator`` per call, float64 maths, and uniform noise (normal
noise goes through log/sin whose last bit may differ between CPUs), so a seed gives the same
bytes on any machine; the tests pin a digest of them.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from sslteach._checks import check_positive_int

CLASSES: tuple[str, ...] = (
    "circle",
    "ring",
    "square",
    "frame",
    "triangle",
    "plus",
    "tee",
    "ell",
    "half-disk",
    "bars",
)
SHAPES_MEAN = (0.5, 0.5, 0.5)  # per-channel statistics of the images, for normalisation
SHAPES_STD = (0.29, 0.29, 0.29)

_RADIUS = (0.25, 0.45)  # shape half-extent, as a fraction of the image side
_MAX_ROTATION_DEG = 15.0
_MIN_LUMA_GAP = 0.25  # foreground/background luma difference, so grayscale views keep the shape
_NOISE = 0.08  # uniform pixel noise amplitude, in [0, 1] units
_GRADIENT = 0.15  # amplitude of a linear background ramp in a random direction
_LUMA = (0.299, 0.587, 0.114)


def _box(u: Tensor, v: Tensor, cu: float, cv: float, hu: float, hv: float) -> Tensor:
    """Signed distance (Chebyshev form) to an axis-aligned box centred at (cu, cv)."""
    return torch.maximum((u - cu).abs() - hu, (v - cv).abs() - hv)


def _halfplanes(u: Tensor, v: Tensor, vertices: list[tuple[float, float]]) -> Tensor:
    """Signed distance (max over edges) to the convex polygon with clockwise-on-screen vertices."""
    dist = None
    for (u0, v0), (u1, v1) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
        nu, nv = v1 - v0, u0 - u1  # outward normal of the edge for clockwise order (v down)
        norm = math.hypot(nu, nv)
        d = ((u - u0) * nu + (v - v0) * nv) / norm
        dist = d if dist is None else torch.maximum(dist, d)
    return dist


def _sdf(label: int, u: Tensor, v: Tensor) -> Tensor:
    """Signed distance, in shape units (half-extent 1), to class ``label``; v points down."""
    r = torch.sqrt(u * u + v * v)
    if label == 0:  # circle
        return r - 1.0
    if label == 1:  # ring
        return torch.maximum(r - 1.0, 0.5 - r)
    if label == 2:  # square
        return _box(u, v, 0.0, 0.0, 0.85, 0.85)
    if label == 3:  # frame: a hollow square
        return torch.maximum(_box(u, v, 0.0, 0.0, 0.9, 0.9), -_box(u, v, 0.0, 0.0, 0.42, 0.42))
    if label == 4:  # triangle, apex up
        return _halfplanes(u, v, [(0.0, -1.0), (1.0, 0.8), (-1.0, 0.8)])
    if label == 5:  # plus
        return torch.minimum(_box(u, v, 0, 0, 1.0, 0.3), _box(u, v, 0, 0, 0.3, 1.0))
    if label == 6:  # tee
        return torch.minimum(_box(u, v, 0, -0.7, 1.0, 0.3), _box(u, v, 0, 0.15, 0.3, 0.85))
    if label == 7:  # ell
        return torch.minimum(_box(u, v, -0.7, 0, 0.3, 1.0), _box(u, v, 0, 0.7, 1.0, 0.3))
    if label == 8:  # half-disk, flat side down
        rc = torch.sqrt(u * u + (v - 0.45) ** 2)
        return torch.maximum(rc - 1.1, v - 0.45)
    # bars: two horizontal bars, "="
    return torch.minimum(_box(u, v, 0, -0.55, 1.0, 0.27), _box(u, v, 0, 0.55, 1.0, 0.27))


def _colours(num: int, gen: torch.Generator, tries: int = 8) -> tuple[Tensor, Tensor]:
    """Background and foreground RGB in [0, 1]^3 whose luma differs by at least _MIN_LUMA_GAP."""
    luma = torch.tensor(_LUMA, dtype=torch.float64)
    bg = torch.rand(num, 3, generator=gen, dtype=torch.float64)
    cand = torch.rand(num, tries, 3, generator=gen, dtype=torch.float64)
    ok = ((cand @ luma) - (bg @ luma)[:, None]).abs() >= _MIN_LUMA_GAP  # (n, tries)
    first = ok.to(torch.int8).argmax(1)
    fg = cand[torch.arange(num), first]
    none_ok = ~ok.any(1)
    fg[none_ok] = (bg[none_ok] @ luma > 0.5).double()[:, None].expand(-1, 3)  # black or white
    return bg, fg


def generate_shapes(num_images: int, *, seed: int = 0, size: int = 16) -> tuple[Tensor, Tensor]:
    """Draw ``num_images`` shapes: uint8 images (n, 3, size, size) and int64 labels (n,).

    Classes are balanced (counts differ by at most one) and shuffled. The same ``seed`` gives
    the same bytes; vectorised over images, with a loop over the 10 classes only.
    """
    check_positive_int("num_images", num_images)
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(
            f"size must be an integer >= 8 (smaller images cannot show the shapes), got {size!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    gen = torch.Generator().manual_seed(seed)
    n, f64 = num_images, torch.float64
    labels = (torch.arange(n) % len(CLASSES))[torch.randperm(n, generator=gen)]
    radius = _RADIUS[0] + (_RADIUS[1] - _RADIUS[0]) * torch.rand(n, generator=gen, dtype=f64)
    centre = radius[:, None] + (1 - 2 * radius[:, None]) * torch.rand(
        n, 2, generator=gen, dtype=f64
    )
    angle = math.radians(_MAX_ROTATION_DEG) * (2 * torch.rand(n, generator=gen, dtype=f64) - 1)
    bg, fg = _colours(n, gen)
    ramp_dir = 2 * math.pi * torch.rand(n, generator=gen, dtype=f64)
    noise = torch.rand(n, 3, size, size, generator=gen, dtype=f64)

    coords = (torch.arange(size, dtype=f64) + 0.5) / size  # pixel centres in (0, 1)
    y, x = coords[None, :, None], coords[None, None, :]  # (1, size, 1), (1, 1, size)
    dx, dy = x - centre[:, 0, None, None], y - centre[:, 1, None, None]  # (n, size, size)
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    scale = radius[:, None, None]
    u, v = (cos * dx + sin * dy) / scale, (cos * dy - sin * dx) / scale
    alpha = torch.empty(n, size, size, dtype=f64)
    for label in range(len(CLASSES)):
        idx = (labels == label).nonzero().squeeze(1)
        sdf_px = _sdf(label, u[idx], v[idx]) * (scale[idx] * size)  # distance in pixels
        alpha[idx] = (0.5 - sdf_px).clamp(0.0, 1.0)  # area coverage of a pixel: anti-aliasing
    ramp = (x - 0.5) * ramp_dir.cos()[:, None, None] + (y - 0.5) * ramp_dir.sin()[:, None, None]
    back = bg[:, :, None, None] + _GRADIENT * ramp[:, None]  # (n, 3, size, size)
    img = back + alpha[:, None] * (fg[:, :, None, None] - back) + _NOISE * (2 * noise - 1)
    images = (img.clamp(0.0, 1.0) * 255).round().to(torch.uint8)
    return images, labels


def load_shapes(
    split: str, *, num_train: int = 10_000, num_test: int = 2_000, seed: int = 0, size: int = 16
) -> tuple[Tensor, Tensor]:
    """The ``"train"`` or ``"test"`` split: (images, labels) as from :func:`generate_shapes`.

    The splits come from different random streams - train from generator seed ``2 * seed``,
    test from ``2 * seed + 1`` - so no (seed, split) pair shares a stream with another, and the
    test set does not change when ``num_train`` does.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if split == "train":
        images, labels = _generated(num_train, 2 * seed, size)
    else:
        images, labels = _generated(num_test, 2 * seed + 1, size)
    return images.clone(), labels.clone()  # the cached tensors stay untouched


@functools.lru_cache(maxsize=8)
def _generated(num: int, seed: int, size: int) -> tuple[Tensor, Tensor]:
    """generate_shapes, remembered: a notebook or a comparison loads the same splits for every
    run, and generating them costs a third of a second each time."""
    return generate_shapes(num, seed=seed, size=size)
