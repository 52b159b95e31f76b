"""The ``sslteach`` command line: ``train``, ``compare``, ``sweep`` and ``eval``.

``torchrun --nproc_per_node=K -m sslteach train …`` trains with K processes (K GPUs, or CPU
processes over gloo): ``--batch-size`` stays the global batch, and rank 0 alone prints.
"""

from __future__ import annotations

import argparse
import json
import sys

from sslteach import __version__, distributed
from sslteach.config import LR_SCALINGS, PIPELINES, PRESETS, TrainConfig, make_config
from sslteach.data import DATASETS
from sslteach.losses import LOSSES
from sslteach.models import BACKBONES, EMBEDDING_NORMS
from sslteach.optim import OPTIMIZERS

# Loss flags → the loss's constructor argument.
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
# Plain TrainConfig fields that have a flag of the same name.
CONFIG_FLAGS = (
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "backbone",
    "projector",
    "embedding_norm",
    "train_images",
    "lr_scaling",
    "pipeline",
    "workers",
    "compile",
)


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Everything that defines a run, shared by train, compare and sweep."""
    d = TrainConfig()
    p.add_argument("--dataset", choices=list(DATASETS), default=d.dataset)
    p.add_argument(
        "--data-dir",
        default=d.data_root,
        help="CIFAR-10's download folder, or the folder of --dataset folder (%(default)s)",
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
    loss = p.add_argument_group("loss weights (defaults: each loss's paper values)")
    loss.add_argument("--lambda", type=float, help="VICReg invariance / Barlow Twins off-diagonal")
    loss.add_argument("--mu", type=float, help="VICReg variance weight")
    loss.add_argument("--nu", type=float, help="VICReg covariance weight")
    loss.add_argument("--gamma", type=float, help="VICReg target std")
    loss.add_argument("--rho", type=float, help="TiCo covariance-contrast weight")
    loss.add_argument("--beta", type=float, help="TiCo running-matrix momentum")
    loss.add_argument("--w-size", type=int, help="W-MSE whitening sub-batch size")
    loss.add_argument("--w-iter", type=int, help="W-MSE iterations per step")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda (default: %(default)s)")
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
    p.add_argument("--out", required=True, help="output folder")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sslteach",
        description="Learn non-contrastive self-supervised learning by running it.",
    )
    parser.add_argument("--version", action="version", version=f"sslteach {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train a method, then evaluate it")
    train.add_argument("--method", choices=list(LOSSES), default="vicreg")
    _add_run_arguments(train)
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument(
        "--baselines", action="store_true", help="also probe raw pixels and a random-init encoder"
    )

    compare = commands.add_parser("compare", help="the study's table: several methods, one budget")
    compare.add_argument(
        "--methods",
        default="tico,vicreg-tico,vicreg",
        help="comma-separated methods (default: %(default)s, the study's three)",
    )
    _add_run_arguments(compare)

    sweep = commands.add_parser("sweep", help="training curves for several values of one setting")
    sweep.add_argument("--method", choices=list(LOSSES), default="vicreg")
    sweep.add_argument("--param", required=True, help="lr, batch-size, epochs or a loss weight")
    sweep.add_argument("--values", required=True, help="comma-separated, e.g. 1e-3,4e-3,1e-2")
    sweep.add_argument(
        "--monitor-images", type=int, default=2000, help="probe fit size per epoch (%(default)s)"
    )
    _add_run_arguments(sweep)

    evaluate = commands.add_parser("eval", help="re-evaluate a checkpoint")
    evaluate.add_argument("--checkpoint", required=True, help="DIR/checkpoint.pt")
    evaluate.add_argument("--device", default="auto")
    return parser


def config_from_args(args: argparse.Namespace, method: str, *, strict: bool = True) -> TrainConfig:
    """The run ``args`` describe for ``method``. Loss flags the method does not take are an
    error when ``strict`` (train, sweep), and skipped otherwise (compare applies each flag to
    the methods that take it)."""
    accepted = LOSSES[method]().hyperparameters()
    loss = {}
    for flag, name in LOSS_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if name in accepted:
            loss[name] = value
        elif strict:
            options = ", ".join("--" + k.rstrip("_").replace("_", "-") for k in accepted)
            given = "--" + flag.replace("_", "-")
            raise ValueError(f"{given} does not apply to --method {method} (it takes {options})")
    overrides = {f: getattr(args, f) for f in CONFIG_FLAGS if getattr(args, f) is not None}
    return make_config(
        args.dataset,
        method,
        args.preset or "",
        data_root=args.data_dir,
        seed=args.seed,
        device=args.device,
        loss=loss,
        **overrides,
    )


def _train(args: argparse.Namespace) -> int:
    from sslteach.experiment import CHECKPOINT, METRICS, run

    config = config_from_args(args, args.method)
    distributed.setup(config.device)  # joins torchrun's processes; alone, does nothing
    try:
        metrics = run(
            config,
            args.out,
            resume=args.resume,
            baselines=args.baselines,
            progress=not args.no_progress,
        )
        prints = distributed.is_main_process()
    finally:
        distributed.cleanup()
    if prints:
        print(_summary(metrics))
        print(f"wrote {args.out}/{CHECKPOINT} and {args.out}/{METRICS}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from sslteach.reproduce import compare, results_table

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in LOSSES]
    if unknown or not methods:
        raise ValueError(
            f"--methods must list methods from {', '.join(LOSSES)}, got {args.methods!r}"
        )
    for flag in LOSS_FLAGS:
        given = getattr(args, flag) is not None
        if given and not any(LOSS_FLAGS[flag] in LOSSES[m]().hyperparameters() for m in methods):
            raise ValueError(f"--{flag.replace('_', '-')} applies to none of {', '.join(methods)}")
    configs = [config_from_args(args, m, strict=False) for m in methods]
    rows = compare(configs, args.out, progress=not args.no_progress)
    print(results_table(rows))
    print(f"wrote {args.out}/results.csv, results.md and results.png")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from sslteach.reproduce import sweep

    try:
        values = [float(v) for v in args.values.split(",") if v.strip()]
    except ValueError as err:
        raise ValueError(
            f"--values must be numbers separated by commas, got {args.values!r}"
        ) from err
    base = config_from_args(args, args.method)
    results = sweep(
        base,
        args.param,
        values,
        args.out,
        monitor_images=args.monitor_images,
        progress=not args.no_progress,
    )
    for label, metrics in results.items():
        print(
            f"{label:>18}  linear probe {metrics['linear_probe_accuracy']:.3f}  "
            f"kNN {metrics['knn_accuracy']:.3f}  final loss {metrics['history'][-1]['loss']:.3f}"
        )
    print(f"wrote {args.out}/sweep.csv and sweep.png")
    return 0


def _summary(metrics: dict) -> str:
    epochs = f"{metrics['epochs']} epoch" + ("s" if metrics["epochs"] != 1 else "")
    lines = [
        f"{metrics['method']} on {metrics['dataset']}, {epochs} "
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


COMMANDS = {"train": _train, "compare": _compare, "sweep": _sweep, "eval": _eval}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from sslteach.train import NonFiniteLossError

    try:
        if distributed.launched_by_torchrun() and args.command != "train":
            raise ValueError(
                f"only 'sslteach train' runs under torchrun; run 'sslteach {args.command}' "
                "as one process"
            )
        return COMMANDS[args.command](args)
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
