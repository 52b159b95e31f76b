"""The command line's flags, derived from ``TrainConfig`` and the registered losses.

The loss flags are read from the losses' constructors each time the parser is built
(``lambda_`` → ``--lambda``), so a method added to ``sslteach.losses.LOSSES`` has its flags at
once. Run flags default to None, so that what the user typed is known (``--resume`` refuses
flags that would change the run); ``make_config`` fills in the rest.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from sslteach import __version__
from sslteach.config import LR_SCALINGS, PIPELINES, PRESETS, TrainConfig, make_config
from sslteach.data import DATASETS
from sslteach.losses import LOSSES, Hyperparameter, hyperparameters_of, method_hyperparameters
from sslteach.models import BACKBONES, EMBEDDING_NORMS
from sslteach.momentum import SCHEDULES
from sslteach.optim import OPTIMIZERS

# TrainConfig fields set by a flag of the same name (``batch_size`` ← ``--batch-size``).
CONFIG_FLAGS = (
    "dataset",
    "seed",
    "device",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "backbone",
    "projector",
    "embedding_norm",
    "train_images",
    "momentum",
    "momentum_schedule",
    "lr_scaling",
    "pipeline",
    "workers",
    "compile",
)
HYPER = "hyper_"  # argparse dest prefix of the loss flags, apart from the run's own


def loss_flags() -> dict[str, list[tuple[str, Hyperparameter]]]:
    """Every registered method's hyperparameters by flag: ``--lambda`` → [(vicreg, λ), …]."""
    flags = defaultdict(list)
    for method, cls in LOSSES.items():
        for hyperparameter in hyperparameters_of(cls).values():
            flags[hyperparameter.flag].append((method, hyperparameter))
    return dict(flags)


