"""How good is a representation? Frozen-feature linear probe and kNN, plus baselines.

- **Linear probe** (the usual reading of the source study's accuracy): freeze the encoder,
  standardise its features, fit a multinomial logistic regression on the training split,
  report test accuracy.
- **kNN** (Wu et al. 2018, as in the solo-learn and lightly benchmarks): cosine similarity to
  the training features, the k = 200 nearest vote with weight exp(similarity / 0.1).
- **Baselines**: the same probes on raw pixels and on a randomly initialised encoder show how
  much of the accuracy self-supervised training added.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslteach._checks import check_positive_int
from sslteach.augment import AugmentConfig
from sslteach.data import ImageSet
from sslteach.diagnostics import effective_rank, embedding_std, l2_normalized_std


def prepare_images(images: Tensor, config: AugmentConfig) -> Tensor:
    """Un-augmented model input: uint8 (n, 3, H, W) → float, resized to config.size, normalised."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    if x.shape[-1] != config.size or x.shape[-2] != config.size:
        x = F.interpolate(x, size=(config.size, config.size), mode="bilinear", antialias=True)
    mean = x.new_tensor(config.mean)[:, None, None]
    std = x.new_tensor(config.std)[:, None, None]
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    images: Tensor,
    config: AugmentConfig,
    *,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
) -> Tensor:
    """Frozen features of uint8 ``images`` (n, 3, H, W), float32 on the CPU; eval mode (BN uses
    its running statistics), the encoder's train/eval mode restored afterwards."""
    check_positive_int("batch_size", batch_size)
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        chunks = [
            encoder(prepare_images(images[i : i + batch_size].to(device), config)).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
    finally:
        encoder.train(was_training)
    return torch.cat(chunks)


@torch.no_grad()
def collapse_diagnostics(model: nn.Module, images: Tensor, config: AugmentConfig) -> dict:
    """The collapse diagnostics of a ``SiameseModel`` on un-augmented uint8 ``images``, in eval
    mode (its train/eval mode restored afterwards): effective rank, std and L2-normalised std
    of the embeddings z, and the effective rank of the representations y."""
    was_training = model.training
    model.eval()
    try:
        y, z = model(prepare_images(images, config))
    finally:
        model.train(was_training)
    return {
        "effective_rank": effective_rank(z),
        "embedding_std": embedding_std(z),
        "l2_normalized_std": l2_normalized_std(z),
        "representation_rank": effective_rank(y),
    }


def raw_pixel_features(images: Tensor, config: AugmentConfig) -> Tensor:
    """The flattened, normalised pixels: the baseline every representation must beat."""
    return prepare_images(images, config).flatten(1)


def linear_probe(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    *,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
) -> float:
    """Test accuracy of a multinomial logistic regression fit on standardised train features.

    Full-batch L-BFGS on cross-entropy + weight_decay·||W||²: deterministic, and on these
    sizes (≤ 50k × 512) it converges in seconds on a CPU.
    """
    _check_features(train_features, train_labels, "train")
    _check_features(test_features, test_labels, "test")
    x_train, x_test = train_features.double(), test_features.double()
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-8)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    classifier = nn.Linear(x_train.shape[1], num_classes, dtype=torch.float64)
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    optimizer = torch.optim.LBFGS(
        classifier.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(classifier(x_train), train_labels)
        loss = loss + weight_decay * classifier.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        predictions = classifier(x_test).argmax(1)
    return (predictions == test_labels).double().mean().item()


@torch.no_grad()
def knn_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    *,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> float:
    """Weighted kNN accuracy: the k most cosine-similar train samples vote exp(sim / t)."""
    _check_features(train_features, train_labels, "train")
    _check_features(test_features, test_labels, "test")
    k = min(check_positive_int("k", k), len(train_labels))
    train = F.normalize(train_features.float(), dim=1)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    correct = 0
    for i in range(0, len(test_labels), chunk_size):
        query = F.normalize(test_features[i : i + chunk_size].float(), dim=1)
        similarity, index = (query @ train.T).topk(k, dim=1)  # (m, k)
        votes = torch.zeros(len(query), num_classes)
        votes.scatter_add_(1, train_labels[index], (similarity / temperature).exp())
        correct += (votes.argmax(1) == test_labels[i : i + chunk_size]).sum().item()
    return correct / len(test_labels)


def _check_features(features: Tensor, labels: Tensor, split: str) -> None:
    if features.dim() != 2 or labels.dim() != 1 or len(features) != len(labels):
        raise ValueError(
            f"{split}_features must be (n, d) and {split}_labels (n,), got "
            f"{tuple(features.shape)} and {tuple(labels.shape)}"
        )
    if len(labels) == 0:
        raise ValueError(f"{split}_features is empty; the probe needs labelled samples")


def probe_accuracies(
    train_features: Tensor, train_labels: Tensor, test_features: Tensor, test_labels: Tensor
) -> dict[str, float]:
    """Linear-probe and kNN accuracy of one set of frozen features."""
    return {
        "linear_probe_accuracy": linear_probe(
            train_features, train_labels, test_features, test_labels
        ),
        "knn_accuracy": knn_accuracy(train_features, train_labels, test_features, test_labels),
    }


def evaluate_encoder(
    encoder: nn.Module,
    train_set: ImageSet,
    test_set: ImageSet,
    config: AugmentConfig,
    *,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Linear-probe and kNN test accuracy of ``encoder``'s frozen features."""
    train_features = extract_features(encoder, train_set.images, config, device=device)
    test_features = extract_features(encoder, test_set.images, config, device=device)
    return probe_accuracies(train_features, train_set.labels, test_features, test_set.labels)


def baseline_accuracies(
    random_encoder: nn.Module,
    train_set: ImageSet,
    test_set: ImageSet,
    config: AugmentConfig,
    *,
    device: torch.device | str | None = None,
) -> dict[str, dict[str, float]]:
    """The probes on raw pixels and on an untrained encoder: what SSL has to beat."""
    raw = probe_accuracies(
        raw_pixel_features(train_set.images, config),
        train_set.labels,
        raw_pixel_features(test_set.images, config),
        test_set.labels,
    )
    random = evaluate_encoder(random_encoder, train_set, test_set, config, device=device)
    return {"raw_pixels": raw, "random_init": random}
