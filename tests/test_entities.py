"""Named entities in tagging: spans and entity scores against seqeval, constrained decoding against
brute force, scheme detection, and a tagger that learns a synthetic BIO set end to end."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities
from typer.testing import CliRunner

from textcls.entities import allowed_transitions, detect_scheme, entity_scores, entity_spans, viterbi

TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def test_entity_spans_equal_seqeval_on_any_sequence():
    rng = random.Random(0)
    for _ in range(2000):  # well-formed or not: I- without B-, types that change mid-entity, ...
        tags = [rng.choice(TAGS) for _ in range(rng.randint(1, 9))]
        assert [(k, a, b - 1) for k, a, b in entity_spans(tags)] == get_entities(tags)


def test_entity_scores_equal_seqeval():
    rng = random.Random(1)
    gold = [[rng.choice(TAGS[:3] + TAGS[5:7]) for _ in range(7)] for _ in range(300)]
    predicted = [[t if rng.random() < 0.8 else rng.choice(TAGS[:3] + TAGS[5:7]) for t in row] for row in gold]
    got = entity_scores(gold, predicted)
    assert got["entity_f1"] == pytest.approx(f1_score(gold, predicted))
    assert got["entity_precision"] == pytest.approx(precision_score(gold, predicted))
    assert got["entity_recall"] == pytest.approx(recall_score(gold, predicted))
    report = classification_report(gold, predicted, output_dict=True)
    for kind in ("PER", "LOC"):
        assert got["entities"][kind] == pytest.approx(
            {
                "precision": report[kind]["precision"],
                "recall": report[kind]["recall"],
                "f1": report[kind]["f1-score"],
                "support": report[kind]["support"],
            }
        )


def test_detect_scheme():
    assert detect_scheme(["B-PER", "I-PER", "O"]) == "bio"
    assert detect_scheme(["I-PER", "I-LOC", "O"]) == "io"
    assert detect_scheme(["B-X", "E-X", "I-X", "O", "S-X"]) == "bioes"
    assert detect_scheme(["ADJ", "NOUN", "VERB"]) is None  # parts of speech
    assert detect_scheme(["B-X", "I-X"]) is None  # no outside tag: not an entity tag set


@pytest.mark.parametrize(
    "scheme, tags",
    [("bio", ["O", "B-A", "I-A", "B-B", "I-B"]), ("bioes", ["O", "B-A", "I-A", "E-A", "S-A", "B-B", "E-B"])],
)
def test_viterbi_is_the_best_valid_sequence(scheme, tags):
    rng = np.random.default_rng(0)
    rules = allowed_transitions(tags, scheme)
    follows, starts, ends = rules
    for _ in range(25):
        log_p = np.log(rng.dirichlet(np.ones(len(tags)), size=4))
        valid = [
            seq
            for seq in itertools.product(range(len(tags)), repeat=4)
            if starts[seq[0]] and ends[seq[-1]] and all(follows[a, b] for a, b in zip(seq, seq[1:]))
        ]
        best = max(valid, key=lambda seq: sum(log_p[t, c] for t, c in enumerate(seq)))
        decoded = viterbi(log_p, *rules)
        assert tuple(decoded) == best
        # the decoded tags read as the same entities under any reading: no I- without its B-
        names = [tags[c] for c in decoded]
        assert all(
            not names[i].startswith(("I-", "E-")) or names[i - 1][2:] == names[i][2:] and i > 0
            for i in range(len(names))
            if names[i] != "O"
        )


# --- a tagger learns named entities -------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", [{"type": "bow", "window": 1, "hidden_dim": 32}, {"type": "lstm"}], ids=["window", "lstm"]
)
def test_tagger_learns_entities_and_reports_them(make_config, ner_csvs, tmp_path, model):
    import yaml

    from textcls.cli import app

    config = make_config(
        ner_csvs,
        task="tagging",
        data={"label_column": "tags", "lowercase": False},
        model={**model, "embedding_dim": 16},
        optim={"lr": 0.02},
        train={"epochs": 8, "monitor": "entity_f1"},
    )
    path = tmp_path / "ner.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    runner = CliRunner()
    assert runner.invoke(app, ["train", "-c", str(path), "-o", str(tmp_path / "run"), "-q"]).exit_code == 0
    out = runner.invoke(app, ["eval", str(tmp_path / "run"), str(ner_csvs["test"]), "-f", "json"])
    metrics = json.loads(out.output)
    assert metrics["entity_f1"] >= 0.95 and set(metrics["entities"]) == {"PER", "LOC"}
    result = json.loads(
        runner.invoke(app, ["predict", str(tmp_path / "run"), "John Smith visited Paris", "-f", "json"]).output
    )
    assert result["entities"] == [
        {"text": "John Smith", "type": "PER", "start": 0, "end": 2},
        {"text": "Paris", "type": "LOC", "start": 3, "end": 4},
    ]
    table = runner.invoke(app, ["predict", str(tmp_path / "run"), "John Smith visited Paris"])
    assert table.output.splitlines()[0] == "[John Smith PER] visited [Paris LOC]"  # marked in place


def test_entity_metrics_are_the_decoded_tags_scored_by_seqeval(make_config, ner_csvs, tmp_path):
    """After one epoch the tagger still errs: its entity scores are seqeval's on the tags predict gives,
    and those tags are valid BIO (no I- without its B-)."""
    from conftest import read_rows
    from textcls.checkpoint import load_run
    from textcls.predict import evaluate_file, predict_texts
    from textcls.train import train

    config = make_config(
        ner_csvs,
        task="tagging",
        data={"label_column": "tags", "lowercase": False},
        model={"type": "bow", "window": 1, "hidden_dim": 8, "embedding_dim": 4},
        train={"epochs": 1},
    )
    run = load_run(train(config, out=tmp_path / "run").run_dir)
    rows = read_rows(ner_csvs["test"])
    gold = [r["tags"].split() for r in rows]
    predicted = [r["tags"] for r in predict_texts(run, [r["text"] for r in rows])]
    metrics = evaluate_file(run, ner_csvs["test"])
    assert metrics["entity_f1"] == pytest.approx(f1_score(gold, predicted))
    assert metrics["entity_recall"] == pytest.approx(recall_score(gold, predicted))
    for tags in predicted:
        for i, tag in enumerate(tags):
            if tag.startswith("I-"):
                assert i > 0 and tags[i - 1][2:] == tag[2:] and tags[i - 1] != "O"
    # data.tag_scheme: none turns entity decoding and scores off
    plain = load_run(
        train(
            make_config(
                ner_csvs, task="tagging", data={"label_column": "tags", "tag_scheme": "none"}, train={"epochs": 1}
            ),
            out=tmp_path / "plain",
        ).run_dir
    )
    assert "entity_f1" not in evaluate_file(plain, ner_csvs["test"])


def test_entity_monitor_needs_entity_tags(make_config, tagging_csvs, tmp_path):
    from textcls.errors import ConfigError
    from textcls.train import train

    with pytest.raises(ConfigError, match="train.monitor: entity_f1 needs entity tags"):  # parts of speech are not
        train(
            make_config(tagging_csvs, task="tagging", data={"label_column": "tags"}, train={"monitor": "entity_f1"}),
            out=tmp_path / "run",
        )
    assert not (tmp_path / "run").exists()


def test_entity_confusions_on_a_worked_example():
    from textcls.entities import entity_confusions

    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG", "O", "B-MISC"], ["O", "O", "B-LOC"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG", "O", "B-ORG", "O", "O", "O"], ["B-PER", "O", "B-LOC"]]
    # PER and the second LOC are right; the LOC read as ORG; ORG found with a word too few; MISC
    # missed; a PER where there is none
    assert entity_confusions(gold, predicted) == {
        ("LOC", "ORG"): 1,
        ("ORG", "ORG"): 1,
        ("MISC", None): 1,
        (None, "PER"): 1,
    }
