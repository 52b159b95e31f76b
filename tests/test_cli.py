"""The ``sslteach`` command line, end to end on a small budget, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sslteach import __version__
from sslteach.cli import main
from sslteach.data import cifar10

QUICK = ["--train-images", "256", "--epochs", "2", "--batch-size", "64", "--no-progress"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help_from_the_installed_script():
    version = subprocess.run(
        [sys.executable, "-m", "sslteach", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == f"sslteach {__version__}"
    help_text = subprocess.run(
        [sys.executable, "-m", "sslteach", "train", "--help"], capture_output=True, text=True
    ).stdout
    for flag in (
        "--method",
        "--dataset",
        "--lambda",
        "--mu",
        "--nu",
        "--rho",
        "--beta",
        "--resume",
        "--pipeline",
        "--compile",
        "--lr-scaling",
        "global batch",
    ):
        assert flag in help_text


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(
        [
            "train",
            "--method",
            "vicreg",
            "--dataset",
            "shapes",
            *QUICK,
            "--baselines",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_train_writes_checkpoint_and_metrics(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    for key in (
        "method",
        "dataset",
        "epochs",
        "linear_probe_accuracy",
        "knn_accuracy",
        "effective_rank",
        "history",
        "config",
        "baselines",
    ):
        assert key in metrics, key
    assert metrics["status"] == "finished" and metrics["epochs"] == 2
    assert len(metrics["history"]) == 2 and 0.0 <= metrics["linear_probe_accuracy"] <= 1.0
    assert set(metrics["baselines"]) == {"raw_pixels", "random_init"}
    assert (trained / "checkpoint.pt").is_file()


def test_eval_reproduces_the_trained_accuracy(trained, capsys):
    code, out, _ = run_cli(capsys, "eval", "--checkpoint", str(trained / "checkpoint.pt"))
    assert code == 0
    evaluation = json.loads(out)
    metrics = json.loads((trained / "metrics.json").read_text())
    assert evaluation["linear_probe_accuracy"] == pytest.approx(metrics["linear_probe_accuracy"])
    assert evaluation["knn_accuracy"] == pytest.approx(metrics["knn_accuracy"])


def test_loss_flags_reach_the_loss(tmp_path):
    code = main(
        [
            "train",
            "--method",
            "tico",
            "--rho",
            "20",
            "--beta",
            "0.5",
            *QUICK,
            "--epochs",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    config = json.loads((tmp_path / "metrics.json").read_text())["config"]
    assert config["loss"] == {"rho": 20.0, "beta": 0.5}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--batch-size", "-4"], "batch_size must be a positive integer"),
        (["--lr", "0"], "lr must lie in"),
        (["--batch-size", "100000"], "is larger than the training set"),
        (["--method", "tico", "--nu", "1"], "--nu does not apply to --method tico"),
        (["--mu", "-1"], "mu must lie in"),
    ],
)
def test_bad_arguments_get_one_line_errors(argv, message, capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", *QUICK, *argv, "--out", str(tmp_path))
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_unknown_method_and_dataset_list_the_choices(capsys, tmp_path):
    for flag, value in (("--method", "moco"), ("--dataset", "imagenet")):
        with pytest.raises(SystemExit) as exit_:
            main(["train", flag, value, "--out", str(tmp_path)])
        assert exit_.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


def test_unwritable_out_is_reported_before_training(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    code, _, err = run_cli(capsys, "train", *QUICK, "--out", str(blocker / "run"))
    assert code == 2 and "cannot write to --out" in err and "writable folder" in err


def test_corrupt_checkpoint_is_reported(capsys, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"truncated")
    code, _, err = run_cli(capsys, "eval", "--checkpoint", str(tmp_path / "checkpoint.pt"))
    assert code == 2 and "not a readable checkpoint" in err
    code, _, err = run_cli(capsys, "train", *QUICK, "--resume", "--out", str(tmp_path))
    assert code == 2 and "not a readable checkpoint" in err


def test_resume_without_a_checkpoint_says_so(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", *QUICK, "--resume", "--out", str(tmp_path))
    assert code == 2 and "no checkpoint at" in err


def test_missing_cifar10_suggests_the_embedded_data_set(capsys, tmp_path, monkeypatch):
    def offline(root):
        raise OSError("no network")

    monkeypatch.setattr(cifar10, "_download", offline)
    code, _, err = run_cli(
        capsys,
        "train",
        "--dataset",
        "cifar10",
        "--data-dir",
        str(tmp_path / "data"),
        *QUICK,
        "--out",
        str(tmp_path / "run"),
    )
    assert code == 2 and "cifar-10-python.tar.gz" in err and "--dataset shapes" in err


def test_cifar10_path_trains_on_official_format_files(cifar_root, tmp_path):
    code = main(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(cifar_root),
            "--backbone",
            "small-cnn",
            "--projector",
            "64-32",
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--optimizer",
            "adamw",
            "--lr",
            "1e-3",
            "--no-progress",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["dataset"] == "cifar10" and metrics["config"]["backbone"] == "small-cnn"


def test_pipeline_compile_and_lr_scaling_flags_reach_the_config(tmp_path):
    from sslteach.cli import build_parser, config_from_args

    parser = build_parser()
    argv = "train --pipeline dataloader --workers 0 --compile --lr-scaling linear --out".split()
    config = config_from_args(parser.parse_args([*argv, str(tmp_path)]), "vicreg")
    assert config.pipeline == "dataloader" and config.workers == 0
    assert config.compile is True and config.lr_scaling == "linear"
    default = config_from_args(parser.parse_args(["train", "--out", str(tmp_path)]), "vicreg")
    assert (default.pipeline, default.compile, default.lr_scaling) == ("batched", False, "none")


def test_only_train_runs_under_torchrun(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, _, err = run_cli(capsys, "eval", "--checkpoint", str(tmp_path / "checkpoint.pt"))
    assert code == 2 and "only 'sslteach train' runs under torchrun" in err
