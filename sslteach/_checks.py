"""Input checks shared by the library: every message names the argument, its value and the fix."""

from __future__ import annotations

import math

import torch
from torch import Tensor

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_matrix(z: object, name: str, *, min_rows: int = 2) -> None:
    """Raise unless ``z`` is a floating-point (n, d) tensor with n >= ``min_rows`` and d >= 1."""
    if not isinstance(z, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, d), got {type(z).__name__}")
    if z.dim() != 2:
        raise ValueError(
            f"{name} must be 2-D (n samples, d dimensions), got shape {tuple(z.shape)}; "
            f"flatten it first, e.g. {name}.flatten(1)"
        )
    if not z.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {z.dtype}; use {name}.float()"
        )
    n, d = z.shape
    if n < min_rows:
        raise ValueError(
            f"{name} has batch size n={n}, but at least {min_rows} samples are needed to estimate "
            "batch statistics; use a larger batch"
        )
    if d < 1:
        raise ValueError(f"{name} has d={d} dimensions; embeddings need at least one dimension")


def check_pair(z_a: object, z_b: object, *, min_rows: int = 2) -> None:
    """Raise unless ``z_a`` and ``z_b`` are matching (n, d) embedding batches of two views."""
    check_matrix(z_a, "z_a", min_rows=min_rows)
    check_matrix(z_b, "z_b", min_rows=min_rows)
    if z_a.shape != z_b.shape:
        raise ValueError(
            f"z_a and z_b must have the same shape (row i of each is one image's two views), "
            f"got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )


def check_number(
    name: str,
    value: object,
    *,
    low: float = 0.0,
    high: float = math.inf,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float after checking it is a finite number in the given range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    below = value < low if low_inclusive else value <= low
    above = value > high if high_inclusive else value >= high
    if not math.isfinite(value) or below or above:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive and math.isfinite(high) else ")"
        raise ValueError(
            f"{name} must lie in {left}{low}, {high}{right} and be finite, got {value}"
        )
    return value


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` after checking it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def upcast(z: Tensor) -> Tensor:
    """float16/bfloat16 -> float32 for statistics that need the precision; others unchanged."""
    return z.float() if z.dtype in _LOW_PRECISION else z
