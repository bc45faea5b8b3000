"""End to end through `textcls.train.train`: the models learn a separable task, and runs reproduce."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from conftest import TAGS, checkpoint_weights, read_rows
from textcls.checkpoint import load_run
from textcls.predict import predict_texts
from textcls.train import train

MODELS = {
    "bow": {"model": {"type": "bow"}, "optim": {"lr": 0.05}},
    "lstm": {"model": {"type": "lstm"}, "optim": {"lr": 0.01}},
}

pytestmark = pytest.mark.slow  # every test here trains models until they learn


def accuracy_by_hand(run_dir, csv_path) -> float:
    """Reload the run, predict every row's text, and compare with the CSV's own labels."""
    rows = read_rows(csv_path)
    predicted = predict_texts(load_run(run_dir), [r["text"] for r in rows])
    return sum(p["label"] == r["label"] for p, r in zip(predicted, rows)) / len(rows)


@pytest.mark.parametrize("model", ["bow", "lstm"])
def test_binary_separable_set_is_learnt(make_config, sentiment_csvs, tmp_path, model):
    config = make_config(**MODELS[model], train={"epochs": 4})
    result = train(config, out=tmp_path / model)
    assert result.metrics["valid"]["accuracy"] >= 0.95
    assert result.metrics["test"]["accuracy"] >= 0.95
    # the same numbers, recomputed from scratch outside the training pipeline
    assert accuracy_by_hand(result.run_dir, sentiment_csvs["valid"]) == pytest.approx(
        result.metrics["valid"]["accuracy"]
    )
    assert accuracy_by_hand(result.run_dir, sentiment_csvs["test"]) == pytest.approx(result.metrics["test"]["accuracy"])


@pytest.mark.parametrize("model", ["bow", "lstm"])
def test_three_classes_are_learnt(make_config, three_class_csvs, tmp_path, model):
    config = make_config(three_class_csvs, **MODELS[model], train={"epochs": 5})
    result = train(config, out=tmp_path / model)
    assert json.loads((result.run_dir / "labels.json").read_text()) == ["neg", "neu", "pos"]
    assert result.metrics["valid"]["accuracy"] >= 0.95
    assert accuracy_by_hand(result.run_dir, three_class_csvs["test"]) >= 0.95


@pytest.mark.parametrize("model", ["bow", "lstm"])
def test_tagger_learns_word_tags(make_config, tagging_csvs, tmp_path, model):
    config = make_config(
        tagging_csvs, task="tagging", data={"label_column": "tags"}, **MODELS[model], train={"epochs": 6}
    )
    result = train(config, out=tmp_path / model)
    assert result.metrics["valid"]["accuracy"] >= 0.95
    sentences = ["the big dog sees a red bird .", "this child eats ."]
    for prediction, sentence in zip(predict_texts(load_run(result.run_dir), sentences), sentences):
        assert prediction["tags"] == [TAGS[w] for w in sentence.split()]


@pytest.mark.parametrize("model", ["bow", "lstm"])
def test_same_seed_same_run(make_config, tmp_path, model):
    ngrams = {"word_ngrams": 2} if model == "bow" else {}  # the LSTM reads word order itself
    settings = {
        "model": {**MODELS[model]["model"], "dropout": 0.3, "buckets": 1000, **ngrams},
        "optim": {"lr": 0.01},
        "train": {"epochs": 3, "seed": 7},
    }
    first = train(make_config(**settings), out=tmp_path / "first")
    second = train(make_config(**settings), out=tmp_path / "second")
    for split in ("valid", "test"):
        assert first.metrics[split] == second.metrics[split]
    assert (first.run_dir / "metrics.json").read_text() == (second.run_dir / "metrics.json").read_text()
    a = load_file(str(checkpoint_weights(first.run_dir, "last")))
    b = load_file(str(checkpoint_weights(second.run_dir, "last")))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    # A different seed is a different run (it may or may not score differently): it must still work.
    other = train(make_config(**{**settings, "train": {"epochs": 3, "seed": 8}}), out=tmp_path / "other")
    assert other.metrics["valid"]["loss"] > 0


def test_valid_fraction_split_trains(make_config, sentiment_csvs, tmp_path):
    config = make_config({"train": sentiment_csvs["train"], "valid": 0.2}, train={"epochs": 3})
    result = train(config, out=tmp_path / "split")
    valid = result.metrics["valid"]
    assert sum(c["support"] for c in valid["per_class"].values()) == 40  # 20% of 200 rows
    assert valid["accuracy"] >= 0.95
    assert "test" not in result.metrics


def test_min_steps_raises_the_epochs_of_a_small_set(make_config, tmp_path):
    """200 training rows in batches of 16 take 13 steps an epoch: min_steps 60 makes ceil(60 / 13) = 5
    epochs of the 2 asked for; a min_steps the epochs already reach changes nothing."""
    from textcls.train import train

    rows = lambda run: [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    raised = train(make_config(train={"epochs": 2, "min_steps": 60}), out=tmp_path / "raised").run_dir
    assert [r["epoch"] for r in rows(raised)] == [1, 2, 3, 4, 5]
    assert rows(raised)[-1]["lr"] == 0.05  # constant schedule: lr stays
    kept = train(make_config(train={"epochs": 2, "min_steps": 20}), out=tmp_path / "kept").run_dir
    assert len(rows(kept)) == 2
