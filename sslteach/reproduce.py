"""Reproduce the source study: its results table (``compare``) and its η / n sweeps (``sweep``).

The study (``sslteach.study``) trained TiCo, its modified loss and VICReg briefly on CIFAR-10
and reported the linear-probe accuracy of each, plus training curves for several learning
rates η and batch sizes n. ``compare`` trains each method with the same backbone, projector,
budget and seeds and writes the table with mean and spread over the seeds, the study's
numbers in a table of their own; ``sweep`` trains one method per value of one setting and
plots the curves. With ``resume=True`` both skip the runs that finished and continue the
interrupted ones.
"""

from __future__ import annotations

import csv
import json
import math
import typing
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path

import matplotlib.pyplot as plt

from sslteach.config import TrainConfig
from sslteach.experiment import CHECKPOINT, METRICS, prepare_output, resume, run
from sslteach.losses import LOSSES, hyperparameters_of, method_hyperparameters, method_title
from sslteach.models import parse_widths
from sslteach.study import STUDY_NAMES, STUDY_RESULTS

METRIC_COLUMNS = (
    "linear_probe_accuracy",
    "knn_accuracy",
    "effective_rank",
    "embedding_std",
    "train_seconds",
)
# TrainConfig fields that say how a run is watched, not what it trains: not swept.
NOT_SWEPT = ("workers", "diagnostic_images", "monitor_images")


def run_or_resume(
    config: TrainConfig, out: Path, *, resume_runs: bool, overwrite: bool, progress: bool
) -> dict:
    """``run`` ``config`` into ``out``; with ``resume_runs``, first reuse a finished run of the
    same config there, or continue an interrupted one."""
    if not resume_runs:
        return run(config, out, overwrite=overwrite, progress=progress)
    metrics_path, checkpoint = out / METRICS, out / CHECKPOINT
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        if metrics.get("config") != asdict(config):
            raise ValueError(
                f"{out} holds a run of another config than the one asked for now; drop "
                "--resume to be told how to replace it, or choose another --out"
            )
        if metrics.get("status") == "finished":
            return metrics
    if checkpoint.is_file():
        return resume(out, progress=progress)
    return run(config, out, progress=progress)


