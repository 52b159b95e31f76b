"""The ``sslteach`` command line: ``train`` a method on a data set, ``eval`` a checkpoint."""

from __future__ import annotations

import argparse
import json
import sys

from sslteach import __version__
from sslteach.data import DATASETS
from sslteach.losses import LOSSES
from sslteach.models import BACKBONES, EMBEDDING_NORMS
from sslteach.optim import OPTIMIZERS

# Loss flags → the loss's constructor argument (its name in Python).
LOSS_FLAGS = {
    "lambda": "lambda_",
    "mu": "mu",
    "nu": "nu",
    "gamma": "gamma",
    "rho": "rho",
    "beta": "beta",
    "w_size": "w_size",
    "w_iter": "w_iter",
}


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    from sslteach.train import TrainConfig

    d = TrainConfig()
    p.add_argument("--method", choices=list(LOSSES), default=d.method)
    p.add_argument("--dataset", choices=list(DATASETS), default=d.dataset)
    p.add_argument(
        "--data-dir",
        default=d.data_root,
        help="CIFAR-10's download folder, or the folder of --dataset folder (%(default)s)",
    )
    p.add_argument("--epochs", type=int, help=f"default: {d.epochs} on shapes")
    p.add_argument("--batch-size", type=int, help=f"default: {d.batch_size}")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default: {d.lr} on shapes)")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--backbone", choices=list(BACKBONES))
    p.add_argument("--projector", help="layer widths, e.g. 2048-2048-2048")
    p.add_argument(
        "--embedding-norm",
        choices=EMBEDDING_NORMS,
        help="normalise the embedding (Hua et al.'s concise framework; default: none)",
    )
    loss = p.add_argument_group("loss weights (defaults: each loss's paper values)")
    loss.add_argument("--lambda", type=float, help="VICReg invariance / Barlow Twins off-diagonal")
    loss.add_argument("--mu", type=float, help="VICReg variance weight")
    loss.add_argument("--nu", type=float, help="VICReg covariance weight")
    loss.add_argument("--gamma", type=float, help="VICReg target std")
    loss.add_argument("--rho", type=float, help="TiCo covariance-contrast weight")
    loss.add_argument("--beta", type=float, help="TiCo running-matrix momentum")
    loss.add_argument("--w-size", type=int, help="W-MSE whitening sub-batch size")
    loss.add_argument("--w-iter", type=int, help="W-MSE iterations per step")
    p.add_argument("--train-images", type=int, help="use only the first N training images")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument(
        "--baselines", action="store_true", help="also probe raw pixels and a random-init encoder"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="folder for checkpoint.pt and metrics.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sslteach",
        description="Learn non-contrastive self-supervised learning by running it.",
    )
    parser.add_argument("--version", action="version", version=f"sslteach {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser("train", help="train a method, then evaluate it")
    _add_train_arguments(train)
    evaluate = commands.add_parser("eval", help="re-evaluate a checkpoint")
    evaluate.add_argument("--checkpoint", required=True, help="DIR/checkpoint.pt")
    evaluate.add_argument("--device", default="auto")
    return parser


def config_from_args(args: argparse.Namespace):
    """A ``TrainConfig`` from parsed ``train`` arguments; loss flags must fit the method."""
    from sslteach.train import config_for_dataset

    loss = {}
    accepted = LOSSES[args.method]().hyperparameters()
    for flag, name in LOSS_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if name not in accepted:
            options = ", ".join(f"--{k.rstrip('_').replace('_', '-')}" for k in accepted)
            given = "--" + flag.replace("_", "-")
            raise ValueError(
                f"{given} does not apply to --method {args.method} (it takes {options})"
            )
        loss[name] = value
    chosen = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "weight_decay": args.weight_decay,
        "backbone": args.backbone,
        "projector": args.projector,
        "embedding_norm": args.embedding_norm,
        "train_images": args.train_images,
    }
    overrides = {k: v for k, v in chosen.items() if v is not None}
    return config_for_dataset(
        args.dataset,
        method=args.method,
        data_root=args.data_dir,
        seed=args.seed,
        device=args.device,
        loss=loss,
        **overrides,
    )


def _train(args: argparse.Namespace) -> int:
    from sslteach.experiment import CHECKPOINT, METRICS, run

    config = config_from_args(args)
    metrics = run(
        config,
        args.out,
        resume=args.resume,
        baselines=args.baselines,
        progress=not args.no_progress,
    )
    print(_summary(metrics))
    print(f"wrote {args.out}/{CHECKPOINT} and {args.out}/{METRICS}")
    return 0


def _summary(metrics: dict) -> str:
    lines = [
        f"{metrics['method']} on {metrics['dataset']}, {metrics['epochs']} epochs "
        f"({metrics['train_seconds']:.0f} s training on {metrics['device']})",
        f"  linear probe accuracy  {metrics['linear_probe_accuracy']:.3f}",
        f"  kNN accuracy           {metrics['knn_accuracy']:.3f}",
        f"  effective rank         {metrics['effective_rank']:.1f}",
        f"  embedding std          {metrics['embedding_std']:.3f}",
    ]
    for name, scores in metrics.get("baselines", {}).items():
        linear, knn = scores["linear_probe_accuracy"], scores["knn_accuracy"]
        lines.append(f"  baseline {name:<13} linear probe {linear:.3f}, kNN {knn:.3f}")
    return "\n".join(lines)


def _eval(args: argparse.Namespace) -> int:
    from sslteach.experiment import evaluate_checkpoint

    print(json.dumps(evaluate_checkpoint(args.checkpoint, device=args.device), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from sslteach.train import NonFiniteLossError

    try:
        return {"train": _train, "eval": _eval}[args.command](args)
    except KeyboardInterrupt:
        print(
            f"sslteach {args.command}: interrupted; the checkpoint in --out is saved, "
            "continue with --resume",
            file=sys.stderr,
        )
        return 130
    except (ValueError, TypeError, FileNotFoundError, NonFiniteLossError) as err:
        print(f"sslteach {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