def _add_loss_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("loss hyperparameters (defaults: each method's own)")
    for flag, users in loss_flags().items():
        kinds = {h.type for _, h in users}
        if bool in kinds and len(kinds) > 1:
            raise TypeError(f"{flag} is a switch for one method and a number for another")
        by_help = defaultdict(list)
        for method, h in users:
            default = ("on" if h.default else "off") if h.type is bool else f"{h.default:g}"
            by_help[h.help or h.symbol].append(f"{method} {default}")
        text = "; ".join(f"{help} ({', '.join(uses)})" for help, uses in by_help.items())
        dest = HYPER + flag[2:].replace("-", "_")
        try:
            if kinds == {bool}:
                group.add_argument(
                    flag, dest=dest, action=argparse.BooleanOptionalAction, help=text
                )
            else:
                kind = int if kinds == {int} else float
                metavar = flag[2:].upper().replace("-", "_")
                group.add_argument(flag, dest=dest, type=kind, metavar=metavar, help=text)
        except argparse.ArgumentError as err:
            names = ", ".join(sorted({m for m, _ in users}))
            raise TypeError(
                f"the hyperparameter behind {flag} ({names}) clashes with a flag of the run; "
                "rename the constructor argument"
            ) from err


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Everything that defines a run, shared by train, compare and sweep. Defaults are None
    here and filled in by ``make_config``, so that what the user typed is known (--resume)."""
    d = TrainConfig()
    p.add_argument("--dataset", choices=list(DATASETS), help=f"default: {d.dataset}")
    p.add_argument(
        "--data-dir",
        help=f"CIFAR-10's download folder, or the folder of --dataset folder ({d.data_root})",
    )
    p.add_argument("--preset", choices=list(PRESETS), help="a named recipe (see README)")
    p.add_argument("--epochs", type=int, help=f"default: {d.epochs} on shapes")
    p.add_argument(
        "--batch-size",
        type=int,
        help=f"the global batch; torchrun's K processes take 1/K each (default: {d.batch_size} "
        "on shapes)",
    )
    p.add_argument("--lr", type=float, help=f"peak learning rate (default: {d.lr} on shapes)")
    p.add_argument(
        "--lr-scaling",
        choices=LR_SCALINGS,
        help="linear: peak lr = lr × batch size / 256, as LARS recipes state it (default: none)",
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--backbone", choices=list(BACKBONES))
    p.add_argument("--projector", help="layer widths, e.g. 2048-2048-2048")
    p.add_argument(
        "--embedding-norm",
        choices=EMBEDDING_NORMS,
        help="normalise the embedding (Hua et al.'s concise framework; default: none)",
    )
    p.add_argument("--train-images", type=int, help="use only the first N training images")
    p.add_argument(
        "--momentum",
        type=float,
        help="> 0: a momentum (EMA) target network for the second view, τ from this value "
        "towards 1 (BYOL; default: 0, off; byol 0.99, 0.8 on shapes)",
    )
    p.add_argument("--momentum-schedule", choices=SCHEDULES, help="default: cosine")
    _add_loss_arguments(p)
    p.add_argument("--seed", type=int, help=f"default: {d.seed}")
    p.add_argument("--device", help="auto, cpu or cuda (default: auto)")
    p.add_argument(
        "--pipeline",
        choices=PIPELINES,
        help="batched: augment whole batches on the device (default, fast); dataloader: "
        "torchvision per sample in DataLoader workers, for comparison",
    )
    p.add_argument("--workers", type=int, help=f"DataLoader workers (default: {d.workers})")
    p.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile the model (pays off on a GPU; on a CPU mostly compile time)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    runs = p.add_mutually_exclusive_group()
    runs.add_argument(
        "--resume",
        action="store_true",
        help="continue the run(s) saved in --out exactly, with their own config; compare and "
        "sweep skip the runs that finished",
    )
    runs.add_argument("--overwrite", action="store_true", help="replace a run saved in --out")
    p.add_argument("--out", required=True, help="output folder")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sslteach",
        description="Learn self-supervised learning (VICReg, Barlow Twins, TiCo, SimCLR, …) by "
        "running it.",
    )
    parser.add_argument("--version", action="version", version=f"sslteach {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train a method, then evaluate it")
    train.add_argument("--method", choices=list(LOSSES), help="default: vicreg")
    _add_run_arguments(train)
    train.add_argument(
        "--baselines", action="store_true", help="also probe raw pixels and a random-init encoder"
    )

    compare = commands.add_parser("compare", help="the study's table: several methods, one budget")
    compare.add_argument(
        "--methods",
        default="tico,vicreg-tico,vicreg",
        help=f"comma-separated, from {', '.join(LOSSES)} (default: %(default)s, the study's)",
    )
    compare.add_argument(
        "--seeds", type=int, help="train each method with seeds 0 … N−1; mean and std per metric"
    )
    _add_run_arguments(compare)

    sweep = commands.add_parser("sweep", help="training curves for several values of one setting")
    sweep.add_argument("--method", choices=list(LOSSES), help="default: vicreg")
    sweep.add_argument(
        "--param", required=True, help="a setting (lr, batch-size, …) or a loss hyperparameter"
    )
    sweep.add_argument("--values", required=True, help="comma-separated, e.g. 1e-3,4e-3,1e-2")
    sweep.add_argument(
        "--monitor-images", type=int, default=2000, help="probe fit size per epoch (%(default)s)"
    )
    _add_run_arguments(sweep)

    evaluate = commands.add_parser("eval", help="re-evaluate a checkpoint")
    evaluate.add_argument("--checkpoint", required=True, help="DIR/checkpoint.pt")
    evaluate.add_argument("--device", default="auto")
    return parser


def given_settings(args: argparse.Namespace) -> dict:
    """The TrainConfig fields the user set on the command line."""
    given = {f: getattr(args, f) for f in CONFIG_FLAGS if getattr(args, f) is not None}
    if args.data_dir is not None:
        given["data_root"] = args.data_dir
    return given


def given_hyperparameters(args: argparse.Namespace) -> dict[str, float]:
    """The loss hyperparameters the user set, by constructor name ({"lambda_": 20.0})."""
    given = {}
    for flag, users in loss_flags().items():
        value = getattr(args, HYPER + flag[2:].replace("-", "_"))
        if value is not None:
            given[users[0][1].name] = value
    return given


def config_from_args(args: argparse.Namespace, method: str, *, strict: bool = True) -> TrainConfig:
    """The run ``args`` describe for ``method``. Loss flags the method does not take are an
    error when ``strict`` (train, sweep), and skipped otherwise (compare applies each flag to
    the methods that take it)."""
    accepted = method_hyperparameters(method)
    loss = {}
    for name, value in given_hyperparameters(args).items():
        if name in accepted:
            loss[name] = value
        elif strict:
            options = ", ".join(h.flag for h in accepted.values()) or "no loss flags"
            given = loss_flags_by_name()[name]
            raise ValueError(f"{given} does not apply to --method {method} (it takes {options})")
    settings = given_settings(args)
    dataset = settings.pop("dataset", "shapes")
    return make_config(dataset, method, args.preset or "", loss=loss, **settings)


def loss_flags_by_name() -> dict[str, str]:
    return {users[0][1].name: flag for flag, users in loss_flags().items()}
