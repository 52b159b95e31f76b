"""Encoders, the projector and the siamese (joint-embedding) model.

    x ──encoder──▶ y (representation, kept for downstream tasks)
                   └──projector──▶ z (embedding, where the SSL loss acts)

Both views of an image go through the *same* encoder and projector (shared weights): that is
what makes the network siamese, and why it can collapse — mapping every input to one point
satisfies "the two views agree" perfectly.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from torch import Tensor, nn
from torchvision.models import resnet18

from sslteach._checks import check_positive_int


def conv_block(in_channels: int, out_channels: int, pool: bool) -> nn.Sequential:
    """3×3 conv → BatchNorm → ReLU, then a 2×2 max-pool that halves the resolution if ``pool``.

    The conv has no bias: the BatchNorm right after it subtracts any constant anyway.
    """
    layers = [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


class SmallCNN(nn.Module):
    """Conv blocks (max-pool after all but the last) and global average pooling.

    Sized by measurement for CPU training on 16×16 ``shapes``: 32-64-128 channels see
    16×16, 8×8 and 4×4 maps; about 95k parameters.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128), in_channels: int = 3) -> None:
        super().__init__()
        if not widths:
            raise ValueError("widths must name at least one conv block, e.g. (32, 64, 128)")
        channels = (in_channels, *widths)
        last = len(widths) - 1
        self.blocks = nn.Sequential(
            *(conv_block(a, b, pool=i < last) for i, (a, b) in enumerate(pairwise(channels)))
        )
        self.output_dim = widths[-1]

    def forward(self, x: Tensor) -> Tensor:  # (n, 3, h, w) -> (n, widths[-1])
        return self.blocks(x).mean(dim=(2, 3))


def resnet18_cifar() -> nn.Module:
    """ResNet-18 with the CIFAR stem: a 3×3 stride-1 first conv and no max-pool (512-d output).

    32×32 images would be shrunk to 8×8 by ImageNet's 7×7/2 conv and max-pool before the first
    residual block; every CIFAR-10 SSL benchmark in the literature uses this stem instead.
    """
    net = resnet18()
    net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    net.output_dim = 512
    return net


BACKBONES: dict[str, Callable[[], nn.Module]] = {"small-cnn": SmallCNN, "resnet18": resnet18_cifar}


def build_backbone(name: str) -> nn.Module:
    """The encoder called ``name`` (a key of ``BACKBONES``); it has an ``output_dim`` attribute."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name]()


def parse_widths(spec: str) -> tuple[int, ...]:
    """``"2048-2048-2048"`` → (2048, 2048, 2048)."""
    try:
        widths = tuple(int(part) for part in spec.split("-"))
    except ValueError:
        widths = ()
    if not widths or any(w < 1 for w in widths):
        raise ValueError(
            f"projector must be layer widths joined by '-', e.g. '2048-2048-2048', got {spec!r}"
        )
    return widths


class Projector(nn.Sequential):
    """MLP  Linear → BN → ReLU → … → Linear, as in VICReg: no BN/ReLU after the last layer.

    Hidden Linear layers have no bias, since the BatchNorm after them removes it.
    """

    def __init__(self, in_dim: int, spec: str = "512-512") -> None:
        check_positive_int("in_dim", in_dim)
        widths = parse_widths(spec)
        dims = (in_dim, *widths)
        layers: list[nn.Module] = []
        for a, b in pairwise(dims[:-1]):
            layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(dims[-2], dims[-1]))
        super().__init__(*layers)
        self.output_dim = widths[-1]


EMBEDDING_NORMS = ("none", "batchnorm", "shuffled-dbn")


def embedding_norm(name: str, dim: int, num_groups: int = 4) -> nn.Module:
    """The normalisation at the end of Hua et al.'s concise framework.

    "none" lets an invariance-only loss collapse completely; "batchnorm" (standardise each
    dimension) prevents that but leaves dimensional collapse; "shuffled-dbn" (whiten groups
    of dimensions) prevents both. Hua et al., "On Feature Decorrelation in SSL", ICCV 2021.
    """
    from sslteach.whitening import ShuffledDBN

    if name == "none":
        return nn.Identity()
    if name == "batchnorm":
        return nn.BatchNorm1d(dim, affine=False)
    if name == "shuffled-dbn":
        return ShuffledDBN(num_groups)
    raise ValueError(f"unknown embedding norm {name!r}; choose one of {', '.join(EMBEDDING_NORMS)}")


class SiameseModel(nn.Module):
    """Encoder + projector shared by both views; ``forward`` returns (representation, embedding).

    A method with a trainable head (SimSiam's and BYOL's predictor q) gets it as ``predictor``:
    ``forward(x, predict=True)`` then returns (y, z, q(z)). Keeping the head inside the model
    lets one optimiser, one DDP wrapper and one checkpoint entry cover every trained weight.
    """

    def __init__(
        self, encoder: nn.Module, projector: nn.Module, predictor: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = projector
        self.predictor = predictor

    def forward(self, x: Tensor, predict: bool = False) -> tuple[Tensor, ...]:
        y = self.encoder(x)  # (n, representation_dim)
        z = self.projector(y)  # (n, embedding_dim)
        if not predict:
            return y, z
        if self.predictor is None:
            raise ValueError("predict=True needs a model built with a predictor")
        return y, z, self.predictor(z)  # prediction: (n, embedding_dim)


def build_model(
    backbone: str = "small-cnn",
    projector: str = "512-512",
    norm: str = "none",
    predictor: Callable[[int], nn.Module | None] | None = None,
) -> SiameseModel:
    """A ``SiameseModel`` from a backbone name, a projector spec such as ``"2048-2048-2048"``,
    an optional normalisation of the embedding (see ``embedding_norm``) and an optional
    ``predictor`` factory, called with the embedding width (``SSLLoss.build_predictor``)."""
    encoder = build_backbone(backbone)
    head = Projector(encoder.output_dim, projector)
    dim = head.output_dim
    if norm != "none":
        head = nn.Sequential(head, embedding_norm(norm, dim))
    return SiameseModel(encoder, head, predictor(dim) if predictor else None)
