"""model.lexicon_features: valences and VADER's rules against values worked out by hand, the files
read (scores of any scale, pos/neg labels, bad cells), and a bag of words that reads a lexicon word
it never saw in training by its valence; the run folder keeps the lexicons (predict needs no file)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import write_csv
from textcls.errors import DataError
from textcls.lexicon_features import BOOST, CAPS, NEGATION, Lexicon, lexicon_features, read_valences
from textcls.tokenize import Tokens

VADER_LIKE = Lexicon("v.csv", {"good": 0.5, "bad": -0.5, "superb": 1.0})  # scores 2, -2, 4 on -4..4


def features(sentence: str, lexicons=(VADER_LIKE,)) -> np.ndarray:
    return lexicon_features(Tokens.from_lists([sentence.split()]), list(lexicons))


def test_valence_and_rules_worked_by_hand():
    # "good" after "very" (a booster one token back) and "not" (a negation two back):
    # (0.5 + BOOST) flipped and scaled by NEGATION; "very" and "good" are negated, "not" is not
    got = features("the movie was not very good")
    np.testing.assert_allclose(got[:, 0], [0, 0, 0, 0, 0, 0.5])
    np.testing.assert_allclose(got[:, 1], [0, 0, 0, 0, 0, (0.5 + BOOST) * NEGATION], rtol=1e-6)
    np.testing.assert_array_equal(got[:, 2], [0, 0, 0, 0, 1, 1])
    # capitals among lower-case words, and "but": before it half, after it 1.5 times
    got = features("GOOD acting but a bad plot")
    np.testing.assert_allclose(got[:, 1], [(0.5 + CAPS) * 0.5, 0, 0, 0, -0.5 * 1.5, 0], rtol=1e-6)
    # a sentence all in capitals: no word stands out
    np.testing.assert_allclose(features("ALL GOOD")[:, 1], [0, 0.5], rtol=1e-6)
    # a dampener; boosters two and three tokens back count 0.95 and 0.9; a negation four back does not reach
    np.testing.assert_allclose(features("slightly good")[:, 1], [0, 0.5 - BOOST], rtol=1e-6)
    np.testing.assert_allclose(features("really , really bad")[:, 1], [0, 0, 0, -(0.5 + BOOST * 1.9)], rtol=1e-6)
    np.testing.assert_allclose(features("never a film so superb")[:, 1], [0, 0, 0, 0, 1.0 + BOOST], rtol=1e-6)
    np.testing.assert_allclose(features("I don't think of it as good")[:, 1], [0, 0, 0, 0, 0, 0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(features("I don't find it good")[:, 2], [0, 0, 1, 1, 1])
    np.testing.assert_allclose(features("it isn't good")[:, 1], [0, 0, 0.5 * NEGATION], rtol=1e-6)


def test_rules_stay_within_their_row_and_files_give_two_columns_each():
    tokens = Tokens.from_lists([["not"], ["good", "bad"]])  # "not" ends the first row: "good" is not negated
    other = Lexicon("b.csv", {"bad": -1.0})
    got = lexicon_features(tokens, [VADER_LIKE, other])
    assert got.shape == (3, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, [[0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0], [-0.5, -0.5, -1, -1, 0]])


def test_files_are_scaled_by_their_largest_score_and_labels_read_as_one(tmp_path):
    scores = write_csv(tmp_path / "afinn.csv", ["word", "score"], [["Good", "3"], ["awful", "-5"], ["ok", "0"]])
    assert read_valences(scores).valences == {"good": 0.6, "awful": -1.0, "ok": 0.0}
    labels = write_csv(tmp_path / "bing.csv", ["word", "label"], [["good", "pos"], ["bad", "neg"]])
    assert read_valences(labels).valences == {"good": 1.0, "bad": -1.0}
    bad = write_csv(tmp_path / "bad.csv", ["word", "score"], [["good", "3"], ["bad", "very"]])
    with pytest.raises(DataError, match=r"bad.csv, row 2, column 'score': 'very' is not a number"):
        read_valences(bad)
    odd = write_csv(tmp_path / "odd.csv", ["word", "label"], [["good", "maybe"]])
    with pytest.raises(DataError, match=r"odd.csv, row 1, column 'label': 'maybe' is neither pos nor neg"):
        read_valences(odd)
    neither = write_csv(tmp_path / "neither.csv", ["word", "value"], [["good", "1"]])
    with pytest.raises(DataError, match="needs a 'score' or a 'label' column"):
        read_valences(neither)


def test_a_lexicon_word_never_seen_in_training_is_read_by_its_valence(make_config, tmp_path):
    """Training sentences use some lexicon words; "splendid" and "dreadful" are in the lexicon only.
    With lexicon features the model scores them by their valence; without, it knows nothing of them."""
    from textcls.checkpoint import load_run
    from textcls.predict import predict_texts
    from textcls.train import train

    positive, negative = ["good", "great", "fine", "nice"], ["bad", "poor", "awful", "dull"]
    rng = np.random.default_rng(0)
    fill = ["the", "film", "was", "a", "plot", "and", "it"]
    rows = []
    for i in range(300):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(fill, 4)) + [rng.choice(positive if label == "pos" else negative)]
        rng.shuffle(words)
        rows.append([" ".join(words), label])
    csvs = {
        split: write_csv(tmp_path / f"{split}.csv", ["text", "label"], part)
        for split, part in (("train", rows[:240]), ("valid", rows[240:]))
    }
    lexicon = write_csv(
        tmp_path / "lexicon.csv",
        ["word", "score"],
        [[w, "2"] for w in positive + ["splendid"]] + [[w, "-2"] for w in negative + ["dreadful"]],
    )
    probes = ["the film was splendid", "the film was dreadful"]

    def positive_share(lexicon_features):
        config = make_config(
            csvs,
            model={"type": "bow", "embedding_dim": 8, "lexicon_features": lexicon_features},
            optim={"name": "adamw", "lr": 0.05},
            train={"epochs": 6, "engine": "torch"},
        )
        run = train(config, out=tmp_path / f"run{len(lexicon_features)}").run_dir
        results = predict_texts(load_run(run), probes)
        return [r["probabilities"]["pos"] for r in results], run

    (splendid, dreadful), run = positive_share([str(lexicon)])
    assert splendid > 0.6 and dreadful < 0.4  # (diluted by the three plain words beside it)
    (plain_splendid, plain_dreadful), _ = positive_share([])
    assert abs(plain_splendid - plain_dreadful) < 0.1  # unknown words both: nothing tells them apart
    saved = json.loads((run / "lexicons.json").read_text())
    assert saved[0]["name"] == "lexicon.csv" and saved[0]["valences"]["splendid"] == 1.0
    lexicon.unlink()  # the run folder keeps what predicting needs
    from textcls.cli import app

    result = CliRunner().invoke(app, ["predict", str(run), probes[0], "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["label"] == "pos"
    (run / "lexicons.json").write_text('[{"name": "lexicon.csv", "valences": {"good": 7}}]')
    result = CliRunner().invoke(app, ["predict", str(run), probes[0]])
    assert result.exit_code != 0
    assert "damaged run folder: lexicons.json: lexicon.csv: a valence is not a number in [-1, 1]" in result.output
