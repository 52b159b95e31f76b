"""Small CIFAR-10 files in the official python format, for the loader's tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_cifar10_batches(root: Path, per_batch: int = 20, test_size: int = 20, seed: int = 0):
    """Write CIFAR-10's official python-format batches (small) under root/cifar-10-batches-py."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        count = test_size if name == "test_batch" else per_batch
        data = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=count)]
        batch = {"batch_label": name, "labels": labels, "data": data, "filenames": [""] * count}
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f)
        written[name] = (data, labels)
    meta = {
        "label_names": [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ],
        "num_cases_per_batch": per_batch,
    }
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump(meta, f)
    return written
