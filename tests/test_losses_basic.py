"""The sentence losses against hand-written formulas: BCE (one logit) and cross-entropy (one per class)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from conftest import collate
from textcls.config import LossConfig
from textcls.encoded import EncodedRow as Encoded
from textcls.errors import ConfigError
from textcls.losses.objective import build_objective
from textcls.losses.registry import resolve_loss, resolve_loss_name
from textcls.models.base import ModelOutput
from textcls.tasks import TASKS, get_task

LOGITS_1 = [2.0, -1.5, 0.3, -0.2, 4.0, -3.0]  # one logit per row
Y_BIN = [1, 0, 0, 1, 1, 0]
LOGITS_3 = [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-2.0, 3.0, 1.0], [1.0, 1.0, 1.0], [0.0, -4.0, 2.5]]
Y_3 = [0, 2, 1, 1, 2]


def batch_with_labels(labels: list[int]):
    items = [Encoded(np.array([2, 3], dtype=np.int64), y) for y in labels]
    return collate(items, "classification")


def objective(loss: dict, num_classes: int, label_counts=None):
    cfg = LossConfig(**loss)
    loss = resolve_loss(cfg, TASKS["classification"], num_classes)
    return loss, build_objective(
        cfg, TASKS["classification"], loss, num_classes, label_counts or Counter(), Counter(), nn.Module()
    )


def total_loss(obj, logits, labels) -> float:
    batch = batch_with_labels(labels)
    sentence = torch.tensor(logits, dtype=torch.float32)
    if sentence.dim() == 1:
        sentence = sentence[:, None]  # (B, 1): what a one-logit model outputs
    output = ModelOutput(sentence, torch.zeros(len(labels), 2, sentence.shape[1]))
    total, parts = obj(output, batch)
    assert total.dim() == 0
    assert float(parts["loss"]) == pytest.approx(float(total))
    assert float(parts["sentence_loss"]) == pytest.approx(float(total))  # no rationale, no regularisers
    return float(total)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def hand_bce(logits, labels, pos_weight=1.0) -> float:
    terms = [
        -(pos_weight * y * math.log(sigmoid(x)) + (1 - y) * math.log(1 - sigmoid(x))) for x, y in zip(logits, labels)
    ]
    return sum(terms) / len(terms)


def hand_ce(logits, labels, weights=None, smoothing=0.0) -> float:
    num, den = 0.0, 0.0
    for row, y in zip(logits, labels):
        log_z = math.log(sum(math.exp(v) for v in row))
        nll = -(row[y] - log_z)
        uniform = -sum(v - log_z for v in row) / len(row)  # mean of -log p over the classes
        w = 1.0 if weights is None else weights[y]
        num += w * ((1 - smoothing) * nll + smoothing * uniform)
        den += w
    return num / den


@pytest.mark.parametrize("name", ["bce", "auto"])
def test_bce_equals_hand_formula(name):
    resolved, obj = objective({"name": name}, 2)
    assert resolved.name == "bce"
    assert get_task("classification").num_outputs(resolved, 2) == 1
    assert total_loss(obj, LOGITS_1, Y_BIN) == pytest.approx(hand_bce(LOGITS_1, Y_BIN), rel=1e-5)


@pytest.mark.parametrize("pos_weight", [2.5, 0.4])
def test_bce_with_pos_weight_equals_hand_formula(pos_weight):
    _, obj = objective({"name": "bce", "pos_weight": pos_weight}, 2)
    expected = hand_bce(LOGITS_1, Y_BIN, pos_weight)
    assert total_loss(obj, LOGITS_1, Y_BIN) == pytest.approx(expected, rel=1e-5)
    assert expected != pytest.approx(hand_bce(LOGITS_1, Y_BIN), rel=1e-3)  # the weight does matter here


def test_bce_auto_pos_weight_is_negatives_over_positives():
    _, obj = objective({"name": "bce", "pos_weight": "auto"}, 2, label_counts=Counter({0: 6, 1: 2}))
    assert total_loss(obj, LOGITS_1, Y_BIN) == pytest.approx(hand_bce(LOGITS_1, Y_BIN, 3.0), rel=1e-5)


def test_ce_with_two_labels_equals_hand_formula():
    logits = [[0.5, -0.5], [2.0, 1.0], [-1.0, 3.0], [0.0, 0.0]]
    labels = [0, 1, 1, 0]
    resolved, obj = objective({"name": "ce"}, 2)
    assert get_task("classification").num_outputs(resolved, 2) == 2
    assert total_loss(obj, logits, labels) == pytest.approx(hand_ce(logits, labels), rel=1e-5)


@pytest.mark.parametrize("name", ["ce", "auto"])
def test_ce_with_three_labels_equals_hand_formula(name):
    resolved, obj = objective({"name": name}, 3)
    assert resolved.name == "ce" and get_task("classification").num_outputs(resolved, 3) == 3
    assert total_loss(obj, LOGITS_3, Y_3) == pytest.approx(hand_ce(LOGITS_3, Y_3), rel=1e-5)


def test_ce_class_weights_are_a_weighted_mean():
    weights = [0.5, 2.0, 1.0]
    _, obj = objective({"name": "ce", "class_weights": weights}, 3)
    assert total_loss(obj, LOGITS_3, Y_3) == pytest.approx(hand_ce(LOGITS_3, Y_3, weights), rel=1e-5)


def test_ce_balanced_class_weights_follow_scikit_learn():
    counts = Counter({0: 10, 1: 5, 2: 25})  # n / (C * count_c)
    weights = [40 / (3 * 10), 40 / (3 * 5), 40 / (3 * 25)]
    _, obj = objective({"name": "ce", "class_weights": "balanced"}, 3, label_counts=counts)
    assert total_loss(obj, LOGITS_3, Y_3) == pytest.approx(hand_ce(LOGITS_3, Y_3, weights), rel=1e-5)


def test_ce_label_smoothing():
    _, obj = objective({"name": "ce", "label_smoothing": 0.2}, 3)
    assert total_loss(obj, LOGITS_3, Y_3) == pytest.approx(hand_ce(LOGITS_3, Y_3, smoothing=0.2), rel=1e-5)


def test_bce_needs_two_labels():
    with pytest.raises(ConfigError, match="two labels"):
        resolve_loss_name("bce", TASKS["classification"], 3)


def test_regression_loss_does_not_fit_classification():
    with pytest.raises(ConfigError, match="does not fit"):
        resolve_loss_name("mse", TASKS["classification"], 2)


def test_wrong_number_of_class_weights():
    with pytest.raises(ConfigError, match="class_weights"):
        objective({"name": "ce", "class_weights": [1.0, 2.0]}, 3)
