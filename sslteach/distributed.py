"""Several processes, one run: the helpers ``torchrun`` training needs, identity in one process.

``torchrun --nproc_per_node=K -m sslteach train …`` starts K copies of the program, each with
the environment variables RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Each
process (a *rank*) trains the same model on its own 1/K of every batch; DistributedDataParallel
(DDP) averages the parameter gradients over the ranks after ``backward``, so every rank takes
the same optimiser step.

Why the losses need more than DDP. VICReg's variance and covariance, Barlow Twins' standardised
cross-correlation, TiCo's memory and W-MSE's whitening are statistics *of the batch*: computed
on a rank's shard alone, they are a different loss with a smaller batch. So the losses gather
the embeddings of all ranks (or sum their statistics) and every rank computes the *same* global
loss L. The collectives here are autograd-aware: their backward sums the gradient over the
ranks, because every rank's copy of L depends on every rank's embeddings. Rank r therefore
receives ∂L/∂z_r from all K copies, K·∂L/∂z_r in total, and DDP's division by K turns the
average of the ranks' parameter gradients into exactly ∂L/∂θ of one process on the whole batch.

A plain ``dist.all_gather`` is invisible to autograd: the other ranks' rows arrive as constants,
so a rank only back-propagates the part of ∂L/∂z_r its own copy of L produced, and after DDP's
average the gathered terms' gradients come out K times too small (``tests/test_distributed.py``
shows it). A plain in-place ``dist.all_reduce`` of Barlow Twins' c has the same bug.

Every rank must pass tensors of the same shape: ``Trainer`` gives each rank an equal shard.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn

# Rank 0 may evaluate (linear probe, kNN) while the others wait at a barrier.
TIMEOUT = timedelta(minutes=60)


def is_distributed() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's number, 0 … K − 1 (0 in a single process)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes K (1 in a single process)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0: the one that prints, writes checkpoints and metrics, and evaluates."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """WORLD_SIZE > 1 in the environment: ``torchrun`` started several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str = "auto") -> bool:
    """Join the process group ``torchrun`` describes in the environment; False if there is none.

    NCCL for CUDA tensors, gloo for CPU tensors. On CUDA each process takes the GPU of its
    LOCAL_RANK, so K processes on one machine use K GPUs.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return dist.is_initialized()
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise ValueError(
                f"WORLD_SIZE is set but {name} is not; start several processes with "
                "torchrun --nproc_per_node=K -m sslteach train …"
            )
    if device != "cpu" and torch.cuda.is_available():
        local_rank, gpus = int(os.environ["LOCAL_RANK"]), torch.cuda.device_count()
        if local_rank >= gpus:
            raise ValueError(
                f"LOCAL_RANK={local_rank} but this machine has {gpus} GPU(s); use "
                f"torchrun --nproc_per_node={gpus} or fewer (or --device cpu)"
            )
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl", timeout=TIMEOUT)
    else:
        dist.init_process_group("gloo", timeout=TIMEOUT)
    return True


def resolve_device(name: str) -> torch.device:
    """ "auto" → CUDA when available, else CPU; "cuda" without a GPU is a clear error. Under
    torchrun, a plain "cuda" means this process's GPU (the one ``setup`` chose by LOCAL_RANK)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was requested but no CUDA GPU is available; use --device cpu"
        )
    device = torch.device(name)
    if device.type == "cuda" and device.index is None and is_distributed():
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def cleanup() -> None:
    """Leave the process group (a no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank arrives here (a no-op in one process)."""
    if is_distributed():
        nccl = dist.get_backend() == "nccl"  # NCCL wants to know the GPU it synchronises on
        dist.barrier(device_ids=[torch.cuda.current_device()] if nccl else None)


@contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. downloads CIFAR-10), then the others run it."""
    if not is_main_process():
        barrier()
    try:
        yield
    finally:
        if is_main_process():
            barrier()


class _Gather(torch.autograd.Function):
    """cat([z_0, …, z_{K−1}]) along the batch; backward: sum the gradient over ranks, keep ours."""

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:
        parts = [torch.empty_like(z) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, z.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()  # all_reduce works in place; leave autograd's buffer be
        dist.all_reduce(grad)  # every rank's copy of the loss used our rows
        return grad.chunk(dist.get_world_size())[dist.get_rank()]


class _AllReduceSum(torch.autograd.Function):
    """Σ_r x_r on every rank; backward: the gradient summed over ranks (each used the sum)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


def gather(z: Tensor) -> Tensor:
    """The (K·n, d) embeddings of all ranks, rank 0's rows first; gradients reach every rank."""
    return _Gather.apply(z) if is_distributed() else z


def all_reduce_sum(x: Tensor) -> Tensor:
    """Σ over ranks of ``x`` (same shape on every rank); gradients reach every rank."""
    return _AllReduceSum.apply(x) if is_distributed() else x


def all_reduce_mean(x: Tensor) -> Tensor:
    """The mean over ranks of ``x``: a batch mean when every rank holds an equal shard."""
    return all_reduce_sum(x) / world_size() if is_distributed() else x


def broadcast(x: Tensor) -> Tensor:
    """Rank 0's ``x`` on every rank (no gradient): for random draws all ranks must share."""
    if is_distributed():
        x = x.contiguous()
        dist.broadcast(x, src=0)
    return x


def any_rank(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank if ``flag`` is True on any: so all ranks stop at the same step."""
    if not is_distributed():
        return flag
    value = torch.tensor(float(flag), device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def local_batch_size(batch_size: int) -> int:
    """This process's share of the global ``batch_size``, which must split evenly."""
    k = world_size()
    if batch_size % k:
        raise ValueError(
            f"batch_size={batch_size} is the global batch and must split evenly across the {k} "
            f"processes; use --batch-size {max(k, batch_size // k * k)}"
        )
    return batch_size // k


def rank_seed(*numbers: int) -> int:
    """A seed from ``numbers`` (e.g. seed, epoch, step) and this rank: its own on every rank,
    the same on every machine and in every run (unlike Python's ``hash``)."""
    seed = 0
    for number in (*numbers, rank()):
        seed = (seed * 1_000_003 + number) % (2**63 - 1)
    return seed


def shard(batch: Tensor) -> Tensor:
    """This rank's contiguous 1/K of a global batch of indices (its length divisible by K).

    Like ``DistributedSampler`` every rank sees the same shuffled order and takes its own part,
    so one step of K processes covers exactly the global batch one process would see, and
    ``gather`` puts the rows back in that batch's order.
    """
    return batch.chunk(world_size())[rank()] if is_distributed() else batch


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` for K-process training: SyncBatchNorm on CUDA, then DDP; unchanged alone.

    BatchNorm's batch statistics are per-rank unless synchronised. torch's SyncBatchNorm runs
    only on GPUs (on CPU tensors it raises "SyncBatchNorm expected input tensor to be on GPU"),
    so on CPU (gloo) BatchNorm keeps per-rank statistics: each rank normalises its own shard,
    which differs slightly from one process on the whole batch (so does Shuffled-DBN, which
    whitens per rank). The losses are exact either way. ``convert_sync_batchnorm`` swaps the
    layers inside ``model`` in place, keeping their parameters and running statistics.
    """
    if not is_distributed():
        return model
    model = sync_batchnorm(model, device)
    if device.type == "cuda":
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return nn.parallel.DistributedDataParallel(model)


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with SyncBatchNorm layers when training on several GPUs (in place; see
    ``wrap_model``); unchanged in one process or on CPUs."""
    if is_distributed() and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model
