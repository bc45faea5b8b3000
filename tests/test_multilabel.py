"""Multi-label classification: the metrics and threshold search against scikit-learn and brute
force, BCE with per-label pos_weight and multi-label focal against hand formulas (values and
gradients), and the task end to end (empty cells, tuned or fixed thresholds saved with the run,
predict with --top-k)."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    hamming_loss,
    label_ranking_average_precision_score,
    precision_recall_fscore_support,
)
from typer.testing import CliRunner

from conftest import FILLER, NEGATIVE, NEUTRAL, POSITIVE, read_rows, train_cli, write_csv
from textcls.losses import LOSSES
from textcls.metrics import best_f1_threshold, multilabel_metrics


def test_multilabel_metrics_against_scikit_learn():
    rng = np.random.default_rng(0)
    y = (rng.random((80, 6)) < 0.3).astype(int)
    y[0], y[1], y[:, 5] = 0, 1, 0  # a row with no label, one with all, a label never present
    scores = rng.random((80, 6))
    thresholds = np.array([0.5, 0.3, 0.7, 0.5, 0.4, 0.5])
    got = multilabel_metrics(y, scores, thresholds, list("abcdef"))
    predicted = (scores >= thresholds).astype(int)
    assert got["micro_f1"] == pytest.approx(f1_score(y, predicted, average="micro"))
    assert got["macro_f1"] == pytest.approx(f1_score(y, predicted, average="macro", zero_division=0))
    assert got["subset_accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert got["hamming_loss"] == pytest.approx(hamming_loss(y, predicted))
    assert got["lrap"] == pytest.approx(label_ranking_average_precision_score(y, scores))
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, zero_division=0)
    for i, label in enumerate("abcdef"):
        assert got["per_class"][label] == pytest.approx(
            {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": support[i]}
        )


def test_best_f1_threshold_is_the_best_of_brute_force():
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.3
    scores = np.round(np.where(y, rng.normal(0.6, 0.2, 300), rng.normal(0.4, 0.2, 300)), 2)  # ties
    t = best_f1_threshold(y, scores)
    f1 = lambda th: f1_score(y, scores >= th)
    assert f1(t) == pytest.approx(max(f1(c) for c in np.unique(scores)))


def test_bce_with_auto_pos_weight_per_label():
    counts = Counter({(0, 1): 2, (0, 0): 8, (1, 1): 5, (1, 0): 5, (2, 1): 1, (2, 0): 9})
    loss = LOSSES["bce"](pos_weight="auto").build(counts, 3)
    logits = torch.tensor([[0.3, -1.0, 2.0], [-0.5, 0.2, -2.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    w = torch.tensor([8 / 2, 5 / 5, 9 / 1], dtype=torch.float64)  # negatives / positives per label
    p = torch.sigmoid(logits)
    expected = -(w * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    torch.testing.assert_close(loss(logits, y), expected)


def test_multilabel_focal_equals_a_loop_values_and_gradients():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = (torch.rand(5, 4, generator=g) < 0.4).double()
    alpha = [0.5, 1.0, 2.0, 0.25]
    got_x = logits.clone().requires_grad_(True)
    got = LOSSES["focal"](gamma=2.0, alpha=alpha).build(Counter({(0, 1): 1}), 4)(got_x, y)
    got.backward()
    ref_x = logits.clone().requires_grad_(True)
    terms = []
    for r in range(5):
        for j in range(4):
            p = torch.sigmoid(ref_x[r, j])
            p_t = p if y[r, j] == 1 else 1 - p
            terms.append(-alpha[j] * (1 - p_t) ** 2 * torch.log(p_t))
    ref = torch.stack(terms).mean()
    ref.backward()
    torch.testing.assert_close(got, ref)
    torch.testing.assert_close(got_x.grad, ref_x.grad)


# --- the task end to end ---------------------------------------------------------------------------

GROUPS = {"praise": POSITIVE, "complaint": NEGATIVE, "neutral": NEUTRAL}


def multilabel_rows(n: int, seed: int) -> list[list[str]]:
    """Each group's words appear in a row with probability 0.4; its label is on exactly then."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        labels = [name for name in GROUPS if rng.random() < 0.4]
        words = [rng.choice(GROUPS[name]) for name in labels] + rng.choices(FILLER, k=rng.randint(2, 4))
        rng.shuffle(words)
        rows.append([" ".join(words), "|".join(labels)])
    return rows


