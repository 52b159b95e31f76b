"""Results of ``sslteach compare`` and ``sslteach sweep``: bars and training curves."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_comparison(rows: Sequence[dict]) -> Figure:
    """Linear-probe and kNN accuracy per method (bars), the study's CIFAR-10 numbers as
    markers where it has one, and each method's effective rank written on its bars."""
    from sslteach.reproduce import STUDY_NAMES

    names = [STUDY_NAMES.get(r["method"], r["method"]) for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(1.9 * len(rows) + 2.5, 3.8))
    fig.patch.set_facecolor("white")
    dataset = rows[0]["dataset"]
    linear = ax.bar(
        x - 0.2, [r["linear_probe_accuracy"] for r in rows], 0.4, label=f"linear probe ({dataset})"
    )
    ax.bar(x + 0.2, [r["knn_accuracy"] for r in rows], 0.4, label=f"kNN ({dataset})")
    study = [
        (i, r["study_cifar10_linear_probe"])
        for i, r in enumerate(rows)
        if r.get("study_cifar10_linear_probe")
    ]
    if study:
        ax.scatter(
            [i - 0.2 for i, _ in study],
            [v for _, v in study],
            marker="D",
            color="black",
            zorder=3,
            label="study: linear probe (CIFAR-10)",
        )
    for bar, row in zip(linear, rows, strict=True):
        ax.annotate(
            f"rank {row['effective_rank']:.0f}",
            (bar.get_x() + bar.get_width() / 2, 0.02),
            ha="center",
            va="bottom",
            fontsize=8,
            color="white",
            rotation=90,
        )
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{dataset}, {rows[0]['epochs']} epochs, same backbone, budget and seed")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_sweep(histories: dict[str, Sequence[dict]], title: str = "") -> Figure:
    """Loss and test accuracy against epoch, one line per setting (the study's η and n figures)."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    fig.patch.set_facecolor("white")
    for label, history in histories.items():
        epochs = [r["epoch"] for r in history]
        loss_ax.plot(epochs, [r["loss"] for r in history], marker="o", ms=3, label=label)
        if "linear_probe_accuracy" in history[0]:
            acc_ax.plot(
                epochs, [r["linear_probe_accuracy"] for r in history], marker="o", ms=3, label=label
            )
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("linear-probe test accuracy")
    acc_ax.legend(fontsize=8)
    loss_ax.legend(fontsize=8)
    fig.suptitle(title, color="black")
    fig.tight_layout()
    return fig
