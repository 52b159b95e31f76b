"""pytest configuration shared by the unit tests and the notebooks (``pytest --nbval``)."""

from __future__ import annotations

from pathlib import Path

SANITIZE = Path(__file__).parent / "notebooks" / "nbval_sanitize.cfg"


def pytest_configure(config):
    # nbval compares outputs after these substitutions (timings, memory addresses), wherever
    # pytest is started from; an explicit --nbval-sanitize-with still wins.
    if hasattr(config.option, "nbval_sanitize_with") and not config.option.nbval_sanitize_with:
        config.option.nbval_sanitize_with = str(SANITIZE)
