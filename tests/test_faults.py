"""Hostile inputs and faults: nothing loaded from a file runs code, ``--resume`` is never
silently wrong, no run overwrites another, and every fault ends in a clear message that says
what is really on disk. Each test reproduces one failure a tester found."""

from __future__ import annotations

import json
import os
import pickle
import signal

import numpy as np
import pytest
import torch
from PIL import Image

from sslteach import checkpoint as checkpoint_module
from sslteach.callbacks import Callback
from sslteach.checkpoint import load_checkpoint, run_lock
from sslteach.cli import main
from sslteach.config import TrainConfig, make_config
from sslteach.data import load_dataset
from sslteach.data.cifar10 import load_cifar10
from sslteach.guard import NonFiniteError
from sslteach.train import Trainer

from cifar_format import write_cifar10_batches

QUICK = ["--epochs", "2", "--batch-size", "64", "--no-progress"]
SMALL = ["--train-images", "256", *QUICK]


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


class Exploit:
    """Unpickling this calls os.system: what a crafted file would do."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class CtrlCAt:
    """Sends SIGINT from inside a training step, once or twice (``times``), at (epoch, step)."""

    def __init__(self, monkeypatch, epoch: int, step: int, times: int = 1) -> None:
        original = Trainer.train_step

        def train_step(trainer, view_a, view_b):
            terms = original(trainer, view_a, view_b)
            if (trainer.epoch, trainer.step) == (epoch, step):
                for _ in range(times):
                    os.kill(os.getpid(), signal.SIGINT)
            return terms

        monkeypatch.setattr(Trainer, "train_step", train_step)


def history(out) -> list[dict]:
    records = json.loads((out / "metrics.json").read_text())["history"]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# 1 · nothing loaded from a file runs code


def test_a_crafted_checkpoint_is_refused_without_running_it(tmp_path, capsys):
    marker = tmp_path / "pwned"
    torch.save({"format": "sslteach-checkpoint-v1", "model": Exploit(marker)}, tmp_path / "c.pt")
    code, err = run_cli(capsys, "eval", "--checkpoint", str(tmp_path / "c.pt"))
    assert code == 2 and "not a readable checkpoint" in err
    code, err = run_cli(capsys, "train", "--resume", "--out", str(tmp_path))
    assert code == 2 and not marker.exists()


def test_a_crafted_cifar10_batch_is_refused_without_running_it(tmp_path):
    write_cifar10_batches(tmp_path)
    marker = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(pickle.dumps({"data": Exploit(marker), "labels": [0]}))
    with pytest.raises(ValueError, match=r"data_batch_1 is not a CIFAR-10 batch.*posix.system"):
        load_cifar10("train", tmp_path)
    assert not marker.exists()


def test_genuine_checkpoints_load_with_weights_only(tmp_path, tiny_shapes):
    config = make_config("shapes", "byol", projector="64-32", epochs=1, batch_size=64)
    Trainer(config, tiny_shapes[0], checkpoint_path=tmp_path / "c.pt").fit()
    state = load_checkpoint(tmp_path / "c.pt")  # weights_only=True inside
    assert state["target"] and state["position"]["train_size"] == 384


# 2 · --resume rebuilds the run from its checkpoint


@pytest.mark.parametrize("method", ["vicreg", "byol"])
def test_resume_with_out_only_equals_the_uninterrupted_run(method, tmp_path, capsys, monkeypatch):
    argv = ["train", "--method", method, "--train-images", "384", "--projector", "64-32", *QUICK]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    with monkeypatch.context() as patch:
        CtrlCAt(patch, epoch=1, step=2)
        code, err = run_cli(capsys, *argv, "--out", str(tmp_path / "cut"))
    assert code == 130 and "stopped after step 3 of epoch 2; saved" in err and "--resume" in err
    assert main(["train", "--resume", "--no-progress", "--out", str(tmp_path / "cut")]) == 0
    assert history(tmp_path / "cut") == history(tmp_path / "whole")
    resumed = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert resumed["config"]["train_images"] == 384 and resumed["status"] == "finished"


def test_resume_refuses_flags_that_change_the_run(tmp_path, capsys):
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(tmp_path)]) == 0
    for flag, value, recorded in (
        ("--epochs", "3", "1"),
        ("--train-images", "1024", "256"),
        ("--method", "tico", "vicreg"),
        ("--projector", "64-32", "512-512"),
        ("--lambda", "5", "25.0"),
    ):
        code, err = run_cli(capsys, "train", "--resume", flag, value, "--out", str(tmp_path))
        assert code == 2, flag
        assert f"{flag} {value}" in err and f"recorded with {recorded}" in err, err


def test_resume_may_change_where_the_run_continues(tmp_path, capsys):
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(tmp_path)]) == 0
    argv = ["train", "--resume", "--device", "cpu", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0  # nothing left to train: evaluates and says so
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "finished"


# 3 · a second Ctrl-C never saves a half-done step


def test_second_ctrl_c_mid_step_keeps_the_last_complete_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    config = make_config("shapes", "vicreg", projector="64-32", epochs=3, batch_size=64)
    train_set = load_dataset("shapes", "train").subset(384)
    CtrlCAt(monkeypatch, epoch=1, step=3, times=2)
    trainer = Trainer(config, train_set, checkpoint_path=path)
    with pytest.raises(KeyboardInterrupt) as stopped:
        trainer.fit()
    assert not stopped.value.saved
    assert "in the middle of a step" in str(stopped.value)
    assert "holds the last complete state (after epoch 1)" in str(stopped.value)
    saved = load_checkpoint(path)["position"]
    assert (saved["epoch"], saved["step"]) == (1, 0)


def test_ctrl_c_during_a_save_lets_the_save_finish(tmp_path, monkeypatch):
    save = checkpoint_module.save_atomically

    def interrupted_save(state, path):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # both during the write
        save(state, path)

    monkeypatch.setattr("sslteach.train.save_atomically", interrupted_save)
    config = make_config("shapes", "vicreg", projector="64-32", epochs=2, batch_size=64)
    trainer = Trainer(
        config, load_dataset("shapes", "train").subset(256), checkpoint_path=tmp_path / "c.pt"
    )
    with pytest.raises(KeyboardInterrupt) as stopped:
        trainer.fit()
    assert stopped.value.saved and "stopped after epoch 1; saved" in str(stopped.value)
    assert load_checkpoint(tmp_path / "c.pt")["position"]["epoch"] == 1


# 4, 5 · no run overwrites another


def test_a_new_run_does_not_overwrite_one(tmp_path, capsys):
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(tmp_path)]) == 0
    before = (tmp_path / "checkpoint.pt").read_bytes()
    code, err = run_cli(capsys, "train", *SMALL, "--out", str(tmp_path))
    assert code == 2 and "already holds a run (status: finished)" in err
    assert "--resume" in err and "--overwrite" in err
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert main(["train", *SMALL, "--epochs", "1", "--overwrite", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "checkpoint.pt").read_bytes() != before


def test_a_second_run_on_the_same_folder_fails_at_once(tmp_path, capsys):
    with run_lock(tmp_path):  # as a first run holds it
        code, err = run_cli(capsys, "train", *SMALL, "--out", str(tmp_path))
    assert code == 2 and f"another sslteach run (pid {os.getpid()})" in err
    assert not (tmp_path / "checkpoint.pt").exists()


def test_every_write_goes_to_a_temporary_file_of_its_own(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: seen.append(src) or real_replace(src, dst))
    for _ in range(2):
        checkpoint_module.save_atomically({"x": 1}, tmp_path / "c.pt")
    assert len(set(seen)) == 2 and all(str(s).endswith(".tmp") for s in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


# 6 · write failures


def test_a_failing_checkpoint_write_stops_cleanly_and_metrics_claim_no_more(
    tmp_path, capsys, monkeypatch
):
    real_replace = os.replace
    saves = []

    def replace(src, dst):
        if str(dst).endswith("checkpoint.pt"):
            saves.append(dst)
            if len(saves) == 2:  # the folder became read-only after epoch 1
                raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    code, err = run_cli(capsys, "train", *SMALL, "--epochs", "3", "--out", str(tmp_path))
    assert code == 2 and "cannot write" in err and "Permission denied" in err
    assert err.count("\n") == 1  # one line, no traceback
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"].startswith("stopped") and len(metrics["history"]) == 1
    assert load_checkpoint(tmp_path / "checkpoint.pt")["position"]["epoch"] == 1


# 7 · the non-finite guard checks the weights too


class PoisonRunningVariance(Callback):
    """A BatchNorm statistic turns infinite mid-epoch; the training loss stays finite (batch
    statistics), but the eval-mode diagnostics would see NaN."""

    def on_step(self, trainer, terms) -> None:
        if (trainer.epoch, trainer.step) == (1, 2):
            trainer.model.encoder.blocks[0][1].running_var.fill_(float("inf"))


def test_non_finite_weights_stop_the_run_cleanly(tmp_path, tiny_shapes):
    config = make_config("shapes", "vicreg", projector="64-32", epochs=3, batch_size=64)
    path = tmp_path / "c.pt"
    trainer = Trainer(
        config, tiny_shapes[0], callbacks=[PoisonRunningVariance()], checkpoint_path=path
    )
    with pytest.raises(
        NonFiniteError, match=r"encoder\.blocks\.0\.1\.running_var became non-finite"
    ):
        trainer.fit()
    assert load_checkpoint(path)["position"]["epoch"] == 1


# 8 · messages say what is really on disk


def test_nan_in_the_first_epoch_says_no_checkpoint_exists(tmp_path, capsys):
    code, err = run_cli(capsys, "train", *SMALL, "--lr", "1e9", "--out", str(tmp_path))
    assert code == 2 and "no checkpoint was written yet" in err and "lower --lr" in err


def test_ctrl_c_before_training_says_nothing_was_saved(tmp_path, capsys, monkeypatch):
    def load(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sslteach.experiment.load_dataset", load)
    code, err = run_cli(capsys, "train", *SMALL, "--out", str(tmp_path))
    assert code == 130 and "nothing saved" in err and "--resume" not in err


def test_compare_resume_skips_finished_runs(tmp_path, capsys, monkeypatch):
    argv = ["compare", "--methods", "vicreg,tico", *SMALL, "--epochs", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    first = (tmp_path / "tico" / "metrics.json").read_text()
    trained = []
    monkeypatch.setattr(Trainer, "fit", lambda self: trained.append(self) or self.history)
    assert main([*argv, "--resume"]) == 0
    assert trained == [] and (tmp_path / "tico" / "metrics.json").read_text() == first
    code, err = run_cli(capsys, *argv)
    assert code == 2 and "already holds a run" in err


# 9 · values that used to be accepted, or crashed late


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "inf"], "lr must lie in"),
        (["--weight-decay", "inf"], "weight_decay must lie in"),
        (["--mu", "inf"], "mu must lie in"),
        (["--momentum", "1"], "momentum must lie in [0.0, 1.0)"),
        (["--momentum", "-0.1"], "momentum must lie in"),
        (["--method", "simclr", "--temperature", "0"], "temperature must lie in (0.0"),
        (["--method", "simsiam", "--predictor-hidden", "0"], "predictor_hidden must be a positive"),
        (["--workers", "100000"], "use --workers"),
        (["--embedding-norm", "shuffled-dbn", "--projector", "64-30"], "multiple of 4"),
    ],
)
def test_bad_values_are_refused_with_the_fix(argv, message, capsys, tmp_path):
    code, err = run_cli(capsys, "train", *SMALL, *argv, "--out", str(tmp_path))
    assert code == 2 and message in err and err.count("\n") == 1


def test_wmse_trains_with_its_own_defaults(tmp_path):
    assert make_config("shapes", "wmse").projector == "512-64"  # w_size 128 ≥ 2·64
    argv = ["train", "--method", "wmse", "--train-images", "256", "--epochs", "1", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path)]) == 0


def test_sweep_checks_everything_before_training(tmp_path, capsys):
    base = ["sweep", *SMALL, "--out", str(tmp_path)]
    code, err = run_cli(capsys, *base, "--param", "lr", "--values", "1e-3", "--monitor-images", "0")
    assert code == 2 and "monitor_images must be a positive number" in err
    code, err = run_cli(capsys, *base, "--param", "mu", "--values", "1,-1")
    assert code == 2 and "mu must lie in" in err
    assert not any(tmp_path.iterdir())  # nothing trained, not even the valid first value


def test_crafted_checkpoints_with_missing_keys_or_foreign_weights(tmp_path, capsys, tiny_shapes):
    torch.save({"format": "sslteach-checkpoint-v1", "config": {}}, tmp_path / "checkpoint.pt")
    code, err = run_cli(capsys, "eval", "--checkpoint", str(tmp_path / "checkpoint.pt"))
    assert code == 2 and "lacks model" in err
    config = make_config("shapes", "vicreg", projector="64-32", epochs=1, batch_size=64)
    Trainer(config, tiny_shapes[0], checkpoint_path=tmp_path / "checkpoint.pt").fit()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    state["config"]["projector"] = "128-16"  # the weights are 64-32
    torch.save(state, tmp_path / "checkpoint.pt")
    code, err = run_cli(capsys, "eval", "--checkpoint", str(tmp_path / "checkpoint.pt"))
    assert code == 2 and "do not match the config it records" in err
    state["config"]["epochs"] = -3
    torch.save(state, tmp_path / "checkpoint.pt")
    code, err = run_cli(capsys, "eval", "--checkpoint", str(tmp_path / "checkpoint.pt"))
    assert code == 2 and "records an invalid config" in err


def make_folder(root, classes=("cats", "dogs"), test_classes=None):
    for split, names in (("train", classes), ("test", test_classes or classes)):
        for name in names:
            folder = root / split / name
            folder.mkdir(parents=True)
            Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(folder / "0.png")


def test_image_folder_faults(tmp_path, monkeypatch):
    make_folder(tmp_path / "a", test_classes=("cats", "dogs", "birds"))
    with pytest.raises(ValueError, match=r"lacks \(birds\)"):
        load_dataset("folder", "test", tmp_path / "a")

    make_folder(tmp_path / "b")
    wide = np.full((8, 8), 30000, dtype=np.uint16)  # 16-bit gray: 30000 / 65535 of white
    Image.fromarray(wide).save(tmp_path / "b" / "train" / "cats" / "0.png")
    image = load_dataset("folder", "train", tmp_path / "b").images[0]
    assert image.max() == image.min() == round(30000 * 255 / 65535)  # scaled, not saturated

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # an 8×8 image is now a "bomb"
    with pytest.raises(ValueError, match=r"0\.png is too large to decode safely"):
        load_dataset("folder", "train", tmp_path / "b")


def test_advice_names_flags_that_exist(capsys):
    from sslteach.flags import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for flag in ("--eps", "--w-size", "--projector", "--lr"):
        assert flag in help_text
    with pytest.raises(ValueError, match="increase eps"):
        from sslteach.losses import WMSELoss

        z = torch.randn(16, 1).repeat(1, 4)
        WMSELoss(w_size=8)(z, z)
    with pytest.raises(ValueError, match="--projector"):
        TrainConfig(embedding_norm="shuffled-dbn", projector="64-30")
