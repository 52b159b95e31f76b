"""Several processes compute the loss of one process on the whole batch: values and gradients.

Each test spawns 2 CPU processes that talk over gloo, as ``torchrun`` would start them. The
workers write what they computed to files; the tests compare it with one process on the whole
global batch, in float64, to 1e-10. This is the bug class popular libraries shipped (a plain
all_gather or all_reduce that cuts the autograd graph): ``test_plain_all_gather_or_...`` shows
that the naive versions give gradients K times too small.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from interrupt import InterruptAt
from torch import nn

from sslteach import distributed
from sslteach.cli import main
from sslteach.config import make_config
from sslteach.data import load_dataset
from sslteach.losses import (
    LOSSES,
    build_loss,
    covariance_loss,
    cross_correlation,
    off_diagonal_loss,
    standardize,
)
from sslteach.train import Trainer, resume_trainer

WORLD = 2
N, D_IN, D = 16, 6, 4  # global batch, input width, embedding width (W-MSE: w_size ≥ 2·D)
STEPS = 2  # the second step sees TiCo's memory C of the first
LOSS_ARGS = {"wmse": {"w_size": 8, "eps": 0.05}}  # two sub-batches of the global batch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_env(rank: int, port: int) -> None:
    """The environment ``torchrun`` gives each process."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D_IN, 8), nn.Tanh(), nn.Linear(8, D)).double()


def inputs(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two 'views' of the global batch: x_b is a perturbed x_a."""
    g = torch.Generator().manual_seed(100 + step)
    x_a = torch.randn(N, D_IN, generator=g, dtype=torch.float64)
    return x_a, x_a + 0.3 * torch.randn(N, D_IN, generator=g, dtype=torch.float64)


def train_steps(method: str) -> dict:
    """STEPS SGD steps of a small model under ``method``; in a process group, DDP on shards."""
    model = small_model()
    net = nn.parallel.DistributedDataParallel(model) if distributed.is_distributed() else model
    loss_fn = build_loss(method, gather_distributed=True, **LOSS_ARGS.get(method, {}))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    record: dict = {"loss": [], "grads": []}
    for step in range(STEPS):
        x_a, x_b = (distributed.shard(x) for x in inputs(step))
        torch.manual_seed(step)  # W-MSE's sub-batch permutation: one process's draw
        z_a, z_b = net(x_a), net(x_b)
        predicts = loss_fn.build_predictor(D) is not None  # SimSiam, BYOL: (p_a, p_b, t_a, t_b)
        loss = loss_fn(z_a, z_b, z_a, z_b) if predicts else loss_fn(z_a, z_b)
        optimizer.zero_grad()
        loss.backward()
        record["loss"].append(loss.detach())
        record["grads"].append({k: p.grad.clone() for k, p in model.named_parameters()})
        optimizer.step()
    record["params"] = {k: p.detach().clone() for k, p in model.named_parameters()}
    record["C"] = getattr(loss_fn, "C", None)
    return record


def naive_gather(z: torch.Tensor) -> torch.Tensor:
    """What a first attempt looks like: all_gather, then put our own rows back with their graph.
    The other ranks' rows are constants here, so their share of the gradient is lost."""
    parts = [torch.empty_like(z) for _ in range(WORLD)]
    dist.all_gather(parts, z.detach())
    parts[dist.get_rank()] = z
    return torch.cat(parts)


def naive_cross_correlation(z: torch.Tensor) -> torch.Tensor:
    """Barlow Twins' c of z with itself, summed over ranks by a plain in-place all_reduce,
    which autograd does not see (torch warns: "this may lead to silently incorrect behavior")."""
    z_hat = standardize(z, distributed=True)
    c = z_hat.T @ z_hat / (len(z) * WORLD)
    dist.all_reduce(c)
    return c


# Two statistics of the global batch, with their cross-rank sum done right or naively.
STATISTICS = {
    "covariance": lambda z: covariance_loss(distributed.gather(z)),
    "covariance_naive": lambda z: covariance_loss(naive_gather(z)),
    "correlation": lambda z: off_diagonal_loss(cross_correlation(z, z, distributed=True)),
    "correlation_naive": lambda z: off_diagonal_loss(naive_cross_correlation(z)),
}


def statistic_grads(statistic) -> dict:
    """Gradients of ``statistic`` of a DDP model's embeddings (one process: the whole batch)."""
    model = small_model()
    net = nn.parallel.DistributedDataParallel(model) if distributed.is_distributed() else model
    x = distributed.shard(inputs(0)[0])
    statistic(net(x)).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


RUN = dict(train_images=128, epochs=2, batch_size=32, projector="32-16", device="cpu")


def interrupted_and_resumed(out: Path, method: str = "vicreg") -> dict:
    """A 2-process run stopped by Ctrl-C inside epoch 2, then resumed from its checkpoint."""
    config = make_config("shapes", method, **RUN)
    train_set = load_dataset("shapes", "train").subset(config.train_images)
    path = out / f"interrupted-{method}.pt"
    with pytest.raises(KeyboardInterrupt):
        Trainer(config, train_set, checkpoint_path=path, callbacks=[InterruptAt(1, 2)]).fit()
    distributed.barrier()  # rank 0 has written the checkpoint
    resumed = resume_trainer(path, train_set)
    resumed.fit()
    weights = {k: p.detach().clone() for k, p in resumed.model.named_parameters()}
    if resumed.target is not None:
        target = resumed.target.named_parameters()
        weights.update({f"target.{k}": p.detach().clone() for k, p in target})
    return weights


def uninterrupted(method: str) -> dict:
    config = make_config("shapes", method, **RUN)
    trainer = Trainer(config, load_dataset("shapes", "train").subset(config.train_images))
    trainer.fit()
    weights = {k: p.detach().clone() for k, p in trainer.model.named_parameters()}
    target = trainer.target.named_parameters()
    return {**weights, **{f"target.{k}": p.detach().clone() for k, p in target}}


def worker(rank: int, port: int, out: str) -> None:
    """One of the processes: the losses, then training as ``torchrun -m sslteach train`` does."""
    torchrun_env(rank, port)
    assert distributed.setup("cpu")
    results = {method: train_steps(method) for method in LOSSES}
    results["statistics"] = {name: statistic_grads(f) for name, f in STATISTICS.items()}
    results["resumed"] = interrupted_and_resumed(Path(out))
    results["byol_resumed"] = interrupted_and_resumed(Path(out), "byol")
    results["byol_trained"] = uninterrupted("byol")

    fit = Trainer.fit

    def fit_and_keep(self):  # the CLI does not hand its Trainer out
        history = fit(self)
        results["trained"] = {k: p.detach().clone() for k, p in self.model.named_parameters()}
        return history

    Trainer.fit = fit_and_keep
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in RUN.items()]
    assert main(["train", "--method", "vicreg", *flags, "--no-progress", "--out", out]) == 0
    assert not dist.is_initialized()  # the CLI left the process group
    torch.save(results, Path(out) / f"rank{rank}.pt")


