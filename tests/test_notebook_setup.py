"""The notebooks' test set-up: nbval gets the sanitize file, and its patterns do their job."""

from __future__ import annotations

import re
from pathlib import Path

from nbval.plugin import get_sanitize_patterns

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


def test_nbval_uses_the_sanitize_file(pytestconfig):
    assert Path(pytestconfig.option.nbval_sanitize_with) == NOTEBOOKS / "nbval_sanitize.cfg"


def sanitize(text: str) -> str:
    patterns = get_sanitize_patterns((NOTEBOOKS / "nbval_sanitize.cfg").read_text())
    for regex, replacement in patterns:
        text = re.sub(regex, replacement, text)
    return text


def test_sanitize_hides_timings_and_addresses_only():
    run_1 = "trained in 12.5 s (34 ms a step), loss at 0x7f3a2b1c0d10; effective rank 11.9"
    run_2 = "trained in 9.8 s (27 ms a step), loss at 0x7f11aa220f00; effective rank 11.9"
    assert sanitize(run_1) == sanitize(run_2)
    assert "11.9" in sanitize(run_1)  # numbers that are not durations are still compared
    assert sanitize("effective rank 11.9") != sanitize("effective rank 12.0")


def test_every_notebook_has_a_solutions_file():
    notebooks = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    solutions = sorted(p.stem for p in (NOTEBOOKS / "solutions").glob("*.md"))
    assert notebooks and notebooks == solutions
