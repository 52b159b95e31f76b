"""What does a training step cost beyond the model itself? The ratio full step / model only.

* full step: what ``Trainer`` does for every batch, called through a real ``Trainer`` -
  index the on-device uint8 images, two views with ``BatchedAugment`` (no grad), then
  ``Trainer.train_step`` (forward of both views, the loss, backward, optimiser and schedule
  step, with its NaN check: the loop's one host sync per step);
* model only: the same Trainer's network and optimiser, on two views made once in advance,
  forward of both views, a linear stand-in for the loss (``(z_a * w).sum() + (z_b * w).sum()``
  with a fixed random ``w``: backward needs a scalar, and this one costs next to nothing),
  backward and optimiser step.

The ratio full / model-only is the overhead of augmentation, loss and bookkeeping; the target
is <= 1.10. Two parts of the full step are also timed alone, in the same alternation: the
augmentation of one batch, and the loss's forward and backward on random embeddings of the
step's shape — what a small model cannot hide. The kinds of repeat alternate, so a change in
machine load hits all alike; after a warm-up repeat, the median over repeats is reported in
seconds per step (shapes: 5 repeats of 10 steps; ResNet-18, about 5 s a step on 2 cores:
3 repeats of 2 steps).

Defaults: the shapes recipe (batch 128, 16x16, small-cnn, projector 512-512, AdamW) and,
unless ``--quick`` or ``--no-cifar``, CIFAR-sized random uint8 data at 32x32 with the CIFAR-10
recipe (ResNet-18, projector 2048-2048-2048, LARS) at the same batch size.
Results go to benchmarks/results/step_overhead.{json,md}; the report records the load average
and the CPU time per wall second, since timings on a busy machine mean little.

    python benchmarks/step_overhead.py [--quick] [--no-cifar] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from _report import load_average, machine, write_results

from sslteach.config import make_config
from sslteach.data import ImageSet, load_dataset
from sslteach.train import Trainer

TARGET = 1.10


def cifar_like(num: int) -> ImageSet:
    """Random uint8 images in CIFAR-10's shape (num, 3, 32, 32) with random labels."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (num, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (num,), generator=generator)
    return ImageSet(images, labels, tuple(str(i) for i in range(10)), "cifar10")


def step_functions(trainer: Trainer) -> dict:
    """The full and the model-only step on the same Trainer's model, and two of the full
    step's parts alone (augmentation; the loss's forward and backward) to show where the
    difference goes."""
    b, device = trainer.config.batch_size, trainer.device
    views, images = trainer.views, trainer.views.images
    order = torch.randperm(len(images), device=images.device)
    cursor = {"i": 0}
    amp = trainer.config.amp and device.type == "cuda"  # Trainer autocasts on CUDA only

    def full_step() -> None:
        start = cursor["i"] * b % (len(order) - b + 1)
        cursor["i"] += 1
        with torch.no_grad():
            pair = views.augment.two_views(images[order[start : start + b]], views.generator)
        trainer.train_step(*pair)  # its NaN check is the step's one host sync

    with torch.no_grad():
        view_a, view_b = views.augment.two_views(images[order[:b]], views.generator)
        _, z = trainer.network(view_a.contiguous(memory_format=torch.channels_last))
    w = torch.randn(z.shape, device=device, generator=torch.Generator(device).manual_seed(1))
    view_a = view_a.contiguous(memory_format=torch.channels_last)
    view_b = view_b.contiguous(memory_format=torch.channels_last)

    def model_step() -> None:
        with torch.autocast(device.type, torch.bfloat16, enabled=amp):
            _, z_a = trainer.network(view_a)
            _, z_b = trainer.network(view_b)
        loss = (z_a.float() * w).sum() + (z_b.float() * w).sum()
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        loss.item()

    def augment_part() -> None:
        with torch.no_grad():
            views.augment.two_views(images[order[:b]], views.generator)

    z_a, z_b = (torch.randn(z.shape, device=device).requires_grad_() for _ in range(2))

    def loss_part() -> None:
        loss = trainer.loss.combine(trainer.loss.terms(z_a, z_b))
        loss.backward()
        loss.item()

    return {
        "full": full_step,
        "model_only": model_step,
        "augment": augment_part,
        "loss": loss_part,
    }


