"""How fast can each pipeline make two augmented views? Images per second, three ways.

The same recipe (sslteach.augment presets "cifar10" at 32x32 and "shapes" at 16x16) runs as

* torchvision: per-sample ``transforms.v2`` in a ``DataLoader(num_workers=2, batch_size=256)``;
* kornia: ``kornia.augmentation`` on whole batches (crop, flip, jitter, grayscale, solarise);
* sslteach: :class:`sslteach.augment.BatchedAugment` on whole batches.

Each pass makes two views of every image of a fixed set; after one warm-up pass the median of
the timed passes is reported. Results go to benchmarks/results/augment_throughput.{json,md}.
Timings on a shared machine are only meaningful when nothing else is running: the report
records the load average and how much CPU time the process got per second of wall time.

    python benchmarks/augment_throughput.py [--quick] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import kornia.augmentation as K
import torch
from _report import load_average, machine, write_results
from torch.utils.data import DataLoader

from sslteach.augment import (
    AugmentConfig,
    BatchedAugment,
    augment_preset,
)
from sslteach.data.shapes import generate_shapes
from sslteach.per_sample import TwoViews, torchvision_transform

BATCH = 256


def kornia_pipeline(c: AugmentConfig) -> torch.nn.Module:
    """The recipe with kornia's batched augmentations (it expects float images in [0, 1])."""
    return torch.nn.Sequential(
        K.RandomResizedCrop((c.size, c.size), scale=c.crop_scale, ratio=c.crop_ratio),
        K.RandomHorizontalFlip(p=c.flip_p),
        K.ColorJitter(c.brightness, c.contrast, c.saturation, c.hue, p=c.jitter_p),
        K.RandomGrayscale(p=c.grayscale_p),
        K.RandomSolarize(thresholds=(0.5, 0.5), additions=(0.0, 0.0), p=c.solarize_p),
        K.Normalize(torch.tensor(c.mean), torch.tensor(c.std)),
    )


def time_passes(one_pass, repeats: int, device: torch.device) -> float:
    """Median seconds of ``one_pass()`` after a warm-up pass."""
    one_pass()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        one_pass()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, images: torch.Tensor, repeats: int, device: torch.device) -> dict:
    """Images per second of the three pipelines on ``images`` (uint8, on the CPU)."""
    cfg = augment_preset(name)
    n = images.shape[0]
    loader = DataLoader(
        TwoViews(images, torchvision_transform(cfg)),
        batch_size=BATCH,
        num_workers=2,
        persistent_workers=True,
    )
    on_device = images.to(device)
    kornia_aug = kornia_pipeline(cfg).to(device)
    batched = BatchedAugment(cfg)
    generator = torch.Generator(device).manual_seed(0)

    def torchvision_pass():
        for view_a, view_b in loader:
            view_a.to(device), view_b.to(device)

    def kornia_pass():
        for i in range(0, n, BATCH):
            x = on_device[i : i + BATCH].float() / 255
            kornia_aug(x), kornia_aug(x)

    def sslteach_pass():
        for i in range(0, n, BATCH):
            batched.two_views(on_device[i : i + BATCH], generator)

    rates = {}
    for label, one_pass in [
        ("torchvision", torchvision_pass),
        ("kornia", kornia_pass),
        ("sslteach", sslteach_pass),
    ]:
        cpu, wall = time.process_time(), time.perf_counter()
        rates[label] = n / time_passes(one_pass, repeats, device)
        rates[f"{label}_cpu_per_wall"] = (time.process_time() - cpu) / (time.perf_counter() - wall)
    return {
        "preset": name,
        "size": cfg.size,
        "images": n,
        "images_per_s": {k: round(rates[k]) for k in ("torchvision", "kornia", "sslteach")},
        "main_process_cpu_per_wall": {
            k: round(rates[f"{k}_cpu_per_wall"], 2) for k in ("torchvision", "kornia", "sslteach")
        },
        "sslteach_vs_torchvision": round(rates["sslteach"] / rates["torchvision"], 1),
        "sslteach_vs_kornia": round(rates["sslteach"] / rates["kornia"], 1),
    }


def markdown(report: dict) -> str:
    lines = [
        "# Two-view augmentation throughput",
        "",
        f"{report['machine']}; torch {report['torch']}, {report['threads']} threads, "
        f"device {report['device']}, load average before the run {report['load_before']}.",
        "Images per second (each image gives two views); median of "
        f"{report['repeats']} passes after a warm-up pass.",
        "",
        "| preset | size | torchvision v2 + DataLoader(2 workers) | kornia "
        "| sslteach BatchedAugment | vs torchvision | vs kornia |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["results"]:
        ips = r["images_per_s"]
        lines.append(
            f"| {r['preset']} | {r['size']}x{r['size']} | {ips['torchvision']:,} | "
            f"{ips['kornia']:,} | {ips['sslteach']:,} | {r['sslteach_vs_torchvision']}x "
            f"| {r['sslteach_vs_kornia']}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (for CI)")
    parser.add_argument("--device", default="cpu", help="where kornia and sslteach run")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    num, repeats = (2 * BATCH, 2) if args.quick else (20 * BATCH, 5)
    generator = torch.Generator().manual_seed(0)
    cifar_like = torch.randint(0, 256, (num, 3, 32, 32), dtype=torch.uint8, generator=generator)
    report = {
        "machine": machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "device": str(device),
        "quick": args.quick,
        "repeats": repeats,
        "load_before": load_average(),
        "results": [
            measure("cifar10", cifar_like, repeats, device),
            measure("shapes", generate_shapes(num, seed=0)[0], repeats, device),
        ],
    }
    write_results("augment_throughput", report, markdown(report), quick=args.quick)
    print(markdown(report))


if __name__ == "__main__":
    main()
