"""``compare``, ``sweep`` and the presets: end to end on a tiny shapes budget, and on
CIFAR-10 files in the official format written by the tests."""

from __future__ import annotations

import csv
import json

import pytest

from sslteach.cli import main
from sslteach.config import make_config
from sslteach.reproduce import sweep_configs
from sslteach.study import STUDY_RESULTS, STUDY_WEIGHTS

TINY = ["--train-images", "256", "--epochs", "1", "--batch-size", "64", "--no-progress"]


def test_compare_writes_the_table_beside_the_study(tmp_path, capsys):
    assert main(["compare", *TINY, "--lambda", "20", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["tico", "vicreg-tico", "vicreg"]
    for row in rows:
        assert 0.0 <= float(row["linear_probe_accuracy_mean"]) <= 1.0
        assert row["seeds"] == "1" and row["linear_probe_accuracy_std"] == ""
    measured, study = (tmp_path / "results.md").read_text().split("The source study")
    assert "study" not in measured and "CIFAR-10" not in measured  # never in our columns
    for method, value in STUDY_RESULTS.items():
        assert f"{value:.3f} |" in study, method
    assert "| TiCo | 0.304 |" in study and "| VICReg | 0.421 |" in study
    assert measured.strip() in printed
    assert (tmp_path / "results.png").stat().st_size > 10_000
    # --lambda went to the methods that take it, and only to them.
    configs = {
        m: json.loads((tmp_path / m / "metrics.json").read_text())["config"]
        for m in ("tico", "vicreg-tico", "vicreg")
    }
    assert configs["vicreg"]["loss"] == {"lambda_": 20.0} == configs["vicreg-tico"]["loss"]
    assert configs["tico"]["loss"] == {}


def test_compare_with_seeds_reports_mean_and_spread(tmp_path):
    argv = ["compare", "--methods", "vicreg,tico", "--seeds", "2", *TINY, "--out", str(tmp_path)]
    assert main(argv) == 0
    with (tmp_path / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert [(r["method"], r["seed"]) for r in runs] == [
        ("vicreg", "0"),
        ("vicreg", "1"),
        ("tico", "0"),
        ("tico", "1"),
    ]
    with (tmp_path / "results.csv").open() as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    for method, row in rows.items():
        values = [float(r["linear_probe_accuracy"]) for r in runs if r["method"] == method]
        mean = sum(values) / 2
        assert float(row["linear_probe_accuracy_mean"]) == pytest.approx(mean)
        std = abs(values[0] - values[1]) / 2**0.5  # the sample std of two values
        assert float(row["linear_probe_accuracy_std"]) == pytest.approx(std)
        assert row["seeds"] == "2"
    assert (tmp_path / "vicreg" / "seed-1" / "metrics.json").is_file()
    assert "mean ± std over 2 seeds" in (tmp_path / "results.md").read_text()


def test_compare_on_cifar10_format_files(cifar_root, tmp_path):
    code = main(
        [
            "compare",
            "--methods",
            "vicreg,tico",
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
            str(tmp_path),
        ]
    )
    assert code == 0
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["dataset"] for r in rows} == {"cifar10"} and len(rows) == 2
    assert "linear probe (cifar10)" in (tmp_path / "results.md").read_text()


def test_sweep_writes_per_value_histories_and_curves(tmp_path, capsys):
    code = main(
        [
            "sweep",
            "--param",
            "lr",
            "--values",
            "1e-3,4e-3",
            *TINY,
            "--epochs",
            "2",
            "--monitor-images",
            "128",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    for label in ("lr=0.001", "lr=0.004"):
        metrics = json.loads((tmp_path / label / "metrics.json").read_text())
        assert len(metrics["history"]) == 2
        assert all("linear_probe_accuracy" in r and "knn_accuracy" in r for r in metrics["history"])
    with (tmp_path / "sweep.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (tmp_path / "sweep.png").is_file()
    assert "lr=0.004" in capsys.readouterr().out


def test_sweep_configs_vary_one_setting():
    base = make_config("shapes", "vicreg", loss={"mu": 10.0})
    configs = sweep_configs(base, "nu", [0.0, 2.0])
    assert [c.loss for c in configs.values()] == [{"mu": 10.0, "nu": 0.0}, {"mu": 10.0, "nu": 2.0}]
    sizes = sweep_configs(base, "batch-size", [64, 256])
    assert list(sizes) == ["batch-size=64", "batch-size=256"]
    assert [c.batch_size for c in sizes.values()] == [64, 256]
    with pytest.raises(ValueError, match="unknown sweep parameter 'dropout'"):
        sweep_configs(base, "dropout", [0.9])
    with pytest.raises(ValueError, match="batch-size takes whole numbers"):
        sweep_configs(base, "batch-size", [64.5])
    with pytest.raises(ValueError, match="does not apply to method vicreg"):
        sweep_configs(base, "rho", [8.0])


def test_presets_land_in_metrics_json(tmp_path):
    assert main(["train", "--preset", "study", *TINY, "--out", str(tmp_path)]) == 0
    config = json.loads((tmp_path / "metrics.json").read_text())["config"]
    assert config["preset"] == "study" and config["loss"] == STUDY_WEIGHTS["vicreg"]


def test_presets_set_the_cifar10_recipe():
    study = make_config("cifar10", "vicreg", "study")
    reference = make_config("cifar10", "vicreg-tico", "reference", lr=0.2)
    assert (study.epochs, study.backbone, study.projector) == (10, "resnet18", "2048-2048-2048")
    assert study.loss == {"lambda_": 20.0, "mu": 25.0, "nu": 1.0}
    assert (reference.epochs, reference.optimizer, reference.lr) == (1000, "lars", 0.2)
    assert make_config("cifar10", "tico", "study").loss == {}
    explicit = make_config("shapes", "vicreg", "study", loss={"nu": 2.0})
    assert explicit.loss == {"lambda_": 20.0, "mu": 25.0, "nu": 2.0}
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        make_config("shapes", "vicreg", "fast")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "--methods", "vicreg,moco"], "--methods must list methods from"),
        (["compare", "--methods", "vicreg,vicreg"], "each method may appear once"),
        (["compare", "--methods", "tico", "--nu", "1"], "--nu applies to none of tico"),
        (["sweep", "--param", "lr", "--values", "fast"], "--values must be numbers"),
        (["sweep", "--param", "depth", "--values", "1"], "unknown sweep parameter 'depth'"),
        (["sweep", "--param", "lr", "--values", ","], "give at least one value"),
        (["compare", "--seeds", "0"], "seeds must be a whole number ≥ 1"),
        (["compare", "--seeds", "-2"], "seeds must be a whole number ≥ 1"),
        (["compare", "--seeds", "2", "--seed", "1"], "--seed cannot be given with it"),
    ],
)
def test_compare_and_sweep_errors(argv, message, capsys, tmp_path):
    assert main([*argv, *TINY, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
