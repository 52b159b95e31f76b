"""Your own images: ``ROOT/train/CLASS/*.png`` and ``ROOT/test/CLASS/*.png`` (any common format).

Images are decoded, converted to RGB and resized to ``size``×``size`` (32 by default, like
CIFAR-10) so that they sit in memory as one uint8 tensor like every other sslteach data set.
16-bit images are scaled to 8 bits (not clipped); an image larger than Pillow's decompression-
bomb limit (about 179 megapixels) is refused with its file name.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2.functional import resize

from sslteach.data.imageset import ImageSet, check_split

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _class_names(train_dir: Path) -> tuple[str, ...]:
    names = sorted(p.name for p in train_dir.iterdir() if p.is_dir()) if train_dir.is_dir() else []
    if not names:
        raise FileNotFoundError(
            f"no class folders in {train_dir}; arrange images as {train_dir}/<class>/<image>.png"
        )
    return tuple(names)


def _read_rgb(path: Path) -> np.ndarray:
    """The image at ``path`` as (H, W, 3) uint8, 16-bit channels scaled down to 8 bits."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as file:
                if file.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit (or 32-bit) gray
                    gray = np.asarray(file, dtype=np.float64)
                    top = 65535.0 if file.mode.startswith("I;16") or gray.max() > 255 else 255.0
                    gray = np.clip(np.round(gray * 255.0 / top), 0, 255).astype(np.uint8)
                    return np.repeat(gray[:, :, None], 3, axis=2)
                return np.array(file.convert("RGB"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ValueError(
            f"{path} is too large to decode safely ({err}); downscale it first"
        ) from err
    except (OSError, UnidentifiedImageError) as err:
        raise ValueError(f"cannot decode {path}: {err}; remove or re-save the file") from err


def load_image_folder(split: str, root: str | Path, *, size: int = 32) -> ImageSet:
    """Images under ``root/split/<class>/``; the class names are the sorted folder names."""
    check_split(split)
    root = Path(root)
    split_dir = root / split
    classes = _class_names(root / "train")  # both splits label classes by the train folders
    if not split_dir.is_dir():
        raise FileNotFoundError(
            f"{split_dir} is missing; arrange images as {split_dir}/<class>/*.png"
        )
    foreign = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and p.name not in classes)
    if foreign:
        raise ValueError(
            f"{split_dir} has class folders that {root / 'train'} lacks ({', '.join(foreign)}); "
            "every class needs training images, so add them there or remove these folders"
        )
    images, labels = [], []
    for label, name in enumerate(classes):
        class_dir = split_dir / name
        for path in sorted(class_dir.iterdir()) if class_dir.is_dir() else []:
            if path.suffix.lower() not in EXTENSIONS:
                continue
            image = torch.from_numpy(_read_rgb(path)).permute(2, 0, 1)
            images.append(resize(image, [size, size], antialias=True))
            labels.append(label)
    if not images:
        raise FileNotFoundError(f"no images with extensions {EXTENSIONS} under {split_dir}")
    return ImageSet(torch.stack(images), torch.tensor(labels), classes, f"folder:{root}")
