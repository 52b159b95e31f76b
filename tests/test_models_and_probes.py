"""Models, optimisers, the image-folder loader and the probes, each against what it promises."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from sslteach.data import load_dataset
from sslteach.evaluate import knn_accuracy, linear_probe
from sslteach.models import Projector, build_model, parse_widths, resnet18_cifar
from sslteach.optim import LARS, build_optimizer, parameter_groups


def test_projector_follows_vicreg_layout():
    projector = Projector(128, "256-256-64")
    kinds = [type(m).__name__ for m in projector]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert projector.output_dim == 64 and projector[-1].bias is not None
    assert projector(torch.randn(4, 128)).shape == (4, 64)


@pytest.mark.parametrize("spec", ["", "512-", "a-b", "0-32", "-5"])
def test_bad_projector_spec_shows_an_example(spec):
    with pytest.raises(ValueError, match=r"e\.g\. '2048-2048-2048'"):
        parse_widths(spec)


def test_resnet18_has_the_cifar_stem():
    net = resnet18_cifar()
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 512)


def test_siamese_model_shares_weights_between_views():
    model = build_model("small-cnn", "64-32").eval()
    x = torch.randn(3, 3, 16, 16)
    y1, z1 = model(x)
    _, z2 = model(x.clone())
    assert y1.shape == (3, 128) and z1.shape == (3, 32)
    torch.testing.assert_close(z1, z2)


@pytest.mark.parametrize("norm", ["batchnorm", "shuffled-dbn"])
def test_embedding_norm_standardises_the_embedding(norm):
    model = build_model("small-cnn", "64-32", norm=norm).train()
    _, z = model(torch.randn(64, 3, 16, 16))
    std = z.std(0)
    assert torch.allclose(std, torch.ones_like(std), atol=0.05)
    with pytest.raises(ValueError, match="unknown embedding norm"):
        build_model("small-cnn", "64-32", norm="layernorm")


def test_lars_trust_ratio_matches_the_official_update():
    layer = torch.nn.Linear(4, 3)
    groups = parameter_groups(layer, weight_decay=0.1)
    optimizer = LARS(groups, lr=0.5, momentum=0.0, eta=0.02)
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    layer(torch.randn(5, 4)).pow(2).sum().backward()
    g_w, g_b = layer.weight.grad.clone(), layer.bias.grad.clone()
    optimizer.step()
    update = g_w + 0.1 * w0
    trust = 0.02 * w0.norm() / update.norm()
    torch.testing.assert_close(layer.weight, w0 - 0.5 * trust * update)
    torch.testing.assert_close(layer.bias, b0 - 0.5 * g_b)  # no decay, no trust ratio


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
        build_optimizer("adagrad", torch.nn.Linear(2, 2), 0.1, 0.0)


def test_image_folder_loader(tmp_path):
    for split, count in (("train", 3), ("test", 2)):
        for name in ("cats", "dogs"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = torch.randint(0, 256, (20, 24, 3), dtype=torch.uint8).numpy()
                Image.fromarray(pixels).save(folder / f"{i}.png")
    (tmp_path / "train" / "cats" / "notes.txt").write_text("not an image")
    train = load_dataset("folder", "train", tmp_path)
    test = load_dataset("folder", "test", tmp_path)
    assert train.images.shape == (6, 3, 32, 32) and train.classes == ("cats", "dogs")
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1] and len(test) == 4
    with pytest.raises(FileNotFoundError, match="arrange images as"):
        load_dataset("folder", "train", tmp_path / "missing")


def test_linear_probe_separates_separable_classes():
    g = torch.Generator().manual_seed(0)
    centres = 5 * torch.randn(4, 16, generator=g)
    labels = torch.arange(400) % 4
    features = centres[labels] + torch.randn(400, 16, generator=g)
    assert linear_probe(features[:300], labels[:300], features[300:], labels[300:]) == 1.0
    noise = torch.randn(400, 16, generator=g)
    assert linear_probe(noise[:300], labels[:300], noise[300:], labels[300:]) < 0.45


def test_knn_matches_a_brute_force_vote():
    g = torch.Generator().manual_seed(1)
    train, test = torch.randn(50, 8, generator=g), torch.randn(20, 8, generator=g)
    train_labels, test_labels = (
        torch.randint(0, 3, (50,), generator=g),
        torch.randint(0, 3, (20,), generator=g),
    )
    k, t = 7, 0.1
    correct = 0
    for x, label in zip(test, test_labels, strict=True):
        sims = torch.nn.functional.cosine_similarity(x[None], train)
        top = sims.argsort(descending=True)[:k]
        votes = torch.zeros(3)
        for j in top:
            votes[train_labels[j]] += torch.exp(sims[j] / t)
        correct += int(votes.argmax() == label)
    expected = correct / 20
    assert knn_accuracy(
        train, train_labels, test, test_labels, k=k, temperature=t
    ) == pytest.approx(expected)
    with pytest.raises(ValueError, match="train_features must be"):
        knn_accuracy(train, train_labels[:10], test, test_labels)
