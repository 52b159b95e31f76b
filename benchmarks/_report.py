"""What every benchmark script shares: the machine it ran on, and where its results go."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    """The processor and its number of cores, as the reports print them."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def load_average() -> float:
    """The 1-minute load average: timings on a busy machine mean little."""
    return round(os.getloadavg()[0], 2)


def write_results(name: str, report: dict, markdown: str, *, quick: bool) -> Path:
    """``results/NAME.json`` and ``results/NAME.md`` (``NAME_quick.*`` for a smoke run, which
    git ignores); returns the path without extension, for any further file (a plot)."""
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / (name + ("_quick" if quick else ""))
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown)
    return stem