@pytest.fixture
def multilabel_csvs(tmp_path) -> dict:
    return {
        split: write_csv(tmp_path / f"{split}.csv", ["text", "labels"], multilabel_rows(n, seed))
        for split, n, seed in [("train", 300, 1), ("valid", 80, 2), ("test", 80, 3)]
    }


@pytest.mark.parametrize("threshold", ["per_label", 0.5])
def test_multilabel_trains_and_scores_with_its_saved_thresholds(make_config, multilabel_csvs, tmp_path, threshold):
    from textcls.checkpoint import load_run
    from textcls.predict import evaluate_file, predict_texts
    from textcls.train import train

    config = make_config(
        multilabel_csvs,
        task="multilabel",
        data={"label_column": "labels"},
        loss={"name": "bce", "pos_weight": "auto", "threshold": threshold},
        train={"epochs": 6, "monitor": "micro_f1"},
    )
    run = load_run(train(config, out=tmp_path / "run").run_dir)
    assert run.labels == ["complaint", "neutral", "praise"]
    saved = tmp_path / "run" / "task.json"
    state = json.loads(saved.read_text())
    thresholds = state["thresholds"] if threshold == "per_label" else [0.5] * 3
    assert ("thresholds" in state) == (threshold == "per_label") and "temperature" in state
    metrics = evaluate_file(run, multilabel_csvs["test"])
    rows = read_rows(multilabel_csvs["test"])
    results = predict_texts(run, [r["text"] for r in rows])
    y = np.array([[label in r["labels"].split("|") for label in run.labels] for r in rows]).astype(int)
    predicted = np.array([[label in result["labels"] for label in run.labels] for result in results]).astype(int)
    probabilities = np.array([[result["probabilities"][label] for label in run.labels] for result in results])
    assert (predicted == (probabilities >= np.array(thresholds) - 1e-6)).all()  # predict applies the saved thresholds
    assert metrics["micro_f1"] == pytest.approx(f1_score(y, predicted, average="micro"), abs=1e-6)
    assert metrics["subset_accuracy"] == pytest.approx(accuracy_score(y, predicted), abs=1e-6)
    assert metrics["lrap"] == pytest.approx(label_ranking_average_precision_score(y, probabilities), abs=1e-4)
    assert metrics["micro_f1"] > 0.9  # it learned
    assert any(not r["labels"] for r in rows)  # rows with no label were read (empty cells)


def test_predict_top_k_and_errors(make_config, multilabel_csvs, tmp_path):
    from textcls.cli import app
    from textcls.train import train

    train_cli(
        make_config(multilabel_csvs, task="multilabel", data={"label_column": "labels"}, train={"epochs": 3}),
        tmp_path / "ml",
    )
    runner = CliRunner()
    out = runner.invoke(app, ["predict", str(tmp_path / "ml"), "a lovely film", "--top-k", "2", "-f", "json"])
    result = json.loads(out.output)
    ranked = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])[:2]
    assert result["top_k"] == [{"label": k, "probability": v} for k, v in ranked] and isinstance(result["labels"], list)
    # single-label classification gets top_k too, and keeps its "label"
    single = train(make_config(train={"epochs": 1}), out=tmp_path / "single").run_dir
    out = json.loads(runner.invoke(app, ["predict", str(single), "a good film", "--top-k", "1", "-f", "json"]).output)
    assert out["top_k"][0]["label"] == out["label"]
    # an unknown label in eval names its row
    bad = write_csv(tmp_path / "bad.csv", ["text", "labels"], [["a good film", "praise"], ["a film", "praise|sarcasm"]])
    result = runner.invoke(app, ["eval", str(tmp_path / "ml"), str(bad)])
    assert result.exit_code == 1 and "bad.csv, row 2" in result.output and "'sarcasm'" in result.output