def measure(name: str, trainer: Trainer, steps: int, repeats: int) -> dict:
    """Median seconds per step of the full and the model-only step, alternating repeats."""
    functions = step_functions(trainer)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else lambda: None
    times: dict[str, list[float]] = {label: [] for label in functions}
    cpu, wall = time.process_time(), time.perf_counter()
    for repeat in range(repeats + 1):  # repeat 0 is the warm-up
        for label, one_step in functions.items():
            sync()
            start = time.perf_counter()
            for _ in range(steps):
                one_step()
            sync()
            if repeat:
                times[label].append((time.perf_counter() - start) / steps)
    full, model = statistics.median(times["full"]), statistics.median(times["model_only"])
    c = trainer.config
    return {
        "name": name,
        "backbone": c.backbone,
        "projector": c.projector,
        "image_size": trainer.augment_config.size,
        "batch_size": c.batch_size,
        "steps_per_repeat": steps,
        "repeats": repeats,
        "method": c.method,
        "optimizer": c.optimizer,
        "full_s_per_step": round(full, 4),
        "model_only_s_per_step": round(model, 4),
        "ratio": round(full / model, 3),
        "augment_s_per_step": round(statistics.median(times["augment"]), 4),
        "loss_s_per_step": round(statistics.median(times["loss"]), 4),
        "meets_target": full / model <= TARGET,
        "cpu_per_wall": round((time.process_time() - cpu) / (time.perf_counter() - wall), 2),
        "all_s_per_step": {k: [round(t, 4) for t in v] for k, v in times.items()},
    }


def markdown(report: dict) -> str:
    lines = [
        "# Training-step overhead: full step / model-only step",
        "",
        f"{report['machine']}; torch {report['torch']}, {report['threads']} threads, "
        f"device {report['device']}, load average before the run {report['load_before']}.",
        "Seconds per step, median over repeats (each of the steps shown) after a warm-up "
        f"repeat; VICReg loss; target ratio <= {TARGET}.",
        "",
        "| data | backbone | projector | batch | steps x repeats | full step (s) | model only (s) "
        "| ratio | target met | of which augment (s) | of which loss (s) | CPU s / wall s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['name']} ({r['image_size']}x{r['image_size']}) | {r['backbone']} | "
            f"{r['projector']} | {r['batch_size']} | {r['steps_per_repeat']} x {r['repeats']} | "
            f"{r['full_s_per_step']} | {r['model_only_s_per_step']} | {r['ratio']} | "
            f"{'yes' if r['meets_target'] else 'no'} | {r['augment_s_per_step']} | "
            f"{r['loss_s_per_step']} | {r['cpu_per_wall']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (for CI)")
    parser.add_argument(
        "--cifar",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure ResNet-18 at 32x32 (skipped with --quick)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps, repeats = (2, 2) if args.quick else (10, 5)
    common = dict(
        batch_size=args.batch_size, device=args.device, method="vicreg", pipeline="batched"
    )
    shapes = load_dataset("shapes", "train")
    results = [measure("shapes", Trainer(make_config("shapes", **common), shapes), steps, repeats)]
    if args.cifar and not args.quick:  # ResNet-18 takes ~30 s per step on 2 cores: fewer steps
        trainer = Trainer(make_config("cifar10", **common), cifar_like(20 * args.batch_size))
        results.append(measure("cifar-like random", trainer, 2, 3))
    report = {
        "machine": machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "device": args.device,
        "quick": args.quick,
        "load_before": load_average(),
        "target_ratio": TARGET,
        "results": results,
    }
    write_results("step_overhead", report, markdown(report), quick=args.quick)
    print(markdown(report))


if __name__ == "__main__":
    main()