@pytest.fixture(scope="module")
def spawned(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("ranks")
    mp.start_processes(worker, (free_port(), str(out)), nprocs=WORLD, start_method="spawn")
    return out, [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


def assert_equal(a, b, what: str) -> None:
    torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10, msg=what)


@pytest.mark.parametrize("method", list(LOSSES))
def test_two_processes_equal_one_process_on_the_whole_batch(method, spawned):
    _, ranks = spawned
    single = train_steps(method)  # no process group here: one process, the whole batch
    for r, result in enumerate(ranks):
        for step in range(STEPS):
            assert_equal(result[method]["loss"][step], single["loss"][step], f"rank {r} loss")
            for name, grad in single["grads"][step].items():
                assert_equal(result[method]["grads"][step][name], grad, f"rank {r} ∂/∂{name}")
        for name, param in single["params"].items():
            assert_equal(result[method]["params"][name], param, f"rank {r} {name}")
        if single["C"] is not None:  # TiCo's memory: the same on every rank as in one process
            assert_equal(result[method]["C"], single["C"], f"rank {r} C")


@pytest.mark.parametrize("statistic", ["covariance", "correlation"])
def test_plain_all_gather_or_all_reduce_loses_the_other_ranks_gradients(statistic, spawned):
    _, ranks = spawned
    single = statistic_grads(STATISTICS[statistic])  # no process group: the whole batch
    for result in ranks:
        ours, naive = (result["statistics"][k] for k in (statistic, statistic + "_naive"))
        for name, grad in single.items():
            assert_equal(ours[name], grad, name)
            # The naive sum's gradient is K times too small after DDP's average.
            assert_equal(WORLD * naive[name], grad, name)
            if grad.abs().max() > 1e-8:  # (biases get none: these statistics ignore shifts)
                assert not torch.allclose(naive[name], grad)


def test_helpers_are_identities_in_one_process():
    z = torch.randn(4, 3)
    assert not distributed.is_distributed()
    assert distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.is_main_process() and not distributed.any_rank(False)
    identities = ("gather", "all_reduce_sum", "all_reduce_mean", "broadcast", "shard")
    for name in identities:
        assert getattr(distributed, name)(z) is z, name
    assert distributed.local_batch_size(6) == 6
    assert distributed.setup() is False  # no WORLD_SIZE: nothing to join


def test_torchrun_style_training_writes_once_and_keeps_ranks_in_step(spawned):
    out, ranks = spawned
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["processes"] == WORLD
    assert len(metrics["history"]) == 2 and 0 <= metrics["linear_probe_accuracy"] <= 1
    assert (out / "checkpoint.pt").is_file()
    for name, value in ranks[0]["trained"].items():  # DDP kept the ranks in step
        torch.testing.assert_close(ranks[1]["trained"][name], value, atol=0, rtol=0, msg=name)


def test_interrupted_two_process_run_resumes_exactly(spawned):
    _, ranks = spawned
    for result in ranks:
        for name, value in ranks[0]["trained"].items():
            torch.testing.assert_close(result["resumed"][name], value, atol=0, rtol=0, msg=name)


def test_momentum_target_stays_in_step_and_resumes_exactly(spawned):
    """BYOL in two processes: predictor and EMA target equal on both ranks, and an interrupted,
    resumed run equals the uninterrupted one, target included."""
    _, ranks = spawned
    reference = ranks[0]["byol_trained"]
    assert any(name.startswith("target.") for name in reference)
    assert any(name.startswith("predictor.") for name in reference)
    for result in ranks:
        for name, value in reference.items():
            torch.testing.assert_close(result["byol_trained"][name], value, atol=0, rtol=0)
            torch.testing.assert_close(result["byol_resumed"][name], value, atol=0, rtol=0)
