"""scripts/bench_sentiment.py --folds: every movie sentence is tested exactly once, never trained on in its fold."""

import importlib.util
from pathlib import Path

import pandas as pd

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def bench_module(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # it imports benchlib beside it
    spec = importlib.util.spec_from_file_location("bench_sentiment", SCRIPTS / "bench_sentiment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_folds_partition_the_pooled_sentences(tmp_path, monkeypatch):
    module = bench_module(monkeypatch)
    splits, start = {}, 0
    for split, size in [("train", 41), ("valid", 6), ("test", 6)]:  # 53 rows: folds of 5 and 6
        path = tmp_path / f"{split}.csv"
        rows = range(start, start + size)
        pd.DataFrame(
            {"text": [f"sentence {i}" for i in rows], "label": ["pos", "neg"] * (size // 2) + ["pos"] * (size % 2)}
        ).to_csv(path, index=False)
        splits[split], start = path, start + size
    monkeypatch.setattr(module, "SPLITS", splits)

    folds = module.write_folds(10, tmp_path / "folds")

    def texts(path):
        return set(pd.read_csv(path)["text"])

    everything = {f"sentence {i}" for i in range(53)}
    tested = [texts(fold["test"]) for fold in folds]
    assert len(folds) == 10
    assert set().union(*tested) == everything and sum(map(len, tested)) == 53  # each sentence tested once
    assert sorted(map(len, tested)) == [5, 5, 5, 5, 5, 5, 5, 6, 6, 6]
    for fold, test in zip(folds, tested):
        train, valid = texts(fold["train"]), texts(fold["valid"])
        assert not (train & valid or train & test or valid & test)
        assert train | valid | test == everything
        assert len(valid) == (53 - len(test)) // 9  # a slice of the other folds as large as one fold