def compare(
    configs: Sequence[TrainConfig],
    out: str | Path,
    *,
    seeds: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> list[dict]:
    """Train and evaluate every config (one per method) with ``seeds`` seeds into
    ``out/<method>/`` (``out/<method>/seed-<s>/`` for several seeds; seed s = 0 … seeds − 1,
    one seed keeps the config's own), then write ``results.csv`` (mean and std over seeds),
    ``runs.csv`` (every run), ``results.md`` and ``results.png``. Returns one row per method,
    with each seed's metrics (history included) under ``"runs"``."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a whole number ≥ 1, got {seeds!r}; e.g. --seeds 3")
    out = prepare_output(out)
    methods = [c.method for c in configs]
    if len(set(methods)) != len(methods):
        raise ValueError(f"each method may appear once in a comparison, got {', '.join(methods)}")
    rows = []
    for config in configs:
        plan = [config] if seeds == 1 else [replace(config, seed=s) for s in range(seeds)]
        folder = out / config.method
        runs = [
            run_or_resume(
                c,
                folder if seeds == 1 else folder / f"seed-{c.seed}",
                resume_runs=resume,
                overwrite=overwrite,
                progress=progress,
            )
            for c in plan
        ]
        rows.append(summarise(config, runs))
    write_results(rows, out)
    return rows


def summarise(config: TrainConfig, runs: Sequence[dict]) -> dict:
    """One method's row: mean and sample std (n − 1; none for one seed) of each metric."""
    row = {"method": config.method, "dataset": config.dataset, "epochs": config.epochs}
    row["embedding_dim"] = parse_widths(config.projector)[-1]
    row["seeds"] = len(runs)
    for key in METRIC_COLUMNS:
        values = [r[key] for r in runs]
        mean = sum(values) / len(values)
        spread = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(runs) > 1 else 0
        row[f"{key}_mean"] = mean
        row[f"{key}_std"] = math.sqrt(spread) if len(runs) > 1 else None
    return {**row, "runs": list(runs)}


def write_results(rows: Sequence[dict], out: Path) -> None:
    """results.csv, runs.csv, results.md (ours, then the study's table) and results.png."""
    from sslteach.plots.results import plot_comparison

    columns = ["method", "dataset", "epochs", "embedding_dim", "seeds"]
    columns += [f"{k}_{s}" for k in METRIC_COLUMNS for s in ("mean", "std")]
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with (out / "runs.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["method", "seed", *METRIC_COLUMNS])
        writer.writeheader()
        for row in rows:
            for r in row["runs"]:
                seed = r["config"]["seed"]
                writer.writerow({"method": row["method"], "seed": seed, **_pick(r)})
    (out / "results.md").write_text(results_table(rows) + "\n")
    figure = plot_comparison(rows)
    figure.savefig(out / "results.png", dpi=120, bbox_inches="tight")
    plt.close(figure)


def _pick(metrics: dict) -> dict:
    return {key: metrics[key] for key in METRIC_COLUMNS}


def _mean_std(row: dict, key: str, digits: int) -> str:
    mean, std = row[f"{key}_mean"], row[f"{key}_std"]
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def results_table(rows: Sequence[dict]) -> str:
    """Two markdown tables: this run's numbers (mean ± std over seeds), then the study's own
    CIFAR-10 accuracy for the methods it has one for — never in the same column."""
    dataset, seeds = rows[0]["dataset"], rows[0]["seeds"]
    spread = f", mean ± std over {seeds} seeds" if seeds > 1 else ", one seed"
    widths = sorted({row["embedding_dim"] for row in rows})
    rank = f"effective rank (of d = {widths[0]})" if len(widths) == 1 else "effective rank"
    lines = [
        f"| method | linear probe ({dataset}) | kNN ({dataset}) | {rank} | epochs |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {method_title(row['method'])} "
            f"| {_mean_std(row, 'linear_probe_accuracy', 3)} "
            f"| {_mean_std(row, 'knn_accuracy', 3)} "
            f"| {_mean_std(row, 'effective_rank', 1)}"
            + ("" if len(widths) == 1 else f" of {row['embedding_dim']}")
            + f" | {row['epochs']} |"
        )
    lines.insert(0, f"Measured on {dataset}{spread}:\n")
    quoted = [row for row in rows if row["method"] in STUDY_RESULTS]
    if quoted:
        lines += ["", "The source study (CIFAR-10; its protocol and schedule not stated; quoted):"]
        lines += ["", "| method | study: accuracy (CIFAR-10) |", "|---|---:|"]
        lines += [
            f"| {STUDY_NAMES[row['method']]} | {STUDY_RESULTS[row['method']]:.3f} |"
            for row in quoted
        ]
    return "\n".join(lines)


def sweepable_settings() -> dict[str, str]:
    """The TrainConfig fields ``sweep`` can vary, by their flag name ("batch-size" → field):
    every whole-number or real setting but those that only watch the run."""
    hints = typing.get_type_hints(TrainConfig)
    numeric = (int, float, int | None)
    return {
        f.name.replace("_", "-"): f.name
        for f in fields(TrainConfig)
        if hints[f.name] in numeric and f.name not in NOT_SWEPT
    }


def sweep_configs(base: TrainConfig, param: str, values: Sequence[float]) -> dict[str, TrainConfig]:
    """One config per value of ``param`` — a setting (``sweepable_settings``) or a
    hyperparameter of the method, by its flag name — labelled "param=value". Every config is
    built, so a bad value is refused before anything trains."""
    hyperparameters = {h.flag[2:]: h for h in method_hyperparameters(base.method).values()}
    settings = sweepable_settings()
    if param not in settings and param not in hyperparameters:
        if param in {
            h.flag[2:] for cls in LOSSES.values() for h in hyperparameters_of(cls).values()
        }:
            raise ValueError(f"{param} does not apply to method {base.method}")
        raise ValueError(
            f"unknown sweep parameter {param!r}; choose a setting ({', '.join(settings)}) or a "
            f"hyperparameter of {base.method} ({', '.join(hyperparameters) or 'none'})"
        )
    if not values:
        raise ValueError("give at least one value to sweep, e.g. --values 1e-3,4e-3")
    configs = {}
    for value in values:
        if param in hyperparameters:
            value = _as_type(param, value, hyperparameters[param].type)
            config = replace(base, loss={**base.loss, hyperparameters[param].name: value})
        else:
            field = settings[param]
            kind = typing.get_type_hints(TrainConfig)[field]
            value = _as_type(param, value, float if kind is float else int)
            config = replace(base, **{field: value})
        configs[f"{param}={value:g}"] = config
    return configs


def _as_type(param: str, value: float, kind: type) -> float | int | bool:
    if kind is float:
        return float(value)
    if value != int(value) or (kind is bool and value not in (0, 1)):
        expected = "0 or 1" if kind is bool else "whole numbers"
        raise ValueError(f"{param} takes {expected}, got {value:g}")
    return bool(value) if kind is bool else int(value)


def sweep(
    base: TrainConfig,
    param: str,
    values: Sequence[float],
    out: str | Path,
    *,
    monitor_images: int = 2000,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, dict]:
    """Train ``base`` once per value of ``param`` into ``out/<param>=<value>/``, probing test
    accuracy every epoch on ``monitor_images`` training images; write ``sweep.csv`` and the
    curves in ``sweep.png``."""
    from sslteach.plots.results import plot_sweep

    if (
        isinstance(monitor_images, bool)
        or not isinstance(monitor_images, int)
        or monitor_images < 1
    ):
        raise ValueError(
            f"monitor_images must be a positive number of images, got {monitor_images!r}: the "
            "sweep's curves are probe accuracies after every epoch (e.g. --monitor-images 2000)"
        )
    configs = sweep_configs(replace(base, monitor_images=monitor_images), param, values)
    out = prepare_output(out)
    results = {
        label: run_or_resume(
            config, out / label, resume_runs=resume, overwrite=overwrite, progress=progress
        )
        for label, config in configs.items()
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
