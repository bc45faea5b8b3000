"""A task is one file plus one registry line: a toy task defined here, and nowhere in the package,
is trained, evaluated, predicted and counted through the public functions and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import NEGATIVE, POSITIVE, read_rows, synthetic_rows, write_csv
from textcls.errors import DataError
from textcls.tasks import TASKS, Task


class Share(Task):
    """Toy task: each sentence has a share in [0, 1] (here: 1 for praise, 0 for complaints), learned
    with one logit and BCE against the share; predictions are sigmoid(logit)."""

    name = "share"
    has_classes = False
    losses = ("bce", "mse")
    monitors = ("mae", "loss")

    def read_labels(self, cells, texts, tokens, tokenizer, where, data):
        values = np.array([float(c) for c in cells])
        bad = np.flatnonzero((values < 0) | (values > 1))
        if len(bad):
            raise DataError(f"{where(bad[0])}: a share lies in [0, 1], got {cells[bad[0]]}")
        return values

    def encode_labels(self, dataset, label_index):
        return np.asarray(dataset.labels, dtype=np.float32)

    def label_stats(self, dataset):
        return {"label": {"mean": float(np.mean(dataset.labels))}}

    def num_outputs(self, loss, num_labels):
        return 1

    def loss_inputs(self, output, batch):
        return output.sentence, batch.labels

    def sentence_outputs(self, logits):
        return 1 / (1 + np.exp(-logits[:, 0]))

    def metrics(self, predictions, items, labels, reference=None):
        error = np.abs(predictions.sentence - items.labels)
        return {"mae": float(error.mean()), "within_0.25": float((error <= 0.25).mean())}

    def predict_results(self, predictions, texts, words, spans, tokens, labels):
        return [{"text": t, "share": float(p)} for t, p in zip(texts, predictions.sentence)]

    def show(self, result, console):
        console.print(f"share {result['share']:.2f}  {result['text']}")


@pytest.fixture
def share_task(monkeypatch):
    monkeypatch.setitem(TASKS, "share", Share())  # the one registry line


def share_csvs(folder) -> dict:
    paths = {}
    for split, n, seed in [("train", 200, 1), ("valid", 60, 2), ("test", 40, 3)]:
        rows = synthetic_rows(n, seed, {"neg": NEGATIVE, "pos": POSITIVE})
        paths[split] = write_csv(
            folder / f"{split}.csv", ["text", "share"], [[t, "1" if y == "pos" else "0"] for t, y in rows]
        )
    return paths


def rows_of(path) -> list[tuple[str, float]]:
    return [(row["text"], float(row["share"])) for row in read_rows(path)]


def test_a_task_defined_outside_the_package_trains_evaluates_and_predicts(share_task, make_config, tmp_path):
    from textcls.checkpoint import load_run
    from textcls.predict import evaluate_file, predict_texts
    from textcls.stats import dataset_stats
    from textcls.train import train

    csvs = share_csvs(tmp_path / "share")
    config = make_config(
        csvs, task="share", data={"label_column": "share"}, loss={"name": "bce"}, train={"monitor": "mae", "epochs": 6}
    )
    result = train(config, out=tmp_path / "run")
    assert json.loads((result.run_dir / "model.json").read_text())["outputs"] == 1
    assert set(result.metrics["test"]) == {"mae", "within_0.25", "loss"}

    run = load_run(result.run_dir)
    metrics = evaluate_file(run, csvs["test"])
    # The metric against a reference computed here: predicted shares of the test texts vs their labels.
    rows = rows_of(csvs["test"])
    predicted = np.array([r["share"] for r in predict_texts(run, [text for text, _ in rows])])
    gold = np.array([share for _, share in rows])
    assert metrics["mae"] == pytest.approx(np.abs(predicted - gold).mean(), abs=1e-6)
    assert metrics["mae"] < 0.2 and metrics["rows"] == len(rows)  # it learned
    praise, complaint = predict_texts(run, ["a superb and lovely film", "a dull and awful film"])
    assert praise["share"] > 0.5 > complaint["share"]

    assert dataset_stats(config)["label"]["mean"] == pytest.approx(
        np.mean([share for _, share in rows_of(csvs["train"])])
    )


def test_the_toy_task_through_the_cli(share_task, make_config, tmp_path):
    import yaml

    from textcls.cli import app

    csvs = share_csvs(tmp_path / "share")
    raw = make_config(
        csvs, task="share", data={"label_column": "share"}, loss={"name": "bce"}, train={"epochs": 2}
    ).to_dict()
    path = tmp_path / "share.yaml"
    path.write_text(yaml.safe_dump(raw))
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--config", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    assert trained.exit_code == 0, trained.output
    shown = runner.invoke(app, ["predict", str(tmp_path / "run"), "a lovely film"])
    assert shown.exit_code == 0 and "share" in shown.output and "a lovely film" in shown.output
    as_json = runner.invoke(app, ["predict", str(tmp_path / "run"), "a lovely film", "--format", "json"])
    assert 0 <= json.loads(as_json.output)["share"] <= 1


def test_the_toy_task_reads_its_own_labels_and_losses(share_task, make_config, tmp_path):
    from textcls.errors import ConfigError
    from textcls.train import train

    csvs = share_csvs(tmp_path / "share")
    with pytest.raises(ConfigError, match="loss.name 'ce' does not fit task 'share' \\(choose one of: bce, mse\\)"):
        train(make_config(csvs, task="share", data={"label_column": "share"}, loss={"name": "ce"}), out=tmp_path / "a")
    with pytest.raises(ConfigError, match="not a metric of task 'share'"):
        train(
            make_config(csvs, task="share", data={"label_column": "share"}, train={"monitor": "accuracy"}),
            out=tmp_path / "b",
        )
    bad = write_csv(tmp_path / "bad.csv", ["text", "share"], [["a good film", "0.5"], ["a bad film", "2"]])
    with pytest.raises(DataError, match=r"bad.csv, row 2, column 'share': a share lies in \[0, 1\], got 2"):
        train(
            make_config({"train": bad, "valid": csvs["valid"]}, task="share", data={"label_column": "share"}),
            out=tmp_path / "c",
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_an_unknown_task_is_a_config_error_with_a_suggestion(make_config):
    from textcls.errors import ConfigError

    with pytest.raises(ConfigError, match="invalid value 'clasification' for 'task': did you mean 'classification'"):
        make_config(task="clasification")
