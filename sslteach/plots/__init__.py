"""Figures for the notebooks: each function takes tensors and returns a matplotlib Figure.

Figures use a white face and black text on purpose, so they stay readable in both light and
dark notebook themes (a transparent figure with black labels vanishes on a dark page).
One module per topic; the common ones are importable from here.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from sslteach.plots.embeddings import (
    plot_embedding_2d,
    plot_history,
    plot_quick_run,
    plot_spectra,
    principal_components,
)
from sslteach.plots.views import plot_views


def set_style() -> None:
    """sslteach's figure style: seaborn's "whitegrid" with a white face and black text, so
    figures stay readable on light and dark notebook themes. Notebooks call it once."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "figure.dpi": 90})


__all__ = [
    "plot_embedding_2d",
    "plot_history",
    "plot_quick_run",
    "plot_spectra",
    "plot_views",
    "principal_components",
    "set_style",
]
