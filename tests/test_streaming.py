"""The token cache's build in chunks (textcls/streaming.py) against reading the whole files at once
(load_datasets, build_featurizer, encode_splits: the path that runs without a cache): the same
vocabulary, labels, and for every row of every split the same word ids, n-grams, character
n-grams, characters, shapes, labels, word targets and groups, with chunks of a few rows each, for
every task and the features that shape the arrays; errors name the row of the whole file."""

from __future__ import annotations

import random

import numpy as np
import pytest

from conftest import NEGATIVE, POSITIVE, small_config_dict, tagging_rows, write_csv
from textcls import streaming
from textcls.config import config_from_dict
from textcls.data import load_datasets
from textcls.encoded import Encoded
from textcls.errors import DataError
from textcls.tasks import task_of
from textcls.train import build_featurizer, encode_splits, prepare

WORDS = POSITIVE + NEGATIVE + ["the", "a", "film", "plot", "The", "FILM", "Plot"]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(2, 7)))


def rows_of(items: Encoded) -> list[dict]:
    """Each row's arrays, as plain lists (chunked and whole encodings lay out their tables of
    distinct words differently; a row's values must agree)."""
    out = []
    for r in range(len(items)):
        span = slice(items.offsets[r], items.offsets[r + 1])
        row = {"ids": items.ids[span].tolist()}
        if items.labels is not None:
            row["label"] = (items.labels[span] if items.token_labels else items.labels[r]).tolist()
        for name in ("targets", "ngrams", "shapes"):
            if getattr(items, name) is not None:
                row[name] = getattr(items, name)[span].tolist()
        if items.subwords is not None:
            o, v = items.subwords.offsets, items.subwords.values
            row["subwords"] = [v[o[t] : o[t + 1]].tolist() for t in items.word_types[span]]
        if items.chars is not None:
            row["chars"] = items.chars[items.char_types[span]].tolist()
        if items.groups is not None:
            row["group"] = int(items.groups[r])
        out.append(row)
    return out


def same_encoding(config, monkeypatch, tokens_per_chunk: int = 30) -> None:
    task = task_of(config)
    datasets = load_datasets(config, task)
    featurizer = build_featurizer(config, task, datasets.train)
    whole = encode_splits(config, datasets, featurizer)
    monkeypatch.setattr(streaming, "TOKENS", tokens_per_chunk)
    entry, built = prepare(config)
    assert built
    assert entry.vocab.itos == featurizer.vocab.itos and entry.labels == featurizer.labels
    for split, items in whole.items():
        if items is None:
            assert entry.splits[split] is None
            continue
        chunked = entry.splits[split]
        assert (chunked.arity, chunked.token_labels, chunked.trained_words) == (
            items.arity,
            items.token_labels,
            items.trained_words,
        )
        assert rows_of(chunked) == rows_of(items), split


def configure(tmp_path, csvs, **sections):
    sections.setdefault("data", {})["cache"] = str(tmp_path / "cache")
    return config_from_dict(small_config_dict(csvs, tmp_path / "runs", **sections))


def test_classification_with_every_feature_split_rationales_and_lexicon(tmp_path, monkeypatch):
    rng = random.Random(0)
    rows = []
    for i in range(60):
        text = sentence(rng)
        label = ["neg", "pos", "neu"][i % 3]
        words = text.split()
        rationale = f"{words[0]}:{label}" if i % 4 == 0 else ""  # only some rows, none in the first chunk
        rows.append([text, label, rationale if i > 8 else ""])
    csvs = {
        "train": write_csv(tmp_path / "train.csv", ["text", "label", "why"], rows),
        "test": write_csv(tmp_path / "test.csv", ["text", "label", "why"], rows[:13]),
        "lexicon": write_csv(tmp_path / "lexicon.csv", ["word", "label"], [["great", "pos"], ["awful", "neg"]]),
    }
    config = configure(
        tmp_path,
        {**csvs, "valid": 0.2},
        data={"rationale_column": "why", "lexicon_examples": True, "lowercase": False, "min_freq": 2},
        model={"word_ngrams": 3, "buckets": 97, "char_ngrams": [2, 4]},
        loss={"rationale": {"weight": 1.0}},
    )
    same_encoding(config, monkeypatch)


def test_tagging_with_characters_and_shapes_and_a_drawn_split(tmp_path, monkeypatch):
    csvs = {"train": write_csv(tmp_path / "train.csv", ["text", "tags"], tagging_rows(50, 1))}
    config = configure(
        tmp_path,
        {**csvs, "valid": 0.3},
        task="tagging",
        data={"label_column": "tags"},
        model={"type": "lstm", "char_encoder": "cnn", "shape": True},
    )
    same_encoding(config, monkeypatch, tokens_per_chunk=20)


def test_multilabel_ranking_and_pairs(tmp_path, monkeypatch):
    rng = random.Random(1)
    multi = [[sentence(rng), "|".join(rng.sample(["a", "b", "c"], rng.randint(0, 2)))] for _ in range(30)]
    multi[0][1] = "a"
    csvs = {"train": write_csv(tmp_path / "m.csv", ["text", "label"], multi)}
    same_encoding(configure(tmp_path / "m", {**csvs, "valid": csvs["train"]}, task="multilabel"), monkeypatch)

    ranked = [[sentence(rng), str(rng.random()), f"q{i // 4}"] for i in range(30)]
    csvs = {"train": write_csv(tmp_path / "r.csv", ["text", "label", "query"], ranked)}
    config = configure(tmp_path / "r", {**csvs, "valid": 0.25}, task="ranking", data={"group_column": "query"})
    same_encoding(config, monkeypatch)

    pairs = [[sentence(rng), sentence(rng), rng.choice(["same", "other"])] for _ in range(30)]
    csvs = {"train": write_csv(tmp_path / "p.csv", ["text", "other", "relation"], pairs)}
    config = configure(
        tmp_path / "p",
        {**csvs, "valid": csvs["train"]},
        task="embedding",
        data={"text_pair_column": "other", "label_column": "relation", "similar_label": "same"},
    )
    same_encoding(config, monkeypatch)


def test_a_bad_cell_names_its_row_in_the_whole_file(tmp_path, monkeypatch):
    rng = random.Random(2)
    rows = [[sentence(rng), ["neg", "pos"][i % 2]] for i in range(40)]
    rows[33][0] = "   "
    csvs = {"train": write_csv(tmp_path / "train.csv", ["text", "label"], rows)}
    config = configure(tmp_path, {**csvs, "valid": 0.2})
    monkeypatch.setattr(streaming, "TOKENS", 20)
    with pytest.raises(DataError, match=r"train.csv, row 34, column 'text': empty text"):
        prepare(config)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]  # no entry, no scratch left


def test_an_unknown_label_in_a_later_chunk_of_the_validation_file(tmp_path, monkeypatch):
    rng = random.Random(3)
    rows = [[sentence(rng), ["neg", "pos"][i % 2]] for i in range(20)]
    csvs = {
        "train": write_csv(tmp_path / "train.csv", ["text", "label"], rows),
        "valid": write_csv(tmp_path / "valid.csv", ["text", "label"], rows[:12] + [["a fine film", "meh"]]),
    }
    monkeypatch.setattr(streaming, "TOKENS", 20)
    with pytest.raises(DataError, match=r"valid.csv, row 13.*'meh'"):
        prepare(configure(tmp_path, csvs))
    assert np.all([".lock" in p.name for p in (tmp_path / "cache").iterdir()])
