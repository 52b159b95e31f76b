"""How long is one CIFAR-10 epoch of ResNet-18 VICReg on a GPU? Seconds per epoch, images/s.

The run is the library's own: ``sslteach.train.Trainer`` with the CIFAR-10 recipe (ResNet-18
with the CIFAR stem, projector 2048-2048-2048, LARS, VICReg 25/25/1) at batch 512, the images
held on the device as uint8 and augmented there in whole batches (``pipeline="batched"``),
``channels_last`` and bf16 autocast (both always on in ``Trainer`` on CUDA), and
``torch.compile`` with ``--compile``. The data are made in memory, no download: 50,000
CIFAR-format uint8 images (3x32x32) with labels, random pixels (``--data random``) or the
embedded shapes drawn at 32x32 (``--data shapes``); the cost of an epoch does not depend on
what the pixels show.

The first epoch is a warm-up (cuDNN autotuning, compilation) and is reported apart; the
next ``--epochs`` are timed each, from the end of one epoch to the end of the next, by a
``Callback`` after a ``torch.cuda.synchronize()``. An epoch is everything ``Trainer.fit``
does for it: the sample order, every step (one host sync each, the NaN check), the terms read
once at its end, and the end-of-epoch collapse diagnostics (512 images). Target: <= 5 s per
epoch on one H100.
Results go to benchmarks/results/gpu_epoch.{json,md} (gpu_epoch_compile.* with --compile).

    python benchmarks/gpu_epoch.py [--compile] [--epochs 3] [--data random|shapes]
    python benchmarks/gpu_epoch.py --quick --device cpu     # a tiny smoke run, no GPU needed
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import torch
from _report import machine, write_results

from sslteach.callbacks import Callback
from sslteach.config import TrainConfig, make_config
from sslteach.data import ImageSet
from sslteach.data.cifar10 import CLASSES
from sslteach.data.shapes import CLASSES as SHAPE_CLASSES
from sslteach.data.shapes import generate_shapes
from sslteach.train import Trainer

TARGET_S = 5.0


class EpochTimer(Callback):
    """Wall-clock time at the end of every epoch, after the device has finished its work."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.ends = [time.perf_counter()]

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.ends.append(time.perf_counter())


def cifar_format(num: int, data: str) -> ImageSet:
    """``num`` uint8 images (num, 3, 32, 32) and int64 labels, made in memory."""
    if data == "shapes":
        images, labels = generate_shapes(num, seed=0, size=32)
        return ImageSet(images, labels, SHAPE_CLASSES, "cifar10")
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (num, 3, 32, 32), dtype=torch.uint8, generator=generator)
    return ImageSet(images, torch.randint(0, 10, (num,), generator=generator), CLASSES, "cifar10")


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The CIFAR-10 recipe at ``--batch-size``; ``compile`` only if TrainConfig has the field."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    overrides = dict(
        epochs=1 + args.epochs, batch_size=args.batch_size, device=args.device, amp=True
    )
    if "pipeline" in fields:
        overrides["pipeline"] = "batched"
    if args.compile:
        if "compile" not in fields:
            sys.exit("gpu_epoch.py: this sslteach's TrainConfig has no 'compile' field")
        overrides["compile"] = True
    if args.quick:  # a tiny model: the smoke run checks the script, not the speed
        overrides.update(backbone="small-cnn", projector="256-256")
    return make_config("cifar10", method="vicreg", **overrides)


def markdown(report: dict) -> str:
    c = report["config"]
    return (
        "# One CIFAR-10-sized epoch of VICReg on a GPU\n\n"
        f"{report['device_name']}; torch {report['torch']} (CUDA {report['cuda']}), host "
        f"{report['machine']}. {report['images']:,} {report['data']} uint8 32x32 images, "
        f"{c['backbone']} + projector {c['projector']}, batch {c['batch_size']}, "
        f"{c['optimizer']}, pipeline {c.get('pipeline', 'batched')}, channels_last, "
        f"bf16 autocast {'on' if report['autocast'] else 'off'}, "
        f"torch.compile {'on' if c.get('compile') else 'off'}.\n\n"
        "| warm-up epoch (s) | timed epochs (s) | median s / epoch | images / s "
        "| target <= 5 s met |\n"
        "| ---: | --- | ---: | ---: | --- |\n"
        f"| {report['warmup_s']} | {', '.join(map(str, report['epoch_s']))} | "
        f"{report['seconds_per_epoch']} | {report['images_per_s']:,} | "
        f"{'yes' if report['meets_target'] else 'no'} |\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (with --device cpu)")
    parser.add_argument("--device", default="cuda", help="cuda (default) or, with --quick, cpu")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--data", choices=("random", "shapes"), default="random")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(
            "gpu_epoch.py measures a CUDA GPU, and torch.cuda.is_available() is False here; "
            "run it on a machine with a GPU, or check the script with --quick --device cpu"
        )
    if device.type != "cuda" and not args.quick:
        sys.exit("gpu_epoch.py: a full run on the CPU would take hours; add --quick")
    if args.quick:
        args.images, args.batch_size, args.epochs = 512, 128, 1
    config = build_config(args)
    train_set = cifar_format(args.images, args.data)
    timer = EpochTimer(device)
    trainer = Trainer(config, train_set, callbacks=[timer])
    timer.ends = [time.perf_counter()]  # the clock starts with fit, after model and data setup
    trainer.fit()
    epochs = [b - a for a, b in zip(timer.ends, timer.ends[1:], strict=False)]
    median = statistics.median(epochs[1:])
    trained = trainer.steps_per_epoch * config.batch_size  # the last partial batch is dropped
    report = {
        "machine": machine(),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "quick": args.quick,
        "data": args.data,
        "images": len(train_set),
        "images_per_epoch": trained,
        "config": dataclasses.asdict(config),
        "autocast": config.amp and device.type == "cuda",
        "warmup_s": round(epochs[0], 2),
        "epoch_s": [round(s, 2) for s in epochs[1:]],
        "seconds_per_epoch": round(median, 2),  # the median of the timed epochs
        "images_per_s": round(trained / median),
        "target_s_per_epoch": TARGET_S,
        "meets_target": median <= TARGET_S,
        "final_loss": trainer.history[-1]["loss"],
    }
    if device.type == "cuda":
        report["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    name = "gpu_epoch_compile" if args.compile else "gpu_epoch"
    write_results(name, report, markdown(report), quick=args.quick)
    print(markdown(report))


if __name__ == "__main__":
    main()
