"""How long do the notebooks and the unit tests take? Wall time of each, on this machine.

* notebooks: each ``notebooks/*.ipynb`` is executed top to bottom with ``nbclient`` in a fresh
  kernel of this Python (the ``python3`` kernel, with the notebook's folder as working
  directory, as ``pytest --nbval --nbval-current-env`` runs it), in memory: the files on disk
  are not changed. Its time includes the kernel's start-up; it is not compared to the stored
  outputs (``pytest --nbval`` does that), but a cell that raises is reported as a failure;
* tests: ``python -m pytest tests -q -p no:cacheprovider`` in a subprocess, from the
  repository root; its exit status and pytest's summary line are recorded.

Each is run once: these are minutes-long jobs, and the number wanted is what a reader or CI
waits. ``--quick`` executes a two-cell notebook made on the fly and one test file instead,
to check the script end to end. Results go to benchmarks/results/suite_time.{json,md}.

    python benchmarks/suite_time.py [--quick] [--notebooks NAME ...] [--tests PATH ...]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import torch
from _report import load_average, machine, write_results
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT = 3600  # seconds; a cell that runs longer is reported as a failure


def smoke_notebook() -> nbformat.NotebookNode:
    """What --quick executes: a notebook that imports the library and runs one loss."""
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import torch\nfrom sslteach.losses import VICRegLoss"),
            nbformat.v4.new_code_cell("VICRegLoss()(torch.randn(8, 4), torch.randn(8, 4))"),
        ]
    )


def time_notebook(name: str, nb: nbformat.NotebookNode, folder: Path) -> dict:
    """Seconds to execute ``nb`` in a fresh kernel, and whether every cell ran."""
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
        error = None
    except Exception as err:  # a failing notebook is a result, not a crash of the benchmark
        last_line = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines()[-1]  # no colours
        error = f"{type(err).__name__}: {last_line[:200]}"
    seconds = time.perf_counter() - start
    cells = sum(cell.cell_type == "code" for cell in nb.cells)
    print(f"{name}: {seconds:.1f} s, {cells} code cells, {error or 'ok'}", flush=True)
    return {"notebook": name, "seconds": round(seconds, 1), "code_cells": cells, "error": error}


def time_tests(paths: list[str]) -> dict:
    """Seconds of one pytest run over ``paths``, its exit status and its summary line."""
    command = [sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else done.stderr.strip()[-200:]
    print(f"pytest {' '.join(paths)}: {seconds:.1f} s, exit {done.returncode}, {summary}")
    return {
        "command": " ".join(["pytest", *command[3:]]),
        "seconds": round(seconds, 1),
        "exit_status": done.returncode,
        "summary": summary,
    }


def markdown(report: dict) -> str:
    lines = [
        "# Notebook suite and test suite wall time",
        "",
        f"{report['machine']}; torch {report['torch']}, {report['threads']} threads, "
        f"load average before the run {report['load_before']}. One run each; a notebook's "
        "time includes its kernel's start-up.",
        "",
        "| what | seconds | result |",
        "| --- | ---: | --- |",
    ]
    for r in report["notebooks"]:
        result = r["error"] or f"ok ({r['code_cells']} code cells)"
        lines.append(f"| {r['notebook']} | {r['seconds']} | {result} |")
    total = sum(r["seconds"] for r in report["notebooks"])
    lines.append(f"| **all notebooks** | **{total:.1f}** | |")
    t = report["tests"]
    lines.append(f"| `{t['command']}` | {t['seconds']} | exit {t['exit_status']}: {t['summary']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (for CI)")
    parser.add_argument("--notebooks", nargs="*", help="file names under notebooks/ (all)")
    parser.add_argument("--tests", nargs="*", default=["tests"], help="pytest paths (tests)")
    args = parser.parse_args()
    folder, load_before = ROOT / "notebooks", load_average()
    if args.quick:
        notebooks = [time_notebook("quick smoke notebook", smoke_notebook(), folder)]
        tests = time_tests(args.tests if args.tests != ["tests"] else ["tests/test_diagnostics.py"])
    else:
        names = args.notebooks or sorted(p.name for p in folder.glob("*.ipynb"))
        notebooks = [
            time_notebook(name, nbformat.read(folder / name, as_version=4), folder)
            for name in names
        ]
        tests = time_tests(args.tests)
    report = {
        "machine": machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "quick": args.quick,
        "load_before": load_before,
        "notebooks": notebooks,
        "tests": tests,
    }
    write_results("suite_time", report, markdown(report), quick=args.quick)
    print(markdown(report))


if __name__ == "__main__":
    main()
