"""Two-view augmentation: one recipe (:class:`AugmentConfig`), two ways to run it.

Joint-embedding methods learn what stays the same across two random views of an image, so the
augmentations *define* the task: whatever they change (crop position, colour, ...), the encoder
learns to ignore. The recipe follows solo-learn's CIFAR-10 pipeline, in torchvision's order:

    random resized crop -> horizontal flip -> colour jitter (p) -> grayscale (p)
    -> solarise (p) -> normalise

* ``sslteach.per_sample.torchvision_transform`` runs it per sample with
  ``torchvision.transforms.v2`` inside ``DataLoader`` workers (``TwoViews``,
  ``two_view_loader``) - the usual way, and ``TrainConfig(pipeline="dataloader")``.
* :class:`BatchedAugment` runs it on a whole batch at once, as tensor operations on the
  batch's own device, each sample with its own random parameters. On a 2-core CPU this is what
  makes a minute-long training run possible (see ``benchmarks/augment_throughput.py``).

How the batched path works:

1. Geometry: a crop box and a flip are an affine map from output to input coordinates
   (x_in = ±w x_out + c_x, y_in = h y_out + c_y), so one ``F.grid_sample`` call resamples the
   whole batch, crop, resize and flip together.
2. Colour: brightness (x -> b x), contrast (x -> c x + (1 - c) mean_gray), saturation
   (x -> s x + (1 - s) gray(x)), a hue rotation and grayscale are all *affine maps of RGB*.
   Their composition, in each sample's random order, is one 3x3 matrix and offset per sample,
   applied in a single pass; normalisation is folded into it, then values are clipped to the
   valid range and solarised (x -> 1 - x above 0.5).

Where it differs from torchvision (the recipe is the same, the pixels are not bit-identical):

* crop boxes are continuous rather than whole pixels; resampling is bilinear without
  antialiasing, which matters only for crops larger than the output (downscaling);
* torchvision clips to [0, 1] after every jitter step; the fused map clips once, at the end;
* hue: torchvision shifts the HSV hue, which is not affine; here colours turn about the gray
  axis by the same angle. Measured on 4,000 random colours with hue 0.1, the HSV hue moves by
  0.0997 (median; 80 % within 0.092-0.105), but value and saturation shift slightly as well;
* if none of the 10 random boxes fits inside the image, the fallback is the whole image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from sslteach._checks import check_number, check_positive_int
from sslteach.data.shapes import SHAPES_MEAN, SHAPES_STD

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale
_TRIES = 10  # RandomResizedCrop draws up to 10 boxes, keeping the first that fits
_GEOMETRY = 2 * _TRIES + 3  # random numbers per sample: (area, ratio) per try, centre x, y, flip
_COLOUR = 10  # apply?, 4 factors, 4 keys for a random order, grayscale?


@dataclass(frozen=True)
class AugmentConfig:
    """One augmentation recipe; probabilities are per sample, strengths as in torchvision."""

    size: int = 32  # output side in pixels
    crop_scale: tuple[float, float] = (0.2, 1.0)  # crop area, as a fraction of the image
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # crop width / height
    flip_p: float = 0.5
    brightness: float = 0.4  # factors drawn from [1 - 0.4, 1 + 0.4]
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1  # turns, drawn from [-0.1, 0.1]
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    solarize_p: float = 0.1
    mean: tuple[float, float, float] = CIFAR10_MEAN
    std: tuple[float, float, float] = CIFAR10_STD

    def __post_init__(self) -> None:
        check_positive_int("size", self.size)
        for name in ("flip_p", "jitter_p", "grayscale_p", "solarize_p"):
            check_number(name, getattr(self, name), low=0.0, high=1.0)
        for name in ("brightness", "contrast", "saturation"):
            check_number(name, getattr(self, name), low=0.0)
        check_number("hue", self.hue, low=0.0, high=0.5)
        lo, hi = _pair("crop_scale", self.crop_scale)
        check_number("crop_scale[0]", lo, low=0.0, high=1.0, low_inclusive=False)
        check_number("crop_scale[1]", hi, low=0.0, high=1.0)
        lo, _ = _pair("crop_ratio", self.crop_ratio)
        check_number("crop_ratio[0]", lo, low=0.0, low_inclusive=False)
        for name in ("mean", "std"):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or len(value) != 3:
                raise ValueError(f"{name} must be 3 numbers (one per RGB channel), got {value!r}")
        for i, s in enumerate(self.std):
            check_number(f"std[{i}]", s, low=0.0, low_inclusive=False)


def _pair(name: str, value: object) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{name} must be a pair (low, high) with low <= high, got {value!r}")
    return float(value[0]), float(value[1])


_PRESETS = {
    # solo-learn's CIFAR-10 recipe for VICReg / Barlow Twins (its blur probability is 0).
    "cifar10": AugmentConfig(),
    # Measured (VICReg probe, 390 steps): crops down to 20 % of the image often cut the shape
    # away, so the views no longer share a class: crop_scale 0.2 -> 0.78, 0.4 -> 0.94,
    # 0.6 -> 0.98, 0.8 -> 0.99 (within seed noise of 0.6). The data already vary position and
    # scale; stronger colour jitter (hue 0.5, saturation 0.8) lowered the probe, 0.976 -> 0.958.
    "shapes": AugmentConfig(size=16, crop_scale=(0.6, 1.0), mean=SHAPES_MEAN, std=SHAPES_STD),
}


def augment_preset(dataset: str) -> AugmentConfig:
    """The recipe for ``dataset``: "cifar10" (solo-learn's) or "shapes" (tuned by measurement)."""
    if dataset not in _PRESETS:
        raise ValueError(
            f"unknown augmentation preset {dataset!r}; choose one of {sorted(_PRESETS)}"
        )
    return _PRESETS[dataset]


def _check_images(images: object, name: str = "images") -> Tensor:
    """Raise unless ``images`` is a (n, 3, H, W) uint8 or floating-point tensor."""
    if not isinstance(images, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (n, 3, H, W), got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(
            f"{name} must have shape (n, 3, H, W), got {tuple(images.shape)}; add a batch "
            f"dimension with {name}[None], or repeat a gray channel with .expand(-1, 3, -1, -1)"
        )
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(
            f"{name} must be uint8 in [0, 255] or float in [0, 1], got dtype {images.dtype}"
        )
    return images


class BatchedAugment:
    """Augment a whole batch as tensor operations, each sample with its own random draws."""

    def __init__(self, config: AugmentConfig) -> None:
        if not isinstance(config, AugmentConfig):
            raise TypeError(f"config must be an AugmentConfig, got {type(config).__name__}")
        self.config = config

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One view of every image: float32 (n, 3, size, size), normalised, on images.device.

        All random numbers come from one draw on ``generator`` (on its own device, so a CPU
        generator gives the same views on any device), or on the global generator if None.
        """
        images = _check_images(images)
        cfg, n, device = self.config, images.shape[0], images.device
        on = generator.device if generator is not None else device
        u = torch.rand(n, _GEOMETRY + _COLOUR + 1, generator=generator, device=on).to(device)

        grid = _axis_aligned_grid(self._crop_flip(u[:, :_GEOMETRY], images), cfg.size)
        x = F.grid_sample(
            images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False
        ).flatten(2)  # (n, 3, size * size), in the input's units
        unit = 1 / 255 if images.dtype == torch.uint8 else 1.0
        a, t = self._colour(u[:, _GEOMETRY:-1], x.mean(2) * unit)

        mean, std = x.new_tensor(cfg.mean)[:, None], x.new_tensor(cfg.std)[:, None]  # (3, 1)
        a, t = a * (unit / std), (t[:, :, None] - mean) / std  # normalisation, folded in
        # y = a x + t, as three broadcast passes: bmm is slow for 3x3 matrices on a CPU.
        y = torch.addcmul(t, a[:, :, 0, None], x[:, 0, None])
        y.addcmul_(a[:, :, 1, None], x[:, 1, None]).addcmul_(a[:, :, 2, None], x[:, 2, None])
        y.clamp_(-mean / std, (1 - mean) / std)  # [0, 1] in normalised units
        solar = (u[:, -1] < cfg.solarize_p).nonzero().squeeze(1)
        if solar.numel():  # x >= 0.5 -> 1 - x, in normalised units, on the chosen samples only
            v = y[solar]
            y[solar] = torch.where(v >= (0.5 - mean) / std, (1 - 2 * mean) / std - v, v)
        return y.view(n, 3, cfg.size, cfg.size)

    def two_views(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Two independent views of each image: (view_a, view_b), each (n, 3, size, size)."""
        images = _check_images(images)
        views = self(torch.cat([images, images]), generator)  # one pass for both views
        return views[: images.shape[0]], views[images.shape[0] :]

    def _crop_flip(self, u: Tensor, images: Tensor) -> Tensor:
        """(n, 2, 3) affine maps from output to input coordinates: a random box, maybe mirrored."""
        cfg, aspect = self.config, images.shape[-2] / images.shape[-1]
        tries = u[:, : 2 * _TRIES].view(-1, _TRIES, 2)
        area = cfg.crop_scale[0] + (cfg.crop_scale[1] - cfg.crop_scale[0]) * tries[..., 0]
        log_lo, log_hi = math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])
        ratio = torch.exp(log_lo + (log_hi - log_lo) * tries[..., 1])  # log-uniform, as torchvision
        w = torch.sqrt(area * ratio * aspect)  # box width and height as fractions of the image
        h = torch.sqrt(area / ratio / aspect)
        fits = (w <= 1) & (h <= 1)
        first = fits.to(torch.uint8).argmax(1, keepdim=True)
        w = torch.where(fits.any(1), w.gather(1, first)[:, 0], 1.0)
        h = torch.where(fits.any(1), h.gather(1, first)[:, 0], 1.0)
        cx, cy = w / 2 + (1 - w) * u[:, -3], h / 2 + (1 - h) * u[:, -2]  # box centre in [0, 1]
        flip = torch.where(u[:, -1] < cfg.flip_p, -1.0, 1.0)
        theta = u.new_zeros(u.shape[0], 2, 3)  # in grid_sample's [-1, 1] coordinates
        theta[:, 0, 0], theta[:, 0, 2] = w * flip, 2 * cx - 1
        theta[:, 1, 1], theta[:, 1, 2] = h, 2 * cy - 1
        return theta

    def _colour(self, u: Tensor, mean_rgb: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample colour map y = a x + t: jitter in a random order per sample, then grayscale.

        ``mean_rgb`` (n, 3) is each view's mean colour, which contrast blends towards.
        """
        cfg, n = self.config, u.shape[0]
        eye = torch.eye(3, device=u.device).expand(n, 3, 3)
        gray = u.new_tensor(GRAY_WEIGHTS)
        to_gray = gray.expand(n, 3, 3)  # each output channel = the luma of the input
        on = u[:, 0] < cfg.jitter_p

        def factor(col: int, strength: float) -> Tensor:  # uniform in [1 - s, 1 + s], >= 0
            return torch.where(on, (1 + strength * (2 * u[:, col] - 1)).clamp(min=0), 1.0)

        bright, contrast = factor(1, cfg.brightness), factor(2, cfg.contrast)
        sat = factor(3, cfg.saturation)
        hue = torch.where(on, cfg.hue * (2 * u[:, 4] - 1), 0.0)
        ops = torch.stack(
            [
                bright[:, None, None] * eye,
                contrast[:, None, None] * eye,  # plus an offset that depends on the image so far
                sat[:, None, None] * eye + (1 - sat)[:, None, None] * to_gray,
                _hue_matrix(hue),
            ],
            1,
        )  # (n, 4, 3, 3), in torchvision's numbering of the four steps
        order = u[:, 5:9].argsort(1)  # a random permutation per sample, as in torchvision
        rows = torch.arange(n, device=u.device)
        a, t = eye, u.new_zeros(n, 3)
        for step in range(4):
            op = order[:, step]
            luma_mean = (_matvec(a, mean_rgb) + t) @ gray  # mean gray level of the image so far
            shift = torch.where(op == 1, (1 - contrast) * luma_mean, 0.0)
            m = ops[rows, op]
            a, t = _matmul(m, a), _matvec(m, t) + shift[:, None]
        g = torch.where((u[:, 9] < cfg.grayscale_p)[:, None, None], to_gray, eye)
        return _matmul(g, a), _matvec(g, t)


def _hue_matrix(hue: Tensor) -> Tensor:
    """(n, 3, 3) rotations of RGB by ``hue`` turns about the gray axis k = (1, 1, 1)/sqrt(3).

    Rodrigues' formula: R = cos(a) I + sin(a) [k]x + (1 - cos(a)) k k^T, with a = 2 pi hue.
    """
    angle = 2 * math.pi * hue
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    cross = hue.new_tensor([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / math.sqrt(3)  # [k]x
    outer = hue.new_full((3, 3), 1 / 3)  # k k^T
    return cos * torch.eye(3, device=hue.device) + sin * cross + (1 - cos) * outer


def _axis_aligned_grid(theta: Tensor, size: int) -> Tensor:
    """``F.affine_grid(theta, (n, 3, size, size), align_corners=False)`` for maps that only
    scale and shift each axis, built by broadcasting: affine_grid's batched matmul with 3x2
    matrices costs about as much as the resampling itself on a CPU."""
    base = (2 * torch.arange(size, device=theta.device, dtype=theta.dtype) + 1) / size - 1
    gx = theta[:, 0, 0, None] * base + theta[:, 0, 2, None]  # (n, size): x of each column
    gy = theta[:, 1, 1, None] * base + theta[:, 1, 2, None]  # (n, size): y of each row
    n = theta.shape[0]
    return torch.stack(
        [gx[:, None].expand(n, size, size), gy[:, :, None].expand(n, size, size)], -1
    )


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """(n, 3, 3) @ (n, 3, 3) by broadcasting (cheaper than bmm for tiny matrices on a CPU)."""
    return (a[:, :, :, None] * b[:, None, :, :]).sum(2)


def _matvec(a: Tensor, v: Tensor) -> Tensor:
    """(n, 3, 3) @ (n, 3) by broadcasting."""
    return (a * v[:, None, :]).sum(2)
