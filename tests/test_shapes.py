"""The embedded shapes data set: determinism, format, balance, splits, argument checks."""

import hashlib

import pytest
import torch

from sslteach.data.shapes import CLASSES, generate_shapes, load_shapes

# sha256 of generate_shapes(20, seed=0): images' bytes, then labels' bytes
PINNED_DIGEST = "43a80f3b4acd92339c2685304be6dc3daa1c3414ab59534b4efb323ffcaeb1cb"


def test_classes_are_ten_distinct_names():
    assert len(CLASSES) == 10
    assert len(set(CLASSES)) == 10


def test_format_and_value_range():
    images, labels = generate_shapes(40, seed=1, size=16)
    assert images.shape == (40, 3, 16, 16) and images.dtype == torch.uint8
    assert labels.shape == (40,) and labels.dtype == torch.int64
    assert labels.min() >= 0 and labels.max() < len(CLASSES)
    # every image has a visible shape: its pixels span a real range of values
    spread = images.float().flatten(1).amax(1) - images.float().flatten(1).amin(1)
    assert spread.min() > 60


@pytest.mark.parametrize("size", [12, 24, 32])
def test_other_sizes(size):
    images, _ = generate_shapes(10, size=size)
    assert images.shape == (10, 3, size, size)


def test_same_seed_same_bytes_and_other_seed_differs():
    a_img, a_lab = generate_shapes(30, seed=7)
    b_img, b_lab = generate_shapes(30, seed=7)
    c_img, _ = generate_shapes(30, seed=8)
    assert torch.equal(a_img, b_img) and torch.equal(a_lab, b_lab)
    assert not torch.equal(a_img, c_img)


def test_bytes_are_pinned():
    """The data set is part of the course: notebooks' stored outputs depend on these bytes.

    If this fails after an intended change of the design, update the digest; if it fails on
    another machine, generation is not platform-independent and that needs fixing.
    """
    images, labels = generate_shapes(20, seed=0)
    digest = hashlib.sha256(images.numpy().tobytes() + labels.numpy().tobytes()).hexdigest()
    assert digest == PINNED_DIGEST


@pytest.mark.parametrize("num", [100, 105])
def test_classes_are_balanced(num):
    _, labels = generate_shapes(num, seed=2)
    counts = torch.bincount(labels, minlength=len(CLASSES))
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == num


def test_labels_are_shuffled():
    _, labels = generate_shapes(50, seed=3)
    assert not torch.equal(labels, torch.arange(50) % len(CLASSES))


def test_train_and_test_use_disjoint_streams():
    train, _ = load_shapes("train", num_train=200, num_test=50)
    test, _ = load_shapes("test", num_train=200, num_test=50)
    assert train.shape[0] == 200 and test.shape[0] == 50
    shared = (train.flatten(1)[:, None] == test.flatten(1)[None]).all(-1)
    assert not shared.any()
    # the test split does not depend on the size of the train split
    again, _ = load_shapes("test", num_train=10, num_test=50)
    assert torch.equal(test, again)
    # a different seed gives different splits
    other, _ = load_shapes("test", num_test=50, seed=1)
    assert not torch.equal(test, other)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": 2.5}, "num_images"),
        ({"num_images": 10, "seed": -1}, "seed"),
        ({"num_images": 10, "size": 4}, "size"),
    ],
)
def test_bad_generate_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_shapes(**kwargs)


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        load_shapes("validation")


def test_repeated_loads_are_fresh_copies_of_one_generation():
    """load_shapes remembers its splits (a comparison loads them for every run), but each call
    returns tensors of its own: changing one load cannot change the next."""
    first_images, first_labels = load_shapes("test")
    reference = generate_shapes(2_000, seed=1)
    first_images.zero_()
    first_labels.fill_(-1)
    images, labels = load_shapes("test")
    assert torch.equal(images, reference[0]) and torch.equal(labels, reference[1])
    assert images.data_ptr() != first_images.data_ptr()
