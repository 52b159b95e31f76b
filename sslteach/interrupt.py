"""What Ctrl-C does to a training run, so that a checkpoint is only ever written between steps.

- The first Ctrl-C asks the loop to stop after the current step; it saves the checkpoint there
  and raises ``TrainingInterrupted`` (saved at that step: ``--resume`` continues exactly).
- A second Ctrl-C stops at once, in the middle of a step. Nothing is saved then: the model and
  optimiser would be ahead of the recorded position. The checkpoint already on disk (the last
  complete one, usually the end of the previous epoch) is kept, and the message says which.
- A Ctrl-C that arrives while a checkpoint is being written waits until the file is complete.

``TrainingInterrupted`` is a ``KeyboardInterrupt``, so code that catches Ctrl-C still does.
SIGINT handlers can only be installed from the main thread; elsewhere Ctrl-C is left alone.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sslteach.checkpoint import describe_position


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C; ``str()`` says what the checkpoint holds."""

    def __init__(self, message: str, *, saved: bool) -> None:
        super().__init__(message)
        self.saved = saved  # True: saved at the step where training stopped

    def __str__(self) -> str:
        return self.args[0]


def interruption(
    position: tuple[int, int] | None, saved: tuple[int, int] | None, path: Path | None
) -> TrainingInterrupted:
    """The exception for a run stopped at ``position`` (None: in the middle of a step), whose
    checkpoint file ``path`` holds the state at ``saved`` (None: nothing written yet)."""
    where = "in the middle of a step" if position is None else describe_position(*position)
    if saved is not None and saved == position:
        return TrainingInterrupted(f"stopped {where}; saved {path} there", saved=True)
    if saved is None:
        return TrainingInterrupted(f"stopped {where}; no checkpoint has been written", saved=False)
    kept = f"{path} holds the last complete state ({describe_position(*saved)})"
    return TrainingInterrupted(f"stopped {where}; {kept}", saved=False)


class CtrlC:
    """The SIGINT handler of one ``Trainer.fit``: a flag the loop reads between steps."""

    def __init__(self) -> None:
        self.requested = False  # the loop stops after the current step
        self._saving = False
        self._previous = None

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        if self.requested and not self._saving:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now, mid-step
        self.requested = True

    @contextmanager
    def saving(self) -> Iterator[None]:
        """While a checkpoint is written, Ctrl-C only asks to stop once it is complete."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
