"""Where does each Gram-matrix road pay off? sslteach's two ways to one number, side by side.

VICReg's covariance term and Barlow Twins' two terms can be computed from (d, d) matrices
(the covariance C, the cross-correlation c) or from (n, n) Gram matrices of the batch, taken in
float64 so that a collapsed embedding keeps its value (see ``covariance_loss_from_gram``). This
script times forward + backward of both roads on the same random float32 embeddings, n in
{128, 256, 512} and d = n, 2n, 3n, 4n, 6n, 8n, in one run, the two roads alternating — the
measurement behind the thresholds the losses use (VICReg's Gram road from d = 2n, Barlow
Twins' from d = 4n). A ratio (Gram / (d, d)) below 1 means the Gram road is faster.
Results go to benchmarks/results/loss_roads.{json,md}.

    python benchmarks/loss_roads.py [--quick] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from _report import load_average, machine, write_results

from sslteach.losses import (
    covariance_loss_from_gram,
    covariance_matrix,
    cross_correlation,
    off_diagonal,
    off_diagonal_loss,
    on_diagonal_loss,
    terms_from_gram_matrices,
)


def vicreg_square(z_a, z_b):
    d = z_a.shape[1]
    return sum(off_diagonal(covariance_matrix(z)).pow(2).sum() / d for z in (z_a, z_b))


def vicreg_gram(z_a, z_b):
    return covariance_loss_from_gram(z_a) + covariance_loss_from_gram(z_b)


def barlow_square(z_a, z_b):
    c = cross_correlation(z_a, z_b)
    return on_diagonal_loss(c) + 0.0051 * off_diagonal_loss(c)


def barlow_gram(z_a, z_b):
    terms = terms_from_gram_matrices(z_a, z_b)
    return terms["on_diagonal"] + 0.0051 * terms["off_diagonal"]


ROADS = {"vicreg": (vicreg_square, vicreg_gram), "barlow-twins": (barlow_square, barlow_gram)}


def milliseconds(loss, z_a, z_b, repeats: int) -> float:
    """Median ms of ``loss(z_a, z_b).backward()`` over ``repeats`` calls, after two warm-ups."""
    times = []
    for i in range(repeats + 2):
        a, b = z_a.clone().requires_grad_(), z_b.clone().requires_grad_()
        if z_a.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss(a, b).backward()
        if z_a.is_cuda:
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def measure(ns, multiples, repeats: int, device: torch.device) -> list[dict]:
    rows = []
    g = torch.Generator().manual_seed(0)
    for n in ns:
        for k in multiples:
            z_a, z_b = (torch.randn(n, k * n, generator=g).to(device) for _ in range(2))
            for name, (square, gram) in ROADS.items():
                row = {"loss": name, "n": n, "d": k * n, "d_over_n": k}
                row["square_ms"] = milliseconds(square, z_a, z_b, repeats)
                row["gram_ms"] = milliseconds(gram, z_a, z_b, repeats)
                row["ratio"] = row["gram_ms"] / row["square_ms"]
                rows.append(row)
                print(
                    f"{name:13s} n={n:4d} d={k * n:5d} (d,d) {row['square_ms']:9.2f} ms  "
                    f"Gram {row['gram_ms']:9.2f} ms  ratio {row['ratio']:.2f}",
                    flush=True,
                )
    return rows


def markdown(report: dict) -> str:
    lines = [
        "# The two roads of VICReg's covariance and Barlow Twins' terms: forward + backward",
        "",
        f"{report['machine']}; torch {report['torch']}, {report['threads']} threads, device "
        f"{report['device']}, load average before the run {report['load_before']}. Median ms "
        f"of {report['repeats']} calls; ratio = Gram road / (d, d) road (below 1: Gram faster).",
        "",
        "| loss | n | d | (d, d) ms | Gram ms | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(report["results"], key=lambda r: (r["loss"] != "vicreg", r["n"], r["d"])):
        lines.append(
            f"| {r['loss']} | {r['n']} | {r['d']} ({r['d_over_n']}n) | {r['square_ms']:.2f} "
            f"| {r['gram_ms']:.2f} | {r['ratio']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (for CI)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.quick:
        ns, multiples, repeats = (64,), (1, 4), 2
    else:
        ns, multiples, repeats = (128, 256, 512), (1, 2, 3, 4, 6, 8), 7
    report = {
        "machine": machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "device": str(device),
        "quick": args.quick,
        "repeats": repeats,
        "load_before": load_average(),
    }
    report["results"] = measure(ns, multiples, repeats, device)
    write_results("loss_roads", report, markdown(report), quick=args.quick)
    print(markdown(report))


if __name__ == "__main__":
    main()
