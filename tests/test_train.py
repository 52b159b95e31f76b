"""The training loop: exact resume, the non-finite guard, Ctrl-C, and what training achieves."""

from __future__ import annotations

import pytest
import torch
from interrupt import InterruptAt

from sslteach.callbacks import Callback
from sslteach.checkpoint import load_checkpoint
from sslteach.config import TrainConfig
from sslteach.guard import NonFiniteError
from sslteach.train import Trainer, resume_trainer


def small_config(**overrides) -> TrainConfig:
    values = dict(epochs=3, batch_size=64, lr=2e-3, projector="64-32", diagnostic_images=64)
    return TrainConfig(**{**values, **overrides})


def comparable(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


@pytest.mark.parametrize("method", ["vicreg", "tico"])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(method, tiny_shapes, tmp_path):
    train_set, _ = tiny_shapes
    config = small_config(method=method)
    reference = Trainer(config, train_set)
    reference.fit()

    path = tmp_path / "checkpoint.pt"
    interrupted = Trainer(config, train_set, checkpoint_path=path, callbacks=[InterruptAt(1, 2)])
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    saved = load_checkpoint(path)
    assert (saved["position"]["epoch"], saved["position"]["step"]) == (1, 2)
    del interrupted

    resumed = resume_trainer(path, train_set)
    resumed.fit()
    assert comparable(resumed.history) == comparable(reference.history)
    for (name, a), b in zip(
        resumed.model.state_dict().items(), reference.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=0, rtol=0, msg=name)
    if method == "tico":
        torch.testing.assert_close(resumed.loss.C, reference.loss.C, atol=0, rtol=0)


class PoisonAfter(Callback):
    """Makes the loss NaN from the given epoch on (as a diverging run would)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer, record) -> None:
        if trainer.epoch == self.epoch:
            terms = trainer.loss.terms
            trainer.loss.terms = lambda a, b: {
                **terms(a, b),
                "invariance": torch.tensor(float("nan")),
            }


def test_non_finite_loss_stops_with_the_place_and_keeps_the_good_checkpoint(tiny_shapes, tmp_path):
    train_set, _ = tiny_shapes
    path = tmp_path / "checkpoint.pt"
    trainer = Trainer(small_config(), train_set, checkpoint_path=path, callbacks=[PoisonAfter(1)])
    with pytest.raises(NonFiniteError, match=r"at epoch 2, step 1.*lower --lr") as err:
        trainer.fit()
    assert "last good checkpoint" in str(err.value)
    assert [r["epoch"] for r in err.value.history] == [1]
    saved = load_checkpoint(path)
    assert saved["position"]["epoch"] == 1 and len(saved["history"]) == 1


def test_history_records_every_term_and_diagnostic(tiny_shapes):
    train_set, _ = tiny_shapes
    trainer = Trainer(small_config(epochs=2, method="vicreg-tico"), train_set)
    history = trainer.fit()
    assert [r["epoch"] for r in history] == [1, 2]
    for key in (
        "loss",
        "invariance",
        "variance",
        "covariance_contrast",
        "lr",
        "effective_rank",
        "embedding_std",
        "l2_normalized_std",
        "representation_rank",
        "seconds",
    ):
        assert all(key in r and r[key] == r[key] for r in history), key
    weights = trainer.loss.weights
    record = history[0]
    weighted = sum(weights[k] * record[k] for k in weights)
    assert record["loss"] == pytest.approx(weighted, rel=1e-5)


def test_learning_rate_warms_up_then_decays(tiny_shapes):
    train_set, _ = tiny_shapes
    trainer = Trainer(small_config(epochs=4, warmup_epochs=1), train_set)
    lrs = []
    for _ in range(4 * trainer.steps_per_epoch):
        lrs.append(trainer.scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.scheduler.step()
    steps = trainer.steps_per_epoch
    assert lrs[0] == pytest.approx(2e-3 / steps)
    assert max(lrs) == pytest.approx(2e-3) and lrs.index(max(lrs)) == steps - 1
    assert all(a >= b for a, b in zip(lrs[steps - 1 :], lrs[steps:], strict=False))


def test_bias_and_norm_parameters_get_no_weight_decay(tiny_shapes):
    trainer = Trainer(small_config(optimizer="lars", weight_decay=1e-3), tiny_shapes[0])
    decayed, plain = trainer.optimizer.param_groups
    assert decayed["weight_decay"] == 1e-3 and all(p.ndim > 1 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and not plain["lars"]
    assert all(p.ndim == 1 for p in plain["params"])


def test_vicreg_spreads_embeddings_where_invariance_alone_collapses(tiny_shapes):
    train_set, _ = tiny_shapes
    settings = dict(epochs=6, lr=4e-3, projector="64-16")
    spread = Trainer(small_config(**settings), train_set)
    spread.fit()
    collapsed = Trainer(small_config(**settings, loss={"mu": 0.0, "nu": 0.0}), train_set)
    collapsed.fit()
    # Measured over seeds 0-2: VICReg 0.50-0.60, invariance alone 0.03-0.04 after 36 steps.
    assert spread.history[-1]["embedding_std"] > 0.3
    assert collapsed.history[-1]["embedding_std"] < 0.15 * spread.history[-1]["embedding_std"]


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 1}, "batch_size must be at least 2"),
        ({"lr": 0.0}, "lr must lie in"),
        ({"lr": -1.0}, "lr must lie in"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"device": "tpu"}, "device must be auto, cpu or cuda"),
        ({"train_images": 0}, "train_images must be a positive integer"),
        ({"pipeline": "ffcv"}, "pipeline must be one of batched, dataloader"),
        ({"lr_scaling": "sqrt"}, "lr_scaling must be one of none, linear"),
        ({"workers": -1}, "workers must be a whole number"),
    ],
)
def test_bad_config_is_rejected(overrides, match):
    with pytest.raises(ValueError, match=match):
        small_config(**overrides)


def test_batch_larger_than_the_data_set_names_the_fix(tiny_shapes):
    with pytest.raises(ValueError, match="use --batch-size 384 or less"):
        Trainer(small_config(batch_size=1000), tiny_shapes[0])


def test_resume_refuses_corrupt_and_foreign_files(tmp_path, tiny_shapes):
    (tmp_path / "bad.pt").write_bytes(b"\x00not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        resume_trainer(tmp_path / "bad.pt", tiny_shapes[0])
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not an sslteach checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_batch_size_is_global_and_must_split_across_processes(tiny_shapes, monkeypatch):
    monkeypatch.setattr("sslteach.distributed.world_size", lambda: 3)
    with pytest.raises(
        ValueError, match="split evenly across the 3 processes; use --batch-size 63"
    ):
        Trainer(small_config(batch_size=64), tiny_shapes[0])


def test_linear_lr_scaling_follows_the_global_batch(tiny_shapes):
    config = small_config(lr=0.3, batch_size=64, lr_scaling="linear")
    assert config.peak_lr == pytest.approx(0.3 * 64 / 256)
    trainer = Trainer(config, tiny_shapes[0])
    assert trainer.optimizer.param_groups[0]["initial_lr"] == pytest.approx(0.075)
    assert small_config(lr=0.3).peak_lr == 0.3  # "none", the default


def test_dataloader_pipeline_trains_on_torchvision_views(tiny_shapes):
    trainer = Trainer(small_config(epochs=1, pipeline="dataloader", workers=0), tiny_shapes[0])
    assert trainer.views.images.device.type == "cpu"  # torchvision augments per sample on the CPU
    (record,) = trainer.fit()
    assert trainer.step == 0 and trainer.epoch == 1
    assert torch.isfinite(torch.tensor(record["loss"])) and record["embedding_std"] > 0


def test_compile_wraps_the_model_it_trains(tiny_shapes, monkeypatch):
    compiled = []

    def fake_compile(module):  # torch.compile itself takes minutes on this CPU
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    trainer = Trainer(small_config(compile=True), tiny_shapes[0])
    assert compiled == [trainer.model] and trainer.network is trainer.model
    assert Trainer(small_config(), tiny_shapes[0]) and len(compiled) == 1  # off by default
