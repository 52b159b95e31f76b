"""Reproduce the source study: its results table (``compare``) and its η / n sweeps (``sweep``).

The study trained TiCo, its modified loss ("Custom", ``vicreg-tico``) and VICReg briefly on
CIFAR-10 and reported the linear-probe accuracy of each (``STUDY_RESULTS``), plus training
curves for several learning rates η and batch sizes n. ``compare`` trains each method with the
same backbone, projector, budget and seed and writes the table with the study's numbers in a
column beside ours; ``sweep`` trains one method per value of one setting and plots the curves.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt

from sslteach.config import TrainConfig
from sslteach.experiment import prepare_output, run

# Linear-probe accuracy on CIFAR-10 after short training, as the study reported it.
STUDY_RESULTS = {"tico": 0.304, "vicreg-tico": 0.377, "vicreg": 0.421}
STUDY_NAMES = {"tico": "TiCo", "vicreg-tico": "Custom (VICReg + TiCo)", "vicreg": "VICReg"}
COLUMNS = (
    "method",
    "dataset",
    "epochs",
    "linear_probe_accuracy",
    "knn_accuracy",
    "effective_rank",
    "embedding_std",
    "train_seconds",
    "study_cifar10_linear_probe",
)
# What ``sweep`` can vary: a TrainConfig field, or a loss weight.
SWEEP_PARAMS = {
    "lr": "lr",
    "batch-size": "batch_size",
    "epochs": "epochs",
    "lambda": "lambda_",
    "mu": "mu",
    "nu": "nu",
    "gamma": "gamma",
    "rho": "rho",
    "beta": "beta",
}


def compare(
    configs: Sequence[TrainConfig], out: str | Path, *, progress: bool = True
) -> list[dict]:
    """Train and evaluate every config (one per method) into ``out/<method>/``, then write
    ``results.csv``, ``results.md`` and ``results.png``; returns the table's rows, each with
    the run's per-epoch ``history`` too."""
    out = prepare_output(out)
    methods = [c.method for c in configs]
    if len(set(methods)) != len(methods):
        raise ValueError(f"each method may appear once in a comparison, got {', '.join(methods)}")
    rows = []
    for config in configs:
        metrics = run(config, out / config.method, progress=progress)
        rows.append(
            {
                **{key: metrics[key] for key in COLUMNS[:-1]},
                "study_cifar10_linear_probe": STUDY_RESULTS.get(config.method),
                "history": metrics["history"],
            }
        )
    write_results(rows, out)
    return rows


def write_results(rows: Sequence[dict], out: Path) -> None:
    """results.csv (all columns), results.md (the study's table beside ours), results.png."""
    from sslteach.plots.results import plot_comparison

    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.md").write_text(results_table(rows) + "\n")
    figure = plot_comparison(rows)
    figure.savefig(out / "results.png", dpi=120, bbox_inches="tight")
    plt.close(figure)


def results_table(rows: Sequence[dict]) -> str:
    """A markdown table: the study's CIFAR-10 linear probe next to this run's numbers."""
    dataset = rows[0]["dataset"]
    lines = [
        f"| method | study: linear probe (CIFAR-10) | linear probe ({dataset}) "
        f"| kNN ({dataset}) | effective rank | epochs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        study = row["study_cifar10_linear_probe"]
        lines.append(
            f"| {STUDY_NAMES.get(row['method'], row['method'])} "
            f"| {'—' if study is None else f'{study:.3f}'} "
            f"| {row['linear_probe_accuracy']:.3f} | {row['knn_accuracy']:.3f} "
            f"| {row['effective_rank']:.1f} | {row['epochs']} |"
        )
    return "\n".join(lines)


def sweep_configs(base: TrainConfig, param: str, values: Sequence[float]) -> dict[str, TrainConfig]:
    """One config per value of ``param`` (a key of ``SWEEP_PARAMS``), labelled "param=value"."""
    if param not in SWEEP_PARAMS:
        raise ValueError(
            f"unknown sweep parameter {param!r}; choose one of {', '.join(SWEEP_PARAMS)}"
        )
    if not values:
        raise ValueError("give at least one value to sweep, e.g. --values 1e-3,4e-3")
    field = SWEEP_PARAMS[param]
    configs = {}
    for value in values:
        if field in ("batch_size", "epochs"):
            if value != int(value):
                raise ValueError(f"{param} takes whole numbers, got {value}")
            value = int(value)
        if hasattr(base, field):
            config = replace(base, **{field: value})
        else:
            config = replace(base, loss={**base.loss, field: value})
        configs[f"{param}={value:g}"] = config
    return configs


def sweep(
    base: TrainConfig,
    param: str,
    values: Sequence[float],
    out: str | Path,
    *,
    monitor_images: int = 2000,
    progress: bool = True,
) -> dict[str, dict]:
    """Train ``base`` once per value of ``param`` into ``out/<param>=<value>/``, probing test
    accuracy every epoch; write ``sweep.csv`` and the curves in ``sweep.png``."""
    from sslteach.plots.results import plot_sweep

    out = prepare_output(out)
    configs = sweep_configs(replace(base, monitor_images=monitor_images), param, values)
    results = {
        label: run(config, out / label, progress=progress) for label, config in configs.items()
    }
    with (out / "sweep.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["setting", "epoch", "loss", "linear_probe_accuracy", "knn_accuracy"])
        for label, metrics in results.items():
            for record in metrics["history"]:
                writer.writerow(
                    [
                        label,
                        record["epoch"],
                        record["loss"],
                        record["linear_probe_accuracy"],
                        record["knn_accuracy"],
                    ]
                )
    figure = plot_sweep(
        {label: m["history"] for label, m in results.items()}, title=f"{base.method}: {param}"
    )
    figure.savefig(out / "sweep.png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    return results
