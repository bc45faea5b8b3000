"""Calibration: ECE, Brier and NLL against hand computations, temperature scaling against a scan of
temperatures on over-confident logits, and the temperature fitted on validation, saved with the run
and applied (or not: --no-calibration) in eval and predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import read_rows, write_csv
from textcls.batching import Batch
from textcls.metrics import calibration_metrics, fit_temperature


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_calibration_metrics_by_hand():
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55], [0.05, 0.95]])
    y = np.array([0, 1, 1, 0, 1])
    got = calibration_metrics(p, y, bins=15)
    # top-label confidences 0.9, 0.8, 0.7, 0.55, 0.95 fall in bins 13, 12, 10, 8, 14 (width 1/15), one
    # each: ECE = mean |right - confidence| = (0.1 + 0.8 + 0.3 + 0.55 + 0.05) / 5
    assert got["ece"] == pytest.approx((0.1 + 0.8 + 0.3 + 0.55 + 0.05) / 5)
    brier = [(0.1**2 + 0.1**2), (0.8**2 + 0.8**2), (0.3**2 + 0.3**2), (0.55**2 + 0.55**2), (0.05**2 + 0.05**2)]
    assert got["brier"] == pytest.approx(np.mean(brier))
    assert got["nll"] == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.7, 0.45, 0.95])))


def test_temperature_scaling_fixes_over_confidence_and_keeps_the_argmax():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3000, 4))
    y = np.array([rng.choice(4, p=p) for p in softmax(logits)])  # labels drawn from softmax(logits)
    over = 3.0 * logits  # a model three times too sure
    t = fit_temperature(np.log(softmax(over)), y)
    scan = np.linspace(0.5, 6, 1101)  # the NLL minimum by brute force
    nll = [-np.log(softmax(over / s)[np.arange(3000), y]).mean() for s in scan]
    assert t == pytest.approx(scan[int(np.argmin(nll))], abs=0.01) and t == pytest.approx(3.0, abs=0.3)
    before, after = calibration_metrics(softmax(over), y), calibration_metrics(softmax(over / t), y)
    assert after["ece"] < before["ece"] / 2 and after["nll"] < before["nll"]
    assert (softmax(over / t).argmax(1) == softmax(over).argmax(1)).all()


def test_run_calibrates_on_validation_and_applies_it(make_config, sentiment_csvs, tmp_path):
    from textcls.checkpoint import load_run
    from textcls.cli import app
    from textcls.data import Example, read_examples
    from textcls.evaluate import predict_items
    from textcls.predict import predict_texts
    from textcls.train import train

    # Every fifth validation and test label flipped: the model is then sure and sometimes wrong.
    csvs = {"train": sentiment_csvs["train"]}
    for split in ("valid", "test"):
        rows = [
            [r["text"], r["label"] if i % 5 else {"neg": "pos", "pos": "neg"}[r["label"]]]
            for i, r in enumerate(read_rows(sentiment_csvs[split]))
        ]
        csvs[split] = write_csv(tmp_path / f"noisy_{split}.csv", ["text", "label"], rows)
    config = make_config(csvs, train={"epochs": 2}, optim={"lr": 0.3})  # a large step: over-confident
    run_dir = train(config, out=tmp_path / "run").run_dir
    temperature = json.loads((run_dir / "task.json").read_text())["temperature"]
    # the temperature is the one that fits the validation rows best, by the model's own probabilities
    raw_run = load_run(run_dir, calibrated=False)
    valid = read_examples(config.data.valid, config.data, raw_run.task, raw_run.featurizer.tokenizer)
    probabilities = predict_items(
        raw_run.model, raw_run.featurizer.encode(valid), raw_run.task, 64, raw_run.device
    ).sentence
    labels = ["neg", "pos"]
    y = np.array([labels.index(label) for label in valid.labels])
    assert temperature == pytest.approx(fit_temperature(np.log(np.maximum(probabilities, 1e-12)), y), rel=1e-4)
    runner = CliRunner()
    test = str(config.data.test)
    calibrated = json.loads(runner.invoke(app, ["eval", str(run_dir), test, "-f", "json"]).output)
    uncalibrated = json.loads(runner.invoke(app, ["eval", str(run_dir), test, "-f", "json", "--no-calibration"]).output)
    assert calibrated["temperature"] == pytest.approx(temperature) and "temperature" not in uncalibrated
    assert calibrated["ece_uncalibrated"] == pytest.approx(uncalibrated["ece"], abs=1e-6)
    assert calibrated["accuracy"] == uncalibrated["accuracy"]  # the argmax does not move
    # predict applies it: P = softmax(log p_raw / T)
    (cal,) = predict_texts(load_run(run_dir), ["a good film"])
    with torch.no_grad():  # the model's logit for it (one output: bce): P(pos) = sigmoid(logit / T)
        logit = float(
            raw_run.model(Batch.of(raw_run.featurizer.encode_all([Example(["a", "good", "film"], None)]))).sentence[
                0, 0
            ]
        )
    p_pos = 1 / (1 + np.exp(-logit / temperature))
    expected = [1 - p_pos, p_pos]
    assert [cal["probabilities"][c] for c in labels] == pytest.approx(expected, abs=1e-5)
    # calibration.temperature: false fits nothing
    plain = train(
        make_config(csvs, train={"epochs": 1}, calibration={"temperature": False}), out=tmp_path / "plain"
    ).run_dir
    assert not (plain / "task.json").exists()
    # a validation split without an error says nothing about how sure to be: no temperature either
    clean = train(make_config(train={"epochs": 2}, optim={"lr": 0.3}), out=tmp_path / "clean").run_dir
    assert json.loads((clean / "metrics.json").read_text())["valid"]["accuracy"] == 1.0
    assert not (clean / "task.json").exists()


def test_temperature_stays_in_range_when_validation_is_separable():
    from textcls.metrics import TEMPERATURE_RANGE

    log_p = np.log(softmax(np.array([[3.0, -3.0], [-2.0, 2.0], [4.0, 0.0]])))
    t = fit_temperature(log_p, np.array([0, 1, 0]))  # every row right: sharper is always likelier
    assert TEMPERATURE_RANGE[0] <= t < 1 and fit_temperature(1000 * log_p, np.array([0, 1, 0])) >= TEMPERATURE_RANGE[0]
