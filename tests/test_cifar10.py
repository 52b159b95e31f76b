"""The CIFAR-10 loader on small files in the official python format, written by the tests."""

from __future__ import annotations

import hashlib
import tarfile

import numpy as np
import pytest
import torch

from sslteach.data import cifar10, load_dataset
from sslteach.data.cifar10 import CIFAR10Unavailable, load_cifar10

from cifar_format import write_cifar10_batches


def test_reads_the_official_format_pixel_for_pixel(tmp_path):
    written = write_cifar10_batches(tmp_path, per_batch=7, test_size=5)
    train = load_cifar10("train", tmp_path)
    test = load_cifar10("test", tmp_path)
    assert train.images.shape == (35, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (5, 3, 32, 32) and test.labels.dtype == torch.int64
    # Each row is 1024 red, then 1024 green, then 1024 blue values, row-major.
    data, labels = written["data_batch_2"]
    image = train.images[7 + 3]
    assert image[0, 0, 0] == data[3, 0] and image[1, 0, 0] == data[3, 1024]
    assert image[2, 31, 31] == data[3, 3071] and image[0, 1, 2] == data[3, 32 + 2]
    assert train.labels[7 + 3] == labels[3]
    assert train.classes[0] == "airplane" and len(train.classes) == 10


def test_registry_loads_cifar10_from_the_data_folder(cifar_root):
    train = load_dataset("cifar10", "train", cifar_root)
    assert len(train) == 100 and train.name == "cifar10"


def test_unpacks_an_archive_after_checking_its_md5(tmp_path, monkeypatch):
    source = tmp_path / "source"
    write_cifar10_batches(source)
    root = tmp_path / "data"
    root.mkdir()
    archive = root / cifar10.ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / cifar10.FOLDER, arcname=cifar10.FOLDER)
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    assert len(load_cifar10("test", root)) == 20
    assert (root / cifar10.FOLDER / "test_batch").is_file()


def test_corrupt_archive_names_the_fix(tmp_path):
    (tmp_path / cifar10.ARCHIVE).write_bytes(b"not really a tarball")
    with pytest.raises(ValueError, match=r"corrupt or incomplete.*delete it"):
        load_cifar10("train", tmp_path)


def test_failed_download_says_where_to_put_the_archive(tmp_path, monkeypatch):
    def offline(root):
        raise OSError("network is unreachable")

    monkeypatch.setattr(cifar10, "_download", offline)
    with pytest.raises(CIFAR10Unavailable, match="network is unreachable") as err:
        load_cifar10("train", tmp_path / "data")
    message = str(err.value)
    assert "cifar-10-python.tar.gz" in message and "--dataset shapes" in message
    assert str((tmp_path / "data").resolve()) in message


def test_is_available_looks_without_downloading(tmp_path, cifar_root):
    assert cifar10.is_available(cifar_root)
    assert not cifar10.is_available(tmp_path / "empty")
    archive_only = tmp_path / "archive-only"
    archive_only.mkdir()
    (archive_only / cifar10.ARCHIVE).write_bytes(b"")
    assert cifar10.is_available(archive_only)


def test_no_download_when_disabled(tmp_path):
    with pytest.raises(CIFAR10Unavailable, match="download is disabled"):
        load_cifar10("train", tmp_path, download=False)


def test_corrupt_batch_names_the_file(cifar_root):
    (cifar_root / cifar10.FOLDER / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="data_batch_3 is not a CIFAR-10 batch"):
        load_cifar10("train", cifar_root)


def test_wrong_shape_batch_is_rejected(cifar_root):
    import pickle

    bad = {"data": np.zeros((4, 100), dtype=np.uint8), "labels": [0, 1, 2, 3]}
    (cifar_root / cifar10.FOLDER / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(ValueError, match=r"not \(n, 3072\) uint8"):
        load_cifar10("test", cifar_root)


def test_missing_batch_and_bad_split(cifar_root):
    (cifar_root / cifar10.FOLDER / "data_batch_5").unlink()
    with pytest.raises(CIFAR10Unavailable, match="data_batch_5 is missing"):
        load_cifar10("train", cifar_root)
    with pytest.raises(ValueError, match="split must be one of train, test"):
        load_cifar10("validation", cifar_root)
