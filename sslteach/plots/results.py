"""Results of ``sslteach compare`` and ``sslteach sweep``: bars and training curves."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from sslteach.losses import method_title
from sslteach.study import STUDY_NAMES, STUDY_RESULTS


def plot_comparison(rows: Sequence[dict]) -> Figure:
    """Left: linear-probe and kNN accuracy per method on this run's data set, mean over seeds
    with error bars of one std (none for one seed), each method's effective rank written on
    its bar. Right, on an axis of its own: the source study's CIFAR-10 accuracy, for the methods
    it reports — a different data set, budget and protocol, so never on the same axis."""
    quoted = [r for r in rows if r["method"] in STUDY_RESULTS]
    widths = [1.9 * len(rows) + 1.5] + ([1.2 * len(quoted) + 1.0] if quoted else [])
    fig, axes = plt.subplots(
        1, len(widths), figsize=(sum(widths) + 1, 3.8), width_ratios=widths, squeeze=False
    )
    fig.patch.set_facecolor("white")
    ax = axes[0, 0]
    names = [method_title(r["method"]) for r in rows]
    x = np.arange(len(rows))
    dataset, seeds = rows[0]["dataset"], rows[0]["seeds"]

    def bars(offset: float, key: str, label: str):
        means = [r[f"{key}_mean"] for r in rows]
        errors = [r[f"{key}_std"] or 0.0 for r in rows]
        return ax.bar(
            x + offset, means, 0.4, yerr=errors if seeds > 1 else None, capsize=3, label=label
        )

    linear = bars(-0.2, "linear_probe_accuracy", f"linear probe ({dataset})")
    bars(0.2, "knn_accuracy", f"kNN ({dataset})")
    for bar, row in zip(linear, rows, strict=True):
        ax.annotate(
            f"rank {row['effective_rank_mean']:.0f} of d = {row['embedding_dim']}",
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
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    ax.set_title(f"{dataset}, {rows[0]['epochs']} epochs, same backbone and budget ({spread})")
    ax.legend(fontsize=8, loc="upper left")
    if quoted:
        study = axes[0, 1]
        study.bar(
            range(len(quoted)), [STUDY_RESULTS[r["method"]] for r in quoted], 0.6, color="0.45"
        )
        study.set_xticks(
            range(len(quoted)), [STUDY_NAMES[r["method"]] for r in quoted], rotation=20, ha="right"
        )
        study.set_ylim(0, 1.05)
        study.set_ylabel("accuracy (CIFAR-10, as reported)")
        study.set_title("the source study (quoted)")
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
