"""What defines a training run: ``TrainConfig``, per-data-set defaults and named presets.

Precedence, lowest first: ``TrainConfig``'s defaults (the measured recipe for the embedded
``shapes`` data set), ``DATASET_DEFAULTS`` for the data set, a ``PRESETS`` entry, then explicit
arguments. Every checkpoint and metrics.json stores the resulting config in full.

``batch_size`` is the *global* batch: under ``torchrun`` with K processes each one trains on
batch_size / K images per step, so a run means the same thing on 1 or K processes — same
samples per step, same learning rate, same loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from sslteach._checks import check_number, check_positive_int
from sslteach.data import dataset_spec
from sslteach.losses import LOSSES
from sslteach.optim import OPTIMIZERS

PIPELINES = ("batched", "dataloader")
LR_SCALINGS = ("none", "linear")


@dataclass
class TrainConfig:
    """Everything that defines a run; saved in every checkpoint and in metrics.json."""

    method: str = "vicreg"
    dataset: str = "shapes"
    data_root: str = "data"  # where CIFAR-10 is downloaded to, or the image folder itself
    train_images: int | None = None  # train (and fit the probe) on the first N images only
    epochs: int = 8
    batch_size: int = 128  # the global batch, split evenly across torchrun's processes
    lr: float = 4e-3
    lr_scaling: str = "none"  # "linear": the peak lr is lr · batch_size / 256 (see peak_lr)
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.8
    backbone: str = "small-cnn"
    projector: str = "512-512"
    embedding_norm: str = "none"  # "batchnorm" / "shuffled-dbn": Hua et al.'s concise framework
    loss: dict[str, float] = field(default_factory=dict)
    augment: str = ""  # an augmentation preset; "" = the data set's own
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast, on CUDA only
    pipeline: str = "batched"  # "batched": BatchedAugment on the device; "dataloader": torchvision
    workers: int = 2  # DataLoader worker processes of the "dataloader" pipeline
    compile: bool = False  # torch.compile the model: pays off on a GPU, mostly compile time on CPU
    diagnostic_images: int = 512
    preset: str = ""  # the named recipe this config started from, if any
    monitor_images: int = 0  # > 0: probe test accuracy after every epoch, fit on this many images

    def __post_init__(self) -> None:
        if self.method not in LOSSES:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(LOSSES)}")
        dataset_spec(self.dataset)
        accepted = LOSSES[self.method]().hyperparameters()
        for name in self.loss:
            if name not in accepted:
                raise ValueError(
                    f"loss weight {name!r} does not apply to method {self.method} "
                    f"(it takes {', '.join(accepted)})"
                )
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the losses use batch statistics")
        check_number("lr", self.lr, low=0.0, low_inclusive=False)
        check_number("weight_decay", self.weight_decay)
        check_number("warmup_epochs", self.warmup_epochs)
        if self.train_images is not None:
            check_positive_int("train_images", self.train_images)
        if self.monitor_images:
            check_positive_int("monitor_images", self.monitor_images)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        for name, choices in (("pipeline", PIPELINES), ("lr_scaling", LR_SCALINGS)):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
                )
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be a whole number ≥ 0, got {self.workers!r}")

    @property
    def peak_lr(self) -> float:
        """The learning rate the schedule warms up to.

        ``lr_scaling="linear"`` is the linear scaling rule (Goyal et al., 2017) that LARS
        recipes state their lr with: VICReg's and Barlow Twins' base lr is per 256 images, so
        the peak is lr · batch_size / 256, with batch_size the global batch. "none" (default)
        uses ``lr`` as given. Either way the lr does not change with the number of processes.
        """
        return self.lr * self.batch_size / 256 if self.lr_scaling == "linear" else self.lr

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# What differs from the TrainConfig defaults (the shapes recipe) on the other data sets:
# solo-learn's CIFAR-10 VICReg recipe (ResNet-18, 2048-2048-2048 projector, LARS lr 0.3).
DATASET_DEFAULTS: dict[str, dict] = {
    "cifar10": {
        "epochs": 100,
        "backbone": "resnet18",
        "projector": "2048-2048-2048",
        "optimizer": "lars",
        "lr": 0.3,
        "weight_decay": 1e-4,
        "warmup_epochs": 10.0,
    },
}
DATASET_DEFAULTS["folder"] = DATASET_DEFAULTS["cifar10"]

# The source study's best loss weights (λ = 20, μ = 25, ν = 1), for the methods that have them.
STUDY_WEIGHTS: dict[str, dict[str, float]] = {
    "vicreg": {"lambda_": 20.0, "mu": 25.0, "nu": 1.0},
    "vicreg-tico": {"lambda_": 20.0, "mu": 25.0},
}

# Named recipes, per data set, on top of DATASET_DEFAULTS. "study": the study's weights and a
# short budget like its own (its exact schedule is not recorded; 10 epochs here). "reference":
# solo-learn's CIFAR-10 schedule (1000 epochs, LARS, 10 warm-up epochs) for users with a GPU.
# On shapes both keep the measured shapes recipe; "study" still brings the study's weights.
PRESETS: dict[str, dict[str, dict]] = {
    "study": {"cifar10": {"epochs": 10, "batch_size": 256, "warmup_epochs": 1.0}},
    "reference": {"cifar10": {"epochs": 1000, "batch_size": 256, "warmup_epochs": 10.0}},
}


def make_config(
    dataset: str = "shapes", method: str = "vicreg", preset: str = "", **overrides
) -> TrainConfig:
    """A ``TrainConfig``: defaults, then ``dataset``'s, then ``preset``'s, then ``overrides``.

    A ``loss`` given in ``overrides`` is merged into the preset's loss weights, not replacing them.
    """
    dataset_spec(dataset)  # a clear error for an unknown name
    if preset and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = {**DATASET_DEFAULTS.get(dataset, {})}
    loss: dict[str, float] = {}
    if preset:
        values.update(PRESETS[preset].get(dataset, {}))
        if preset == "study":
            loss.update(STUDY_WEIGHTS.get(method, {}))
    loss.update(overrides.pop("loss", {}))
    values.update(overrides)
    return TrainConfig(dataset=dataset, method=method, preset=preset, loss=loss, **values)
