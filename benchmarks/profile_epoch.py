"""Where does a training epoch's time go? Augmentation, forward, loss, backward, optimiser,
diagnostics, and how many host-device syncs each step makes.

The epoch profiled is the library's own: ``Trainer.fit`` on the CIFAR-10 recipe (ResNet-18
with the CIFAR stem, projector 2048-2048-2048, LARS, VICReg) at batch 512 on 50,000 CIFAR-format
uint8 images made in memory, as ``gpu_epoch.py`` runs it. Two epochs run; the second is
profiled with ``torch.profiler``. Nothing in the library is changed for it: the benchmark
wraps its functions in ``record_function`` labels (``BatchedAugment.two_views`` → augment,
``Trainer.loss_inputs`` → forward, each loss's ``terms`` → loss, ``Tensor.backward`` →
backward, ``MomentumTarget.update`` → target, the NaN check, ``collapse_diagnostics``), and
torch labels the optimiser's step itself. Host time is what the CPU spent inside a region
(on a GPU it includes waiting at a sync); device time is the GPU kernels the region launched.

Syncs are counted in the real step loop: on CUDA with ``torch.cuda.set_sync_debug_mode``,
which flags every operation that waits for the GPU; on a CPU (where nothing waits) by
counting the calls that would (``Tensor.item``, ``Tensor.__bool__``, ``Tensor.tolist``).

    python benchmarks/profile_epoch.py [--compile]            # on a CUDA GPU
    python benchmarks/profile_epoch.py --quick --device cpu   # a smoke run, no GPU needed
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import warnings

import torch
from _report import machine, write_results
from gpu_epoch import cifar_format
from torch.profiler import ProfilerActivity, profile, record_function

from sslteach import evaluate, guard, train
from sslteach.augment import BatchedAugment
from sslteach.callbacks import Callback
from sslteach.config import make_config
from sslteach.losses import LOSSES
from sslteach.momentum import MomentumTarget

REGIONS = {
    "augment": (BatchedAugment, "two_views"),
    "forward": (train.Trainer, "loss_inputs"),
    "backward": (torch.Tensor, "backward"),
    "target": (MomentumTarget, "update"),
}


def labelled(label: str, function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with record_function(label):
            return function(*args, **kwargs)

    return wrapper


def label_regions() -> None:
    for label, (owner, name) in REGIONS.items():
        setattr(owner, name, labelled(label, getattr(owner, name)))
    for cls in {c for c in LOSSES.values() if "terms" in vars(c)}:  # each loss's own terms
        cls.terms = labelled("loss", cls.terms)
    train.check_finite_loss = labelled("nan check", guard.check_finite_loss)
    train.collapse_diagnostics = labelled("diagnostics", evaluate.collapse_diagnostics)


class SyncCounter(Callback):
    """Counts host-device syncs per step of the real loop (all steps of the first epoch)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.counts, self.seen = device, [], 0
        self._warnings = None

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.set_sync_debug_mode("warn")
            self._catcher = warnings.catch_warnings(record=True)
            self._warnings = self._catcher.__enter__()
            warnings.simplefilter("always")
        else:
            self._calls = {"n": 0}
            for name in ("item", "__bool__", "tolist"):
                original = getattr(torch.Tensor, name)
                setattr(torch.Tensor, name, self._counting(original))

    def _counting(self, original):
        calls = self._calls

        def counted(tensor, *args):
            calls["n"] += 1
            return original(tensor, *args)

        return counted

    def total(self) -> int:
        return len(self._warnings) if self._warnings is not None else self._calls["n"]

    def on_step(self, trainer, terms) -> None:
        if trainer.epoch == 0:
            now = self.total()
            self.counts.append(now - self.seen)
            self.seen = now

    def stop(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
            self._catcher.__exit__(None, None, None)


class ProfileSecondEpoch(Callback):
    def __init__(self, profiler, counter: SyncCounter) -> None:
        self.profiler, self.counter = profiler, counter

    def on_epoch_end(self, trainer, record) -> None:
        if trainer.epoch == 1:
            self.counter.stop()
            self.profiler.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (with --device cpu)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("profile_epoch.py: no CUDA GPU here; check the script with --quick --device cpu")
    overrides = dict(epochs=2, batch_size=args.batch_size, device=args.device, compile=args.compile)
    if args.quick:
        args.images = 1024
        overrides.update(batch_size=128, backbone="small-cnn", projector="256-256")
    config = make_config("cifar10", "vicreg", **overrides)
    label_regions()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    profiler = profile(activities=activities)
    counter = SyncCounter(device)
    trainer = train.Trainer(
        config,
        cifar_format(args.images, "random"),
        callbacks=[counter, ProfileSecondEpoch(profiler, counter)],
    )
    counter.start()
    trainer.fit()
    profiler.stop()
    rows = {}
    for event in profiler.key_averages():
        if event.key in (*REGIONS, "loss", "nan check", "diagnostics") or event.key.startswith(
            "Optimizer."
        ):
            device_us = getattr(event, "device_time_total", getattr(event, "cuda_time_total", 0))
            rows[event.key] = {
                "calls": event.count,
                "host_s": round(event.cpu_time_total / 1e6, 4),
                "device_s": round(device_us / 1e6, 4),
            }
    steps = trainer.steps_per_epoch
    report = {
        "machine": machine(),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "torch": torch.__version__,
        "quick": args.quick,
        "config": dataclasses.asdict(config),
        "steps_per_epoch": steps,
        "regions": rows,
        "syncs_per_step": sorted(set(counter.counts)),
        "syncs_first_epoch_steps": sum(counter.counts),
    }
    lines = [
        "# Where an epoch's time goes\n",
        f"{report['device_name']}; torch {report['torch']}; {config.backbone} + projector "
        f"{config.projector}, batch {config.batch_size}, {steps} steps (the second epoch of two, "
        f"profiled). Host syncs per step in the loop: {report['syncs_per_step']}.\n",
        "| region | calls | host s | device s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, row in sorted(rows.items(), key=lambda kv: -kv[1]["host_s"]):
        lines.append(f"| {key} | {row['calls']} | {row['host_s']} | {row['device_s']} |")
    markdown = "\n".join(lines) + "\n"
    name = "profile_epoch_compile" if args.compile else "profile_epoch"
    write_results(name, report, markdown, quick=args.quick)
    print(markdown)


if __name__ == "__main__":
    main()