@pytest.mark.slow
def test_shipped_emotion_config_trains_from_the_cli(train_shipped, tmp_path):
    assert train_shipped("configs/emotion_multilabel.yaml", epochs=2)["micro_f1"] > 0.3
    assert len(json.loads((tmp_path / "shipped" / "task.json").read_text())["thresholds"]) == 10  # one per label


def test_stats_with_rows_of_equal_label_counts_and_empty_cells(make_config, tmp_path):
    from textcls.stats import dataset_stats

    rows = [["a good film", "praise|neutral"], ["a dull film", "complaint|neutral"], ["the plot", ""], ["a film", ""]]
    path = write_csv(tmp_path / "ml.csv", ["text", "labels"], rows)
    stats = dataset_stats(
        make_config({"train": path, "valid": path}, task="multilabel", data={"label_column": "labels"})
    )
    assert stats["label_counts"] == {"complaint": 1, "neutral": 2, "praise": 1}
    assert stats["rows_without_labels"] == 2 and stats["mean_labels_per_row"] == 1.0


def test_user_text_is_printed_as_it_is(make_config, multilabel_csvs, tmp_path):
    from textcls.cli import app

    train_cli(
        make_config(multilabel_csvs, task="multilabel", data={"label_column": "labels"}, train={"epochs": 1}),
        tmp_path / "ml",
    )
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "ml"), "see [/usr/bin] and [b]this[/b]"])
    assert result.exit_code == 0 and "see [/usr/bin] and [b]this[/b]" in result.output  # not read as markup


def test_word_targets_need_a_task_with_classes(make_config, multilabel_csvs, tmp_path):
    from textcls.errors import ConfigError
    from textcls.train import train

    lexicon = write_csv(tmp_path / "lex.csv", ["word", "label"], [["lovely", "praise"]])
    with pytest.raises(ConfigError, match="data.lexicon: word targets .* task 'multilabel' has no such scores"):
        train(
            make_config(multilabel_csvs, task="multilabel", data={"label_column": "labels", "lexicon": str(lexicon)}),
            out=tmp_path / "run",
        )
    assert not (tmp_path / "run").exists()


def test_thresholds_are_tuned_on_calibrated_probabilities(make_config, multilabel_csvs, tmp_path):
    """The temperature is fitted first (the one that minimises validation BCE, found by a scan), then
    each label's threshold is the best-F1 one on sigmoid(logit / T)."""
    from textcls.checkpoint import load_run
    from textcls.metrics import best_f1_threshold
    from textcls.predict import predict_texts
    from textcls.train import train

    config = make_config(
        multilabel_csvs,
        task="multilabel",
        data={"label_column": "labels"},
        loss={"name": "bce", "threshold": "per_label"},
        train={"epochs": 6, "monitor": "micro_f1"},
    )
    run_dir = train(config, out=tmp_path / "run").run_dir
    state = json.loads((run_dir / "task.json").read_text())
    raw = load_run(run_dir, calibrated=False)
    rows = read_rows(multilabel_csvs["valid"])
    probs = np.array(
        [[r["probabilities"][label] for label in raw.labels] for r in predict_texts(raw, [r["text"] for r in rows])]
    )
    y = np.array([[label in r["labels"].split("|") for label in raw.labels] for r in rows]).astype(float)
    logits = np.log(np.clip(probs, 1e-12, 1)) - np.log(np.clip(1 - probs, 1e-12, 1))
    bce = lambda t: -np.mean(y * np.log(1 / (1 + np.exp(-logits / t))) + (1 - y) * np.log(1 / (1 + np.exp(logits / t))))
    scan = np.exp(np.linspace(np.log(0.05), np.log(20), 4001))
    assert state["temperature"] == pytest.approx(scan[int(np.argmin([bce(t) for t in scan]))], rel=0.01)
    calibrated = 1 / (1 + np.exp(-logits / state["temperature"]))
    expected = [best_f1_threshold(y[:, i], calibrated[:, i]) for i in range(3)]
    assert state["thresholds"] == pytest.approx(expected, abs=2e-5)  # (predict rounds probabilities to 6 digits)
