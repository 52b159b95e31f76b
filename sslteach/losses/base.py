"""What every sslteach loss shares: unweighted terms, their weights, the weighted sum, and the
declaration of its hyperparameters.

A loss's constructor signature is the one declaration of its hyperparameters: their names,
defaults and types (``float``, ``int`` or ``bool``). The command line's flags (``lambda_`` →
``--lambda``), ``sweep --param``, ``TrainConfig.loss`` validation, metrics.json and the
notebooks' sliders are all derived from it by :func:`hyperparameters_of`. What a signature
cannot say — a symbol, a slider range, a one-line help — the loss's own file adds in its
``knobs``; a hyperparameter without a range gets a slider around its default.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from sslteach.distributed import is_distributed

# Constructor arguments that change how a loss runs, not what it computes.
NOT_HYPERPARAMETERS = ("self", "gather_distributed")


@dataclass(frozen=True)
class Knob:
    """What a loss's signature cannot say about one hyperparameter: its symbol, a slider range
    (which must contain the default on one of its steps) and a one-line help for ``--help``."""

    symbol: str = ""
    low: float | None = None
    high: float | None = None
    step: float | None = None
    help: str = ""


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a loss, as its signature and its ``knobs`` declare it."""

    name: str  # the constructor argument, e.g. "lambda_"
    default: float | int | bool
    type: type  # float, int or bool
    symbol: str
    low: float
    high: float
    step: float
    help: str

    @property
    def flag(self) -> str:
        """The command-line flag: ``lambda_`` → ``--lambda``, ``w_size`` → ``--w-size``."""
        return "--" + self.name.rstrip("_").replace("_", "-")


def _slider_range(default: float | int | bool, kind: type) -> tuple[float, float, float]:
    """A slider for a hyperparameter without a declared range: from 0 to 4× the default, in
    steps that land on the default (0 → 1 in steps of 0.01 for a zero default)."""
    if kind is bool:
        return 0, 1, 1
    if kind is int:
        return 1, max(4 * default, 2), 1
    if default == 0:
        return 0.0, 1.0, 0.01
    return 0.0, 4 * default, default / 10


def hyperparameters_of(cls: type[SSLLoss]) -> dict[str, Hyperparameter]:
    """The hyperparameters a loss class declares: its constructor arguments but
    ``gather_distributed``, each with a default and a type hint of float, int or bool."""
    hints = typing.get_type_hints(cls.__init__)
    declared = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in NOT_HYPERPARAMETERS or parameter.kind is parameter.VAR_KEYWORD:
            continue
        kind = hints.get(name)
        if kind not in (float, int, bool) or parameter.default is parameter.empty:
            raise TypeError(
                f"{cls.__name__}.__init__ argument {name!r} needs a default and a type hint of "
                "float, int or bool: the constructor signature declares the hyperparameters"
            )
        knob = cls.knobs.get(name, Knob())
        low, high, step = _slider_range(parameter.default, kind)
        declared[name] = Hyperparameter(
            name=name,
            default=parameter.default,
            type=kind,
            symbol=knob.symbol or name.rstrip("_"),
            low=low if knob.low is None else knob.low,
            high=high if knob.high is None else knob.high,
            step=step if knob.step is None else knob.step,
            help=knob.help,
        )
    unknown = set(cls.knobs) - set(declared)
    if unknown:
        raise TypeError(f"{cls.__name__}.knobs names no constructor argument: {sorted(unknown)}")
    return declared


class SSLLoss(nn.Module):
    """A joint-embedding loss  L(Z, Z') = Σ_k w_k · term_k(Z, Z').

    Subclasses implement ``terms`` (the unweighted pieces, so notebooks, logs and widgets can
    show each one) and ``weights`` (the w_k, keyed like the terms); ``forward`` is their sum.
    Each hyperparameter is a constructor argument with a default and a type hint, stored
    under its own name (``self.lambda_``); ``knobs`` gives sliders and help text.

    A method with a trainable head returns it from ``build_predictor``: the training loop puts
    it on the model (so the optimiser, DDP and checkpoints cover it) and then calls
    ``terms(p_a, p_b, t_a, t_b)`` with the predictions of both views and their targets.
    ``train_defaults`` are the ``TrainConfig`` values the method trains with unless the user
    says otherwise, under ``"all"`` for every data set and under a data set's name for that
    one (BYOL's momentum, for instance: 0.99 in general, lower for the short shapes runs).

    ``gather_distributed=True`` (a constructor argument of every loss) makes the batch
    statistics span the embeddings of all processes of a ``torchrun`` run, so that K processes
    compute the loss of the whole global batch, value and gradients (see
    ``sslteach.distributed``). It changes how the loss runs, not what it computes, so it is not
    a hyperparameter; without a process group it does nothing.
    """

    title: ClassVar[str] = ""  # the method's name in tables and figures ("VICReg")
    knobs: ClassVar[dict[str, Knob]] = {}
    train_defaults: ClassVar[dict[str, dict[str, object]]] = {}
    gather_distributed: bool = False

    def _distributed(self) -> bool:
        """Whether to gather across processes now: asked for, and more than one process."""
        return self.gather_distributed and is_distributed()

    def terms(self, z_a: Tensor, z_b: Tensor) -> dict[str, Tensor]:
        """The unweighted loss terms for embeddings ``z_a``, ``z_b`` of shape (n, d)."""
        raise NotImplementedError

    @property
    def weights(self) -> dict[str, float]:
        """The weight of each term, keyed like ``terms``."""
        raise NotImplementedError

    def build_predictor(self, dim: int) -> nn.Module | None:
        """The trainable head this method puts on top of a d-dimensional embedding (None)."""
        return None

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        """Σ_k w_k · term_k: the scalar loss from terms computed by ``terms``."""
        weights = self.weights
        return sum(weights[name] * value for name, value in terms.items())

    def forward(self, *embeddings: Tensor, **options) -> Tensor:
        return self.combine(self.terms(*embeddings, **options))

    def hyperparameters(self) -> dict[str, float | int | bool]:
        """The current value of every hyperparameter, for logs, checkpoints and metrics.json."""
        return {name: getattr(self, name) for name in hyperparameters_of(type(self))}

    def extra_repr(self) -> str:
        values = dict(self.hyperparameters())
        if self.gather_distributed:
            values["gather_distributed"] = True
        return ", ".join(f"{name}={value}" for name, value in values.items())


def off_diagonal(m: Tensor) -> Tensor:
    """The d·(d−1) off-diagonal entries of a square (d, d) matrix, as a flat view (no copy).

    Dropping the last element of the flattened matrix and reading it as (d−1, d+1) puts every
    diagonal entry in column 0 — the trick of the official Barlow Twins code.
    """
    d = m.shape[0]
    return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()
