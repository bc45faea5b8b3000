"""Row weights (data.weight_column) against a hand-written weighted mean, their reading errors, and
self-training (data.unlabeled) on a synthetic domain shift where it must help: words of the target
domain never seen with a label are learnt from the unlabelled texts they share with known words."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import write_csv
from textcls.errors import ConfigError, DataError


def test_row_weights_give_the_weighted_mean_of_the_rows_losses():
    from collections import Counter

    from textcls.batching import Batch
    from textcls.config import RationaleConfig
    from textcls.encoded import IGNORE, Encoded
    from textcls.losses import LOSSES
    from textcls.losses.objective import Objective
    from textcls.models.base import ModelOutput
    from textcls.tasks import get_task

    task = get_task("classification")
    objective = Objective(task, LOSSES["ce"]().build(Counter(), 3), RationaleConfig(), None, [])
    items = Encoded(np.arange(6), np.arange(2, 7), labels=np.array([0, 2, IGNORE, 1, 1]))
    items.weights = np.array([1.0, 0.5, 3.0, 0.5, 0.0], dtype=np.float32)  # the unlabelled row's weight is unused
    batch = Batch.of(items)
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    got = objective.main(ModelOutput(logits, batch=batch), batch)
    per_row = F.cross_entropy(logits[[0, 1, 3, 4]], torch.tensor([0, 2, 1, 1]), reduction="none")
    weights = torch.tensor([1.0, 0.5, 0.5, 0.0])
    torch.testing.assert_close(got, (weights * per_row).sum() / weights.sum())


def test_bad_weights_are_one_line_errors(make_config, tmp_path, sentiment_csvs):
    from textcls.train import train

    rows = [["a good film", "pos", "1"], ["a bad film", "neg", "-2"]]
    path = write_csv(tmp_path / "weighted.csv", ["text", "label", "w"], rows)
    config = make_config({**sentiment_csvs, "train": path}, data={"weight_column": "w"})
    with pytest.raises(DataError, match=r"weighted.csv, row 2, column 'w': '-2' is not a weight \(a number >= 0\)"):
        train(config, out=tmp_path / "run")
    with pytest.raises(ConfigError, match="data.weight_column: row weights scale each row's loss; task 'ranking'"):
        train(make_config(task="ranking", data={"weight_column": "w"}), out=tmp_path / "run2")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run2").exists()


def domain_shift(tmp_path):
    """Source: a source word and a shared word of the row's sentiment. Target: a target word and a
    shared word (unlabelled), and for the test the target word alone: only self-training can learn it."""
    rng = random.Random(0)
    source = {"pos": ["good", "great", "fine"], "neg": ["bad", "poor", "weak"]}
    shared = {"pos": ["superb", "lovely"], "neg": ["awful", "dreadful"]}
    target = {"pos": ["sturdy", "comfy", "handy"], "neg": ["flimsy", "broken", "leaky"]}
    filler = ["the", "a", "it", "was", "is", "and", "this", "one"]

    def text(*words):
        parts = [*words, *rng.sample(filler, 3)]
        rng.shuffle(parts)
        return " ".join(parts)

    def rows(n, vocabularies):
        out = []
        for i in range(n):
            label = "pos" if i % 2 else "neg"
            out.append([text(*(rng.choice(v[label]) for v in vocabularies)), label])
        return out

    csvs = {
        "train": write_csv(tmp_path / "train.csv", ["text", "label"], rows(200, [source, shared])),
        "valid": write_csv(tmp_path / "valid.csv", ["text", "label"], rows(60, [source, shared])),
        "test": write_csv(tmp_path / "test.csv", ["text", "label"], rows(120, [target])),
    }
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("\n".join(t for t, _ in rows(300, [target, shared])) + "\n\n")
    return csvs, unlabeled


@pytest.mark.slow
def test_self_training_learns_the_target_domain_words(make_config, tmp_path):
    from textcls.train import train

    csvs, unlabeled = domain_shift(tmp_path)
    sections = dict(model={"embedding_dim": 16}, train={"epochs": 10})
    before = train(make_config(csvs, **sections), out=tmp_path / "plain").metrics["test"]["accuracy"]
    config = make_config(
        csvs,
        data={"unlabeled": str(unlabeled)},
        **sections | {"train": {"epochs": 10, "self_training": {"threshold": 0.6}}},
    )
    result = train(config, out=tmp_path / "self")
    after = result.metrics["test"]["accuracy"]
    assert before < 0.7 and after > 0.9, (before, after)
    run = tmp_path / "self"
    rounds = json.loads((run / "self_training" / "rounds.json").read_text())
    assert [r["round"] for r in rounds] == [0, 1]
    kept = rounds[1]["pseudo_labels"]
    assert kept["pos"] == kept["neg"] > 100  # balanced, most of the 300 texts
    round_file = run / "self_training" / "train-round-1.csv"
    import pandas as pd

    frame = pd.read_csv(round_file, dtype=str, keep_default_na=False)
    assert len(frame) == 200 + 2 * kept["pos"]
    assert set(frame["self_training_weight"][:200]) == {"1"} and set(frame["self_training_weight"][200:]) == {"0.5"}
    # pseudo-labels agree with the hidden labels: a target word's class is its sentiment
    pseudo = frame[200:]
    right = pseudo.apply(
        lambda r: any(
            w in r["text"].split()
            for w in (["sturdy", "comfy", "handy"] if r["label"] == "pos" else ["flimsy", "broken", "leaky"])
        ),
        axis=1,
    )
    assert right.mean() > 0.95
    assert (run / "self_training" / "round-0" / "metrics.json").is_file()
    assert (run / "metrics.json").is_file() and (run / "self_training" / "config.yaml").is_file()


@pytest.mark.slow
def test_the_lexicon_teaches_the_first_round_and_the_model_the_next(make_config, tmp_path):
    """The lexicon knows only the shared words: it labels the texts that have one (round 1) and cannot
    label a text of target words alone; the round-1 model, which learnt the target words from the texts
    they share with lexicon words, labels those in round 2."""
    import pandas as pd

    from textcls.train import train

    csvs, unlabeled = domain_shift(tmp_path)
    lexicon = write_csv(
        tmp_path / "lexicon.csv",
        ["word", "score"],
        [["superb", "3"], ["lovely", "3"], ["awful", "-3"], ["dreadful", "-3"]],
    )
    target = {"pos": ["sturdy", "comfy", "handy"], "neg": ["flimsy", "broken", "leaky"]}
    alone = [f"{words[i % 3]} it was" for i in range(30) for words in target.values()]
    with unlabeled.open("a") as file:
        file.write("\n".join(alone) + "\n")
    settings = {"teacher": "lexicon", "rounds": 2, "threshold": 0.5, "balance": False}
    config = make_config(
        csvs,
        data={"unlabeled": str(unlabeled), "lexicon": str(lexicon)},
        model={"embedding_dim": 16},
        train={"epochs": 10, "self_training": settings},
    )
    train(config, out=tmp_path / "run")
    folder = tmp_path / "run" / "self_training"
    first = pd.read_csv(folder / "train-round-1.csv", dtype=str, keep_default_na=False)
    second = pd.read_csv(folder / "train-round-2.csv", dtype=str, keep_default_na=False)
    assert not set(alone) & set(first["text"])  # no lexicon word: the lexicon keeps none of them
    taught = second[second["text"].isin(alone)]
    assert len(taught) == len(alone)
    expected = taught["text"].map(lambda t: "pos" if t.split()[0] in target["pos"] else "neg")
    assert (taught["label"] == expected).mean() > 0.95


def test_self_training_settings_are_checked_before_any_training(make_config, tmp_path, sentiment_csvs):
    from textcls.train import train

    with pytest.raises(ConfigError, match="data.unlabeled: give data.valid as a file"):
        train(make_config({"train": sentiment_csvs["train"], "valid": 0.2, "unlabeled": "x.txt"}), out=tmp_path / "a")
    with pytest.raises(DataError, match=r"missing.txt: file not found \(data.unlabeled\)"):
        train(make_config(data={"unlabeled": str(tmp_path / "missing.txt")}), out=tmp_path / "b")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n")
    with pytest.raises(DataError, match=r"blank.txt: no text in it \(data.unlabeled\)"):
        train(make_config(data={"unlabeled": str(blank)}), out=tmp_path / "c")
    with pytest.raises(ConfigError, match="self-training labels texts with classes; task 'regression'"):
        train(make_config(task="regression", data={"unlabeled": str(blank)}), out=tmp_path / "d")
    assert not any((tmp_path / x).exists() for x in "abcd")


def test_the_lexicon_teacher_labels_by_the_sign_of_the_summed_valence(make_config, tmp_path):
    from textcls.config import SelfTrainingConfig
    from textcls.lexicon_features import NEGATION
    from textcls.self_training import lexicon_teacher, pseudo_labels

    lexicon = write_csv(tmp_path / "lexicon.csv", ["word", "score"], [["good", "2"], ["bad", "-2"], ["superb", "4"]])
    config = make_config(model={"lexicon_features": [str(lexicon)]})
    texts = ["a good film", "not good", "bad , bad", "the plot", "superb"]
    labels, confidence = lexicon_teacher(config, texts, ["neg", "pos"])
    sums = np.array([0.5, 0.5 * NEGATION, -1.0, 0.0, 1.0])  # valences on -1..1 (scores / 4)
    assert labels.tolist() == ["pos", "neg", "neg", "neg", "pos"]  # (no valence: the first class, never kept)
    np.testing.assert_allclose(confidence, np.abs(4 * sums) / np.sqrt(16 * sums**2 + 15), rtol=1e-6)
    kept = pseudo_labels(labels, confidence, texts, ["neg", "pos"], SelfTrainingConfig(threshold=0.4, balance=False))
    assert kept == (["a good film", "bad , bad", "superb"], ["pos", "neg", "pos"])  # "not good": 0.36 < 0.4
    balanced = pseudo_labels(labels, confidence, texts, ["neg", "pos"], SelfTrainingConfig(threshold=0.4))
    assert balanced == (["bad , bad", "superb"], ["neg", "pos"])  # one of each: the most confident positive
    with pytest.raises(ConfigError, match="teacher lexicon: name the lexicon"):
        from textcls.train import train

        train(make_config(data={"unlabeled": "x.txt"}, train={"self_training": {"teacher": "lexicon"}}), tmp_path / "r")
