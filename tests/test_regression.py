"""Regression: a bag-of-words model learns an additive target with mse and huber; robust losses
resist outliers in the training labels; the metrics against independent references; bad labels."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from conftest import small_config_dict, write_csv
from textcls.config import config_from_dict
from textcls.errors import DataError
from textcls.metrics import regression_metrics
from textcls.train import train

torch.set_num_threads(1)

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
]
WEIGHTS = dict(zip(WORDS, np.linspace(-1.5, 1.5, len(WORDS)).round(3)))
LENGTH = 6  # every row has as many words, so the sum of the word weights is a mean times a constant


def additive_rows(n: int, seed: int, outliers: float = 0.0, noise: float = 0.1) -> list[list]:
    """text = LENGTH random words; value = sum of their weights + noise (+50 on a share of rows)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = rng.choices(WORDS, k=LENGTH)
        value = sum(WEIGHTS[w] for w in words) + rng.gauss(0, noise)
        if i < round(outliers * n):
            value += 50.0
        rows.append([" ".join(words), f"{value:.4f}"])
    rng.shuffle(rows)
    return rows


def regression_config(csvs, out, loss: str, epochs: int = 8, **loss_cfg):
    raw = small_config_dict(
        csvs,
        out,
        task="regression",
        data={"label_column": "value"},
        loss={"name": loss, **loss_cfg},
        optim={"lr": 0.05},
        train={"epochs": epochs, "batch_size": 16, "monitor": "r2"},
    )
    return config_from_dict(raw)


@pytest.fixture(scope="module")
def clean_csvs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("additive")
    return {
        "train": write_csv(folder / "train.csv", ["text", "value"], additive_rows(400, 1)),
        "valid": write_csv(folder / "valid.csv", ["text", "value"], additive_rows(100, 2)),
        "test": write_csv(folder / "test.csv", ["text", "value"], additive_rows(100, 3)),
    }


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_bow_learns_an_additive_target(clean_csvs, tmp_path, loss):
    result = train(regression_config(clean_csvs, tmp_path / "runs", loss), out=tmp_path / loss)
    assert result.metrics["monitor"] == "r2"
    valid = result.metrics["valid"]
    assert valid["r2"] >= 0.9
    assert result.metrics["test"]["r2"] >= 0.9
    assert valid["pearson"] >= 0.95 and valid["spearman"] >= 0.9
    assert set(valid) >= {"mae", "rmse", "r2", "pearson", "spearman", "loss"}


@pytest.fixture(scope="module")
def outlier_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outliers")
    csvs = {
        "train": write_csv(folder / "train.csv", ["text", "value"], additive_rows(400, 1, outliers=0.05)),
        "valid": write_csv(folder / "valid.csv", ["text", "value"], additive_rows(100, 2)),
        "test": write_csv(folder / "test.csv", ["text", "value"], additive_rows(100, 3)),
    }
    test = {}
    for loss in ("mse", "huber", "l1"):
        result = train(regression_config(csvs, folder / "runs", loss), out=folder / loss)
        test[loss] = result.metrics["test"]
    return test


@pytest.mark.slow
def test_outliers_in_training_labels_hurt_mse_more(outlier_runs):
    mae = {loss: m["mae"] for loss, m in outlier_runs.items()}
    assert mae["huber"] < 0.7 * mae["mse"]
    assert mae["l1"] < 0.7 * mae["mse"]
    assert outlier_runs["huber"]["r2"] > outlier_runs["mse"]["r2"]
    assert outlier_runs["l1"]["r2"] > outlier_runs["mse"]["r2"]


# --- metrics -----------------------------------------------------------------------------------------------


def reference_metrics(y_true: list[float], y_pred: list[float]) -> dict:
    """Plain-Python sums; pearson from np.corrcoef; spearman = pearson of argsort ranks (no ties)."""
    n = len(y_true)
    err = [p - t for t, p in zip(y_true, y_pred)]
    mean = sum(y_true) / n
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)  # noqa: E731
    return {
        "mae": sum(abs(e) for e in err) / n,
        "rmse": (sum(e * e for e in err) / n) ** 0.5,
        "r2": 1 - sum(e * e for e in err) / sum((t - mean) ** 2 for t in y_true),
        "pearson": float(np.corrcoef(y_true, y_pred)[0, 1]),
        "spearman": float(np.corrcoef(ranks(y_true), ranks(y_pred))[0, 1]),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_metrics_against_references(seed):
    rng = np.random.RandomState(seed)
    y_true = rng.normal(size=40)
    y_pred = y_true + rng.normal(scale=0.7, size=40) + (y_true**3) * 0.2  # monotone-ish, not linear
    got = regression_metrics(y_true, y_pred)
    expected = reference_metrics(y_true.tolist(), y_pred.tolist())
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key


def test_regression_metrics_small_hand_example():
    y_true, y_pred = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 1.5, 3.5, 5.0])
    got = regression_metrics(y_true, y_pred)
    assert got["mae"] == pytest.approx(0.625)  # (0.5 + 0.5 + 0.5 + 1) / 4
    assert got["rmse"] == pytest.approx((1.75 / 4) ** 0.5)
    assert got["r2"] == pytest.approx(1 - 1.75 / 5.0)
    # ranks of y_pred with the tie averaged: [1.5, 1.5, 3, 4]; against [1, 2, 3, 4]
    a, b = np.array([1, 2, 3, 4.0]) - 2.5, np.array([1.5, 1.5, 3, 4]) - 2.5
    assert got["spearman"] == pytest.approx(float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())))


def test_regression_metrics_perfect_and_constant():
    y = np.array([3.0, -1.0, 2.0, 0.5])
    perfect = regression_metrics(y, y.copy())
    assert perfect["mae"] == 0 and perfect["rmse"] == 0
    assert perfect["r2"] == pytest.approx(1.0) and perfect["pearson"] == pytest.approx(1.0)
    assert perfect["spearman"] == pytest.approx(1.0)
    reversed_ = regression_metrics(y, -y)
    assert reversed_["spearman"] == pytest.approx(-1.0) and reversed_["pearson"] == pytest.approx(-1.0)
    mean_only = regression_metrics(y, np.full(4, y.mean()))
    assert mean_only["r2"] == pytest.approx(0.0, abs=1e-12)


# --- bad labels ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad,split,row", [("lots", "train", 7), ("1,5", "valid", 3), ("nan", "train", 1), ("inf", "valid", 12)]
)
def test_non_numeric_label_names_file_and_row(tmp_path, bad, split, row):
    rows = {"train": additive_rows(30, 1), "valid": additive_rows(15, 2)}
    rows[split][row - 1][1] = bad  # data rows count from 1 after the header
    csvs = {s: write_csv(tmp_path / f"{s}.csv", ["text", "value"], r) for s, r in rows.items()}
    with pytest.raises(DataError) as info:
        train(regression_config(csvs, tmp_path / "runs", "mse", epochs=1), out=tmp_path / "run")
    message = str(info.value)
    assert str(csvs[split]) in message and f"row {row}," in message and "'value'" in message
    assert f"'{bad}'" in message
    assert not (tmp_path / "run").exists()
