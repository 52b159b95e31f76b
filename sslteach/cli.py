"""The ``sslteach`` command line: ``train``, ``compare``, ``sweep`` and ``eval``.

Its flags are built in ``sslteach.flags``. ``torchrun --nproc_per_node=K -m sslteach train …``
trains with K processes (K GPUs, or CPU processes over gloo): ``--batch-size`` stays the
global batch, and rank 0 alone prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sslteach import distributed
from sslteach.flags import (
    build_parser,
    config_from_args,
    given_hyperparameters,
    given_settings,
    loss_flags_by_name,
)
from sslteach.guard import NonFiniteError
from sslteach.interrupt import TrainingInterrupted
from sslteach.losses import LOSSES, method_hyperparameters


def _train(args: argparse.Namespace) -> int:
    from sslteach.experiment import CHECKPOINT, METRICS, resume, run

    options = dict(baselines=args.baselines, progress=not args.no_progress)
    if args.resume:  # everything but where it runs comes from the checkpoint
        changes = {**given_settings(args), "loss": given_hyperparameters(args)}
        changes.update({k: getattr(args, k) for k in ("method", "preset") if getattr(args, k)})
        config = None
    else:
        config = config_from_args(args, args.method or "vicreg")
    distributed.setup(args.device or "auto")  # joins torchrun's processes; alone, nothing
    try:
        if config is None:
            metrics = resume(args.out, changes=changes, **options)
        else:
            metrics = run(config, args.out, overwrite=args.overwrite, **options)
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
    if args.seeds is not None and args.seed is not None:
        raise ValueError(
            "--seeds N trains seeds 0 … N−1, so --seed cannot be given with it; drop one"
        )
    for name in given_hyperparameters(args):
        if not any(name in method_hyperparameters(m) for m in methods):
            raise ValueError(
                f"{loss_flags_by_name()[name]} applies to none of {', '.join(methods)}"
            )
    configs = [config_from_args(args, m, strict=False) for m in methods]
    seeds = 1 if args.seeds is None else args.seeds
    keep = dict(resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    rows = compare(configs, args.out, seeds=seeds, **keep)
    print(results_table(rows))
    print(f"wrote {args.out}/results.csv, runs.csv, results.md and results.png")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from sslteach.reproduce import sweep

    try:
        values = [float(v) for v in args.values.split(",") if v.strip()]
    except ValueError as err:
        raise ValueError(
            f"--values must be numbers separated by commas, got {args.values!r}"
        ) from err
    base = config_from_args(args, args.method or "vicreg")
    results = sweep(
        base,
        args.param,
        values,
        args.out,
        monitor_images=args.monitor_images,
        resume=args.resume,
        overwrite=args.overwrite,
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


def _interrupted(command: str, args: argparse.Namespace, err: KeyboardInterrupt) -> str:
    """What Ctrl-C left behind, as it really is."""
    again = f"sslteach {command} --resume" + (" …" if command != "train" else "")
    if isinstance(err, TrainingInterrupted):
        hint = f"; continue with {again} --out {args.out}" if err.saved else ""
        return f"sslteach {command}: interrupted: {err}{hint}"
    out = Path(getattr(args, "out", "") or ".")
    if command != "eval" and any(out.rglob("checkpoint.pt")):
        return (
            f"sslteach {command}: interrupted outside a training step; the checkpoints in "
            f"{out} are complete — continue with {again} --out {out}"
        )
    return f"sslteach {command}: interrupted before any checkpoint was written; nothing saved"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if distributed.launched_by_torchrun() and args.command != "train":
            raise ValueError(
                f"only 'sslteach train' runs under torchrun; run 'sslteach {args.command}' "
                "as one process"
            )
        return COMMANDS[args.command](args)
    except KeyboardInterrupt as err:
        print(_interrupted(args.command, args, err), file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, NonFiniteError) as err:
        print(f"sslteach {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
