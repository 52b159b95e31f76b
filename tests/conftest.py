"""Shared fixtures: small data sets that tests build themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sslteach.data import ImageSet

from cifar_format import write_cifar10_batches


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    write_cifar10_batches(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_shapes() -> tuple[ImageSet, ImageSet]:
    """384 training and 200 test images of the embedded data set."""
    from sslteach.data.shapes import CLASSES, generate_shapes

    train = ImageSet(*generate_shapes(384, seed=101), CLASSES, "shapes")
    test = ImageSet(*generate_shapes(200, seed=202), CLASSES, "shapes")
    return train, test


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(2)
