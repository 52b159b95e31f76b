"""What does each loss cost as the embedding widens? Time and memory of forward + backward.

For every sslteach loss, and for lightly's implementation of the same loss in the same run
(VICReg, Barlow Twins with lambda_param=0.0051 as in the official code, TiCo), on random
float32 embeddings z_a, z_b of shape (n, d), n in {256, 512}, d = 128, 256, ..., 8192:

* time: one call is ``loss(z_a, z_b).backward()``; calls are repeated until a repeat lasts
  >= 50 ms, and the median of the repeats (after a warm-up call) is reported per call;
* memory: the bytes the loss keeps alive for backward, i.e. the distinct storages handed to
  ``torch.autograd.graph.saved_tensors_hooks`` while the forward runs, excluding z_a and z_b
  themselves. This is deterministic and the same on every device; it does not count
  temporaries freed inside the forward or those of the backward. On CUDA the peak of
  ``torch.cuda.max_memory_allocated`` above the inputs, over forward + backward, is also
  reported; it does count them (and the input gradients).
* agreement: on the first call (TiCo's memory C still empty) the loss values and input
  gradients of the two implementations are compared, so that a difference of definition
  shows in the output.

W-MSE runs with w_size = n, only where its own condition w_size >= 2·d holds. Target:
sslteach no slower and no more memory than lightly. Results go to
benchmarks/results/loss_cost.{json,md,png}.

    python benchmarks/loss_cost.py [--quick] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import lightly.loss
import matplotlib
import matplotlib.ticker
import torch
from _report import load_average, machine, write_results

from sslteach import losses

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SSLTEACH = {
    "vicreg": lambda n: losses.VICRegLoss(),
    "barlow-twins": lambda n: losses.BarlowTwinsLoss(),
    "tico": lambda n: losses.TiCoLoss(),
    "vicreg-tico": lambda n: losses.VICRegTiCoLoss(),
    "wmse": lambda n: losses.WMSELoss(w_size=n),
}
LIGHTLY = {
    "vicreg": lambda n: lightly.loss.VICRegLoss(),  # defaults 25/25/1, eps 1e-4: the same
    "barlow-twins": lambda n: lightly.loss.BarlowTwinsLoss(lambda_param=0.0051),  # default 5e-3
    "tico": lambda n: lightly.loss.TiCoLoss(beta=0.9, rho=8.0),
}
NOTES = {
    "vicreg": "same definition (both follow the official code)",
    "barlow-twins": "same definition once lightly's lambda_param is set to 0.0051",
    "tico": "same definition: both detach B = ẑ_aᵀẑ_a/n, so C is a constant for the gradient",
}


def inputs(n: int, d: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(n * 100_003 + d)
    z_a, z_b = torch.randn(2, n, d, generator=generator).to(device)
    return z_a.requires_grad_(), z_b.requires_grad_()


def call(loss_fn, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    z_a.grad = z_b.grad = None
    loss = loss_fn(z_a, z_b)
    loss.backward()
    return loss.detach()


def seconds_per_call(loss_fn, z_a, z_b, repeats: int, device: torch.device) -> float:
    """Median seconds of one forward + backward, each repeat at least 50 ms long."""
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    sync()
    start = time.perf_counter()
    call(loss_fn, z_a, z_b)  # warm-up, and a first estimate
    sync()
    number = max(1, round(0.05 / (time.perf_counter() - start)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            call(loss_fn, z_a, z_b)
        sync()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def saved_bytes(loss_fn, z_a, z_b) -> int:
    """Bytes of the distinct storages autograd saves for backward, the inputs' excluded."""
    excluded = {z_a.untyped_storage().data_ptr(), z_b.untyped_storage().data_ptr()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in excluded:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    z_a.grad = z_b.grad = None
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn(z_a, z_b)
    loss.backward()
    return sum(saved.values())


def cuda_peak_bytes(loss_fn, z_a, z_b) -> int:
    z_a.grad = z_b.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    call(loss_fn, z_a, z_b)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def agreement(name: str, n: int, z_a, z_b) -> dict:
    """Relative differences of value and input gradients, fresh modules (C empty)."""
    out = {}
    for label, make in (("sslteach", SSLTEACH[name]), ("lightly", LIGHTLY[name])):
        value = call(make(n), z_a, z_b)
        out[label] = (value, torch.cat([z_a.grad.flatten(), z_b.grad.flatten()]))
    (v_s, g_s), (v_l, g_l) = out["sslteach"], out["lightly"]
    return {"value_rel_diff": rel_diff(v_s, v_l), "grad_rel_diff": rel_diff(g_s, g_l)}


def measure(ns, ds, repeats: int, device: torch.device) -> tuple[list[dict], list[dict]]:
    rows, checks = [], []
    for n in ns:
        for d in ds:
            z_a, z_b = inputs(n, d, device)
            for name in SSLTEACH:
                if name in LIGHTLY:
                    checks.append({"loss": name, "n": n, "d": d, **agreement(name, n, z_a, z_b)})
                for impl, table in (("sslteach", SSLTEACH), ("lightly", LIGHTLY)):
                    if name not in table or (name == "wmse" and n < 2 * d):
                        continue
                    row = {"loss": name, "impl": impl, "n": n, "d": d}
                    row["ms"] = 1e3 * seconds_per_call(table[name](n), z_a, z_b, repeats, device)
                    row["saved_mib"] = saved_bytes(table[name](n), z_a, z_b) / 2**20
                    if device.type == "cuda":
                        row["cuda_peak_mib"] = cuda_peak_bytes(table[name](n), z_a, z_b) / 2**20
                    rows.append(row)
                    print(
                        f"{name:13s} {impl:9s} n={n:4d} d={d:5d} {row['ms']:10.3f} ms "
                        f"{row['saved_mib']:9.2f} MiB saved",
                        flush=True,
                    )
    return rows, checks


def plot(rows: list[dict], ns, ds, path: Path) -> None:
    fig, axes = plt.subplots(2, len(ns), figsize=(5.5 * len(ns), 8), squeeze=False)
    colours = dict(zip(SSLTEACH, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for col, n in enumerate(ns):
        for name in SSLTEACH:
            for impl, style in (("sslteach", "-o"), ("lightly", "--x")):
                sel = [r for r in rows if (r["loss"], r["impl"], r["n"]) == (name, impl, n)]
                if not sel:
                    continue
                kw = dict(color=colours[name], label=f"{name} ({impl})")
                axes[0, col].plot([r["d"] for r in sel], [r["ms"] for r in sel], style, **kw)
                axes[1, col].plot([r["d"] for r in sel], [r["saved_mib"] for r in sel], style, **kw)
        for row, ylabel in ((0, "forward + backward (ms)"), (1, "saved for backward (MiB)")):
            ax = axes[row, col]
            ax.set(yscale="log", xlabel="embedding width d", ylabel=ylabel)
            ax.set_xscale("log", base=2)
            ax.set_xticks(ds, [str(d) for d in ds], minor=False)
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_title(f"n = {n}")
            ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(report: dict) -> str:
    rows = {(r["loss"], r["impl"], r["n"], r["d"]): r for r in report["results"]}
    lines = [
        "# Loss cost vs embedding width: forward + backward",
        "",
        f"{report['machine']}; torch {report['torch']}, lightly {report['lightly']}, "
        f"{report['threads']} threads, device {report['device']}, load average before the run "
        f"{report['load_before']}. Time: median ms per call; memory: MiB that autograd saves "
        "for backward (inputs excluded). Ratios are sslteach / lightly (target <= 1).",
        "",
        "| loss | n | d | sslteach ms | lightly ms | time ratio | sslteach MiB | lightly MiB "
        "| memory ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (name, impl, n, d), s in rows.items():
        other = rows.get((name, "lightly", n, d))
        if impl != "sslteach" or other is None:
            continue
        mem_ratio = s["saved_mib"] / other["saved_mib"] if other["saved_mib"] else float("nan")
        lines.append(
            f"| {name} | {n} | {d} | {s['ms']:.3f} | {other['ms']:.3f} | "
            f"{s['ms'] / other['ms']:.2f} | {s['saved_mib']:.2f} | {other['saved_mib']:.2f} | "
            f"{mem_ratio:.2f} |"
        )
    lines += ["", "sslteach only:", "", "| loss | n | d | ms | MiB |"]
    lines.append("| --- | ---: | ---: | ---: | ---: |")
    for (name, _, n, d), s in rows.items():
        if name not in LIGHTLY:
            lines.append(f"| {name} | {n} | {d} | {s['ms']:.3f} | {s['saved_mib']:.2f} |")
    if report["device"].startswith("cuda"):
        lines += ["", "CUDA peak above the inputs, forward + backward (MiB):", ""]
        for (name, impl, n, d), r in rows.items():
            lines.append(f"- {name} ({impl}), n={n}, d={d}: {r['cuda_peak_mib']:.2f}")
    lines += ["", "Agreement with lightly (largest relative difference over all n, d):", ""]
    for name, note in NOTES.items():
        sel = [c for c in report["agreement"] if c["loss"] == name]
        value = max(c["value_rel_diff"] for c in sel)
        grad = max(c["grad_rel_diff"] for c in sel)
        lines.append(f"- {name}: value {value:.1e}, gradient {grad:.1e} — {note}.")
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
        ns, ds, repeats = (256,), (128, 256), 2
    else:
        ns, ds, repeats = (256, 512), tuple(2**k for k in range(7, 14)), 5
    report = {
        "machine": machine(),
        "torch": torch.__version__,
        "lightly": lightly.__version__,
        "threads": args.threads,
        "device": str(device),
        "quick": args.quick,
        "repeats": repeats,
        "load_before": load_average(),
        "memory_measure": "bytes of distinct storages saved for backward, inputs excluded",
        "notes": NOTES,
    }
    report["results"], report["agreement"] = measure(ns, ds, repeats, device)
    stem = write_results("loss_cost", report, markdown(report), quick=args.quick)
    plot(report["results"], ns, ds, stem.with_suffix(".png"))
    print(markdown(report))


if __name__ == "__main__":
    main()
