"""Your own images: ``ROOT/train/CLASS/*.png`` and ``ROOT/test/CLASS/*.png`` (any common format).

Images are decoded, converted to RGB and resized to ``size``×``size`` (32 by default, like
CIFAR-10) so that they sit in memory as one uint8 tensor like every other sslteach data set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2.functional import resize

from sslteach.data import ImageSet, check_split

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _class_names(train_dir: Path) -> tuple[str, ...]:
    names = sorted(p.name for p in train_dir.iterdir() if p.is_dir()) if train_dir.is_dir() else []
    if not names:
        raise FileNotFoundError(
            f"no class folders in {train_dir}; arrange images as {train_dir}/<class>/<image>.png"
        )
    return tuple(names)


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
    images, labels = [], []
    for label, name in enumerate(classes):
        class_dir = split_dir / name
        for path in sorted(class_dir.iterdir()) if class_dir.is_dir() else []:
            if path.suffix.lower() not in EXTENSIONS:
                continue
            try:
                with Image.open(path) as file:
                    pixels = np.array(file.convert("RGB"))  # (H, W, 3) uint8
            except (OSError, UnidentifiedImageError) as err:
                raise ValueError(
                    f"cannot decode {path}: {err}; remove or re-save the file"
                ) from err
            image = torch.from_numpy(pixels).permute(2, 0, 1)
            images.append(resize(image, [size, size], antialias=True))
            labels.append(label)
    if not images:
        raise FileNotFoundError(f"no images with extensions {EXTENSIONS} under {split_dir}")
    return ImageSet(torch.stack(images), torch.tensor(labels), classes, f"folder:{root}")
