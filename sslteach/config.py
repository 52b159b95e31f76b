"""What defines a training run: ``TrainConfig``, per-data-set and per-method defaults, presets.

Precedence, lowest first: ``TrainConfig``'s defaults (the measured recipe for the embedded
``shapes`` data set), ``DATASET_DEFAULTS`` for the data set, the method's own
``train_defaults`` (declared in its loss file: BYOL's momentum, W-MSE's narrow projector), a
``PRESETS`` entry, then explicit arguments. Every checkpoint and metrics.json stores the
resulting config in full.

``batch_size`` is the *global* batch: under ``torchrun`` with K processes each one trains on
batch_size / K images per step, so a run means the same thing on 1 or K processes — same
samples per step, same learning rate, same loss.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace

from sslteach._checks import check_number, check_positive_int
from sslteach.augment import AugmentConfig, augment_preset
from sslteach.data import dataset_spec
from sslteach.losses import build_loss, loss_class, method_hyperparameters
from sslteach.models import SiameseModel, build_model, parse_widths
from sslteach.momentum import SCHEDULES
from sslteach.optim import OPTIMIZERS
from sslteach.study import STUDY_WEIGHTS

PIPELINES = ("batched", "dataloader")
LR_SCALINGS = ("none", "linear")
SHUFFLED_DBN_GROUPS = 4  # --embedding-norm shuffled-dbn whitens 4 groups of dimensions
# What may differ when a run is resumed: where and how it runs, not what it computes.
RESUMABLE = ("device", "data_root", "workers", "compile")


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
    momentum: float = 0.0  # > 0: an EMA target network, τ from momentum towards 1 (BYOL)
    momentum_schedule: str = "cosine"  # or "constant"
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
        accepted = method_hyperparameters(self.method)  # a clear error for an unknown method
        dataset_spec(self.dataset)
        if not isinstance(self.loss, dict):
            raise TypeError(f"loss must be a dict of hyperparameters, got {self.loss!r}")
        for name in self.loss:
            if name not in accepted:
                raise ValueError(
                    f"loss weight {name!r} does not apply to method {self.method} "
                    f"(it takes {', '.join(accepted) or 'no hyperparameters'})"
                )
        build_loss(self.method, **self.loss)  # the loss checks its own values
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the losses use batch statistics")
        check_number("lr", self.lr, low=0.0, low_inclusive=False)
        check_number("weight_decay", self.weight_decay)
        check_number("warmup_epochs", self.warmup_epochs)
        check_number("momentum", self.momentum, high=1.0, high_inclusive=False)
        if self.train_images is not None:
            check_positive_int("train_images", self.train_images)
        if self.monitor_images:  # 0 = off
            check_positive_int("monitor_images", self.monitor_images)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        for name, choices in (
            ("pipeline", PIPELINES),
            ("lr_scaling", LR_SCALINGS),
            ("momentum_schedule", SCHEDULES),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
                )
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        cores = os.cpu_count() or 1
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be a whole number ≥ 0, got {self.workers!r}")
        if self.workers > cores:
            raise ValueError(
                f"workers={self.workers} is more than this machine's {cores} cores; "
                f"use --workers {cores} or fewer"
            )
        width = parse_widths(self.projector)[-1]
        if self.embedding_norm == "shuffled-dbn" and width % SHUFFLED_DBN_GROUPS:
            raise ValueError(
                f"--embedding-norm shuffled-dbn whitens {SHUFFLED_DBN_GROUPS} groups of "
                f"dimensions, so the projector's last width must be a multiple of "
                f"{SHUFFLED_DBN_GROUPS}, got {width} (--projector {self.projector})"
            )

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
    """A ``TrainConfig``: defaults, then ``dataset``'s, the method's, ``preset``'s, ``overrides``.

    A ``loss`` given in ``overrides`` is merged into the preset's loss weights, not replacing them.
    """
    dataset_spec(dataset)  # a clear error for an unknown name
    if preset and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    own = loss_class(method).train_defaults
    values = {**DATASET_DEFAULTS.get(dataset, {}), **own.get("all", {}), **own.get(dataset, {})}
    loss: dict[str, float] = {}
    if preset:
        values.update(PRESETS[preset].get(dataset, {}))
        if preset == "study":
            loss.update(STUDY_WEIGHTS.get(method, {}))
    loss.update(overrides.pop("loss", {}))
    values.update(overrides)
    return TrainConfig(dataset=dataset, method=method, preset=preset, loss=loss, **values)


def flag_for(name: str, method: str | None = None) -> str:
    """The command-line flag of a TrainConfig field or of a hyperparameter of ``method``."""
    if method and name in method_hyperparameters(method):
        return method_hyperparameters(method)[name].flag
    return "--data-dir" if name == "data_root" else "--" + name.replace("_", "-")


def resume_config(config: TrainConfig, changes: dict) -> TrainConfig:
    """The recorded ``config`` of a run to resume, with ``changes`` (field → value, ``loss`` →
    its hyperparameters) that only say where and how it runs (``RESUMABLE``). Any other change
    would make the continued run a different one, and is refused naming the flag."""
    values = asdict(config)
    for name, value in changes.items():
        if name == "loss":
            declared = method_hyperparameters(config.method)
            for hyper, given in value.items():
                if hyper not in declared:
                    raise ValueError(
                        f"{flag_for(hyper)} does not apply to --method {config.method}"
                    )
                recorded_value = config.loss.get(hyper, declared[hyper].default)
                if recorded_value != given:
                    _refuse(flag_for(hyper, config.method), given, recorded_value)
        elif name not in RESUMABLE and values[name] != value:
            _refuse(flag_for(name), value, values[name])
    return replace(config, **{k: v for k, v in changes.items() if k in RESUMABLE})


def _refuse(flag: str, given: object, recorded: object) -> None:
    raise ValueError(
        f"{flag} {given} differs from the run being resumed, which was recorded with "
        f"{recorded}; drop {flag} to continue that run exactly, or start a new run in another "
        "--out"
    )


def model_for(config: TrainConfig) -> SiameseModel:
    """A freshly initialised model as ``config`` describes it, with its method's predictor."""
    predictor = build_loss(config.method, **config.loss).build_predictor
    return build_model(config.backbone, config.projector, config.embedding_norm, predictor)


def augment_config_for(config: TrainConfig) -> AugmentConfig:
    """The run's augmentation recipe: ``config.augment``, else its data set's preset."""
    return augment_preset(config.augment or dataset_spec(config.dataset).augment_preset)
