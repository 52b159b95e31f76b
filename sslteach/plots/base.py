"""What every figure module shares."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def new_or_given_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """Draw into ``ax`` when given (a panel of a larger figure), else into a new white figure."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size)
    fig.patch.set_facecolor("white")
    return fig, ax
