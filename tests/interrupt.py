"""A simulated Ctrl-C for training tests."""

from __future__ import annotations

import os
import signal

from sslteach.callbacks import Callback


class InterruptAt(Callback):
    """Sends SIGINT to this process after the given (epoch, step), as Ctrl-C in a terminal
    would; in a multi-process run every rank gets it, as a terminal sends it to all."""

    def __init__(self, epoch: int, step: int) -> None:
        self.epoch, self.step = epoch, step

    def on_step(self, trainer, terms) -> None:
        if (trainer.epoch, trainer.step) == (self.epoch, self.step):
            os.kill(os.getpid(), signal.SIGINT)
