"""Token tagging end to end: CSV alignment and its errors, the NLL/cross-entropy identity and
padding, unknown words through character n-grams, context learning, the tagging metrics against
hand computation and scikit-learn, and the train -> eval -> predict round trip of the CLI."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from sklearn.metrics import f1_score, precision_recall_fscore_support
from typer.testing import CliRunner

from conftest import collate, read_rows, small_config_dict, write_csv
from textcls.checkpoint import load_run
from textcls.cli import app
from textcls.config import DataConfig, OptimConfig, TrainConfig, config_from_dict, model_config
from textcls.data import Example, Tokenizer, load_datasets, read_examples
from textcls.encoded import IGNORE
from textcls.errors import DataError
from textcls.evaluate import predict_items
from textcls.features import Featurizer, word_shape
from textcls.losses import LOSSES
from textcls.losses.objective import plain_objective
from textcls.metrics import tagging_metrics
from textcls.models import build_model
from textcls.models.base import embed_words
from textcls.predict import predict_texts
from textcls.tasks import TASKS, task_of
from textcls.train import build_featurizer, train
from textcls.trainer import Trainer
from textcls.vocab import Vocabulary

SEED_TEXT, SEED_TAGS = "The dog ate the apple", "DET NN V DET NN"


def tagging_sections(model: dict | None = None, data: dict | None = None, **sections) -> dict:
    """Config sections of a small tagging run (merged over conftest's small defaults)."""
    return {
        "task": "tagging",
        "data": {"label_column": "tags", **(data or {})},
        "model": {"dropout": 0.0, **(model or {})},
        **sections,
    }


def one_line_error(path: Path, **data) -> str:
    with pytest.raises(DataError) as info:
        read_examples(
            path,
            DataConfig(train=str(path), label_column="tags", **data),
            TASKS["tagging"],
            Tokenizer(whitespace=True, max_length=data.get("max_length")),
        )
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


# --- CSV -> examples: alignment, errors, truncation ------------------------------------------------


def test_seed_example_gives_aligned_tokens_and_tags_with_case_kept(make_config, tmp_path):
    path = write_csv(tmp_path / "seed.csv", ["text", "tags"], [[SEED_TEXT, SEED_TAGS]])
    config = make_config({"train": path, "valid": str(path)}, **tagging_sections())
    train = load_datasets(config, task_of(config)).train
    (example,) = train
    assert example.tokens == ["The", "dog", "ate", "the", "apple"]  # surface form, case kept
    assert example.label == ["DET", "NN", "V", "DET", "NN"]
    assert len(example.tokens) == len(example.label) == 5

    featurizer = build_featurizer(config, task_of(config), train)
    assert "The" not in featurizer.vocab and "the" in featurizer.vocab  # lowercased only for the vocabulary
    assert featurizer.labels == ["DET", "NN", "V"]
    (item,) = featurizer.encode_all([example], str(path))
    assert item.ids[0] == item.ids[3] == featurizer.vocab.stoi["the"]
    assert item.label.tolist() == [0, 1, 2, 0, 1]
    assert item.shapes.tolist() == [word_shape("The"), 1, 1, 1, 1] and word_shape("The") != 1  # case reaches the model

    cased_config = make_config({"train": path, "valid": str(path)}, **tagging_sections(data={"lowercase": False}))
    cased = build_featurizer(cased_config, task_of(cased_config), train)
    assert "The" in cased.vocab and cased.vocab.stoi["The"] != cased.vocab.stoi["the"]


@pytest.mark.parametrize(
    "tags, fragment",
    [
        ("DET NN V DET", "4 tags for 5 tokens"),
        ("DET NN V DET NN NN", "6 tags for 5 tokens"),
        ("", "empty label"),
        ("   ", "empty label"),
    ],
)
def test_misaligned_or_empty_tag_cell_is_a_one_line_error_naming_file_and_row(tmp_path, tags, fragment):
    path = write_csv(tmp_path / "bad.csv", ["text", "tags"], [[SEED_TEXT, SEED_TAGS], ["a cat saw the bird", tags]])
    message = one_line_error(path)
    assert "row 2" in message and "column 'tags'" in message and fragment in message


def test_max_length_truncates_words_and_tags_together_through_the_pipeline(make_config, tmp_path):
    path = write_csv(tmp_path / "seed.csv", ["text", "tags"], [[SEED_TEXT, SEED_TAGS], ["a cat saw", "DET NN V"]])
    config = make_config({"train": path, "valid": str(path)}, **tagging_sections(data={"max_length": 3}))
    examples = load_datasets(config, task_of(config)).train
    assert [e.tokens for e in examples] == [["The", "dog", "ate"], ["a", "cat", "saw"]]
    assert [e.label for e in examples] == [["DET", "NN", "V"], ["DET", "NN", "V"]]
    featurizer = build_featurizer(config, task_of(config), examples)
    for item in featurizer.encode_all(examples, str(path)):
        assert len(item.ids) == len(item.label) == len(item.shapes) == 3
    # The tag count is checked against the whole text, before truncation: a misaligned row is an
    # error even when the cut would hide the misalignment.
    bad = write_csv(tmp_path / "bad.csv", ["text", "tags"], [[SEED_TEXT, "DET NN V DET"]])
    assert "row 1" in one_line_error(bad, max_length=3)


# --- NLL of log-softmax = cross-entropy; padding and unlabelled tokens ignored -------------------------

TAGSET = ["ADJ", "DET", "NOUN", "VERB"]
VOCAB_WORDS = ["the", "a", "dog", "cat", "runs", "sees", "big", "red", "."]
SENTENCES = [  # (surface tokens, tags); unseen words and capitals included
    (
        ["The", "big", "dog", "sees", "a", "red", "Zorbing", "cat", "."],
        ["DET", "ADJ", "NOUN", "VERB", "DET", "ADJ", "NOUN", "NOUN", "DET"],
    ),
    (["a", "cat", "runs"], ["DET", "NOUN", "VERB"]),
    (["the", "dog", "sees", "42", "cats"], ["DET", "NOUN", "VERB", "ADJ", "NOUN"]),
]


def tagging_featurizer(model_type: str, **model) -> Featurizer:
    window = {"window": 2} if model_type == "bow" else {}  # the window tagger's neighbours
    cfg = model_config(
        type=model_type, embedding_dim=8, hidden_dim=6, buckets=97, char_ngrams=(2, 3), shape=True, **window, **model
    )
    return Featurizer(TASKS["tagging"], cfg, Tokenizer(whitespace=True), Vocabulary.build([VOCAB_WORDS]), TAGSET)


def tagging_batch(featurizer: Featurizer, sentences, labelled: bool = True):
    examples = [
        Example(list(tokens), list(tags) if labelled else None, i + 1) for i, (tokens, tags) in enumerate(sentences)
    ]
    return collate(featurizer.encode_all(examples, "test"), "tagging")


def seeded_model(featurizer: Featurizer, log_softmax: bool = False):
    torch.manual_seed(0)
    return build_model(
        featurizer.model, TASKS["tagging"], featurizer.num_features, len(TAGSET), log_softmax=log_softmax
    )


def dense_grads(model) -> dict[str, torch.Tensor]:
    return {
        n: (p.grad.to_dense() if p.grad.is_sparse else p.grad)
        for n, p in model.named_parameters()
        if p.grad is not None
    }


@pytest.mark.parametrize("model_type", ["bow", "lstm"])
def test_nll_of_log_softmax_equals_cross_entropy_with_padding_and_unlabelled_tokens_ignored(model_type):
    featurizer = tagging_featurizer(model_type)
    ce_model = seeded_model(featurizer)
    nll_model = build_model(featurizer.model, TASKS["tagging"], featurizer.num_features, len(TAGSET), log_softmax=True)
    nll_model.load_state_dict(ce_model.state_dict())
    batch = tagging_batch(featurizer, SENTENCES)
    batch.labels[0, 2] = IGNORE  # one unlabelled word besides the padding
    assert (batch.labels == IGNORE).sum() == 1 + (9 - 3) + (9 - 5)

    ce_out, nll_out = ce_model(batch), nll_model(batch)
    torch.testing.assert_close(nll_out.tokens.exp().sum(-1), torch.ones(3, 9))  # log-probabilities
    ce_loss = plain_objective(LOSSES["ce"](), TASKS["tagging"], len(TAGSET)).main(ce_out, batch)
    nll_loss = plain_objective(LOSSES["nll"](), TASKS["tagging"], len(TAGSET)).main(nll_out, batch)
    torch.testing.assert_close(nll_loss, ce_loss, atol=1e-6, rtol=1e-6)

    # By hand: mean of -log softmax at the gold tag over the labelled real tokens only, each
    # sentence scored on its own (no padding anywhere).
    terms = []
    for b, (tokens, tags) in enumerate(SENTENCES):
        with torch.no_grad():
            alone = ce_model(tagging_batch(featurizer, [(tokens, tags)])).tokens[0]
        for t, tag in enumerate(tags):
            if (b, t) != (0, 2):
                terms.append(-F.log_softmax(alone[t], -1)[TAGSET.index(tag)])
    assert len(terms) == 9 + 3 + 5 - 1
    assert ce_loss.item() == pytest.approx(torch.stack(terms).mean().item(), abs=1e-5)

    ce_loss.backward()
    nll_loss.backward()
    ce_grads, nll_grads = dense_grads(ce_model), dense_grads(nll_model)
    assert ce_grads.keys() == nll_grads.keys() == dict(ce_model.named_parameters()).keys()
    for name in ce_grads:
        torch.testing.assert_close(nll_grads[name], ce_grads[name], atol=1e-6, rtol=1e-5, msg=name)
    assert any(g.abs().sum() > 0 for g in ce_grads.values())


# --- padding changes nothing, with character n-grams and shapes on -----------------------------------


@pytest.mark.parametrize("model_type", ["bow", "lstm"])
def test_tag_scores_are_the_same_alone_and_padded_in_a_batch(model_type):
    featurizer = tagging_featurizer(model_type)
    model = seeded_model(featurizer).eval()
    assert featurizer.model.char_ngrams and featurizer.model.shape
    short = SENTENCES[1]
    with torch.no_grad():
        alone = model(tagging_batch(featurizer, [short])).tokens[0]
        batched = model(tagging_batch(featurizer, [SENTENCES[0], short, SENTENCES[2]])).tokens
        long_alone = model(tagging_batch(featurizer, [SENTENCES[0]])).tokens[0]
    torch.testing.assert_close(batched[1, : len(short[0])], alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched[0], long_alone, atol=1e-5, rtol=1e-5)

    # The same through the prediction path: one sentence per batch or all together.
    items = featurizer.encode_all([Example(list(t), None, i) for i, (t, _) in enumerate(SENTENCES)], "test")
    one = predict_items(model, items, TASKS["tagging"], 1, torch.device("cpu"))
    together = predict_items(model, items, TASKS["tagging"], 64, torch.device("cpu"))
    for r, (tokens, _) in enumerate(SENTENCES):
        a, b = one.row_tokens(r), together.row_tokens(r)
        assert a.shape == b.shape == (len(tokens), len(TAGSET))
        np.testing.assert_allclose(a, b, atol=1e-5)


# --- unknown words: spelling through character n-grams --------------------------------------------------


def test_unseen_words_get_vectors_from_their_spelling():
    with_chars = tagging_featurizer("bow")
    without = Featurizer(
        TASKS["tagging"],
        with_chars.model.model_copy(update={"char_ngrams": None}),
        with_chars.tokenizer,
        with_chars.vocab,
        TAGSET,
    )
    words = [(["zorbing", "zorbness"], ["NOUN", "NOUN"])]
    for featurizer, differ in [(with_chars, True), (without, False)]:
        model = seeded_model(featurizer)
        batch = tagging_batch(featurizer, words)
        assert batch.tokens[0].tolist() == [Vocabulary.unk_id] * 2  # both unknown to the vocabulary
        with torch.no_grad():
            vectors = embed_words(model.embedding, batch)  # (N, D): the two words
        assert (not torch.allclose(vectors[0], vectors[1])) == differ


SYLLABLES = [c + v for c in "bdfgklmnprstv" for v in "aeiou"]
SUFFIX_TAGS = {"ing": "VERB", "ness": "NOUN"}
SLOT_TEMPLATES = [
    ("we saw {} .", "PRON VERB {} ."),
    ("{} is fine .", "{} VERB ADJ ."),
    ("i like {} .", "PRON VERB {} ."),
]


def suffix_rows(stems: list[str], seed: int, capitalise: bool = False) -> list[list[str]]:
    """Every stem with both suffixes in every template: the context of the slot never tells the
    tag, only the word's ending does."""
    rng = random.Random(seed)
    rows = []
    for stem in stems:
        for suffix, tag in SUFFIX_TAGS.items():
            template, tags = rng.choice(SLOT_TEMPLATES)
            text = template.format(stem + suffix)
            if capitalise and not template.startswith("{") and rng.random() < 0.5:  # "We saw ...": a seen word
                text = text[0].upper() + text[1:]
            rows.append([text, tags.format(tag)])
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def suffix_run(tmp_path_factory):
    """A window tagger with character n-grams, trained on words ending in -ing (VERB) and -ness
    (NOUN); validated on stems it never saw."""
    root = tmp_path_factory.mktemp("suffix")
    rng = random.Random(0)
    stems = sorted({rng.choice(SYLLABLES) + rng.choice(SYLLABLES) for _ in range(100)})
    train_stems, valid_stems = stems[: len(stems) - 20], stems[len(stems) - 20 :]
    csvs = {
        "train": write_csv(root / "train.csv", ["text", "tags"], suffix_rows(train_stems, 1) * 2),
        "valid": write_csv(root / "valid.csv", ["text", "tags"], suffix_rows(valid_stems, 2, capitalise=True)),
    }
    sections = tagging_sections(
        {"type": "bow", "char_ngrams": [2, 4], "buckets": 5000, "window": 1}, optim={"lr": 0.03}, train={"epochs": 6}
    )
    config = config_from_dict(small_config_dict(csvs, root / "runs", **sections))
    return csvs, train(config, out=root / "run")


@pytest.mark.slow
def test_character_ngrams_tag_unseen_words_by_their_ending(suffix_run):
    csvs, result = suffix_run
    run = load_run(result.run_dir)
    assert "zorbing" not in run.featurizer.vocab and "zorbness" not in run.featurizer.vocab
    texts = ["we saw zorbing .", "we saw zorbness .", "i like blickness .", "blicking is fine ."]
    predicted = predict_texts(run, texts)
    assert [p["tags"] for p in predicted] == [
        ["PRON", "VERB", "VERB", "."],
        ["PRON", "VERB", "NOUN", "."],
        ["PRON", "VERB", "NOUN", "."],
        ["VERB", "VERB", "ADJ", "."],
    ]
    assert result.metrics["valid"]["unseen_accuracy"] >= 0.95


def test_unseen_accuracy_counts_exactly_the_words_outside_the_training_vocabulary(suffix_run):
    csvs, result = suffix_run
    train_words = {w.lower() for row in read_rows(csvs["train"]) for w in row["text"].split()}
    rows = read_rows(csvs["valid"])
    predicted = predict_texts(load_run(result.run_dir), [r["text"] for r in rows])
    unseen, correct, capitals = 0, 0, 0
    for row, prediction in zip(rows, predicted):
        for word, gold, tag in zip(row["text"].split(), row["tags"].split(), prediction["tags"]):
            capitals += word[0].isupper() and word.lower() in train_words  # "We": seen as "we"
            if word.lower() not in train_words:
                unseen += 1
                correct += gold == tag
    assert capitals > 0 and unseen == len(rows)  # one new word (the slot) per row, capitals aside
    valid = result.metrics["valid"]
    assert valid["unseen_tokens"] == unseen
    assert valid["unseen_accuracy"] == pytest.approx(correct / unseen)


# --- learning: the tag depends on the word and its left neighbour --------------------------------------

AMBIGUOUS = ["fish", "walk", "cook", "work", "play", "watch"]  # VERB after a pronoun or "to", NOUN after DET or ADJ
WORDS = {"PRON": ["we", "they", "i", "you"], "DET": ["the", "a", "this"], "ADJ": ["big", "old", "red"]}
CONTEXT_TEMPLATES = [
    "PRON *V DET *N",
    "DET *N is ADJ",
    "PRON like to *V DET ADJ *N",
    "PRON *V",
    "PRON want to *V",
    "DET ADJ *N is ADJ",
]


def context_rows(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    fixed = {"is": "VERB", "like": "VERB", "want": "VERB", "to": "PRT"}
    rows = []
    for _ in range(n):
        words, tags = [], []
        for slot in rng.choice(CONTEXT_TEMPLATES).split():
            if slot.startswith("*"):
                words.append(rng.choice(AMBIGUOUS))
                tags.append("VERB" if slot == "*V" else "NOUN")
            elif slot in WORDS:
                words.append(rng.choice(WORDS[slot]))
                tags.append(slot)
            else:
                words.append(slot)
                tags.append(fixed[slot])
        rows.append([" ".join(words), " ".join(tags)])
    return rows


@pytest.fixture(scope="module")
def context_csvs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("context")
    return {
        "train": write_csv(root / "train.csv", ["text", "tags"], context_rows(160, 1)),
        "valid": write_csv(root / "valid.csv", ["text", "tags"], context_rows(50, 2)),
    }


def ambiguous_pairs(path: Path) -> list[tuple[str, str]]:
    rows = read_rows(path)
    return [(w, t) for r in rows for w, t in zip(r["text"].split(), r["tags"].split()) if w in AMBIGUOUS]


def test_context_set_cannot_be_tagged_word_by_word(context_csvs):
    """The best tagger that ignores context (each word's most frequent training tag) stays far below 0.95."""
    by_word: dict[str, Counter] = {}
    for row in read_rows(context_csvs["train"]):
        for word, tag in zip(row["text"].split(), row["tags"].split()):
            by_word.setdefault(word, Counter())[tag] += 1
    pairs = [
        (w, t) for row in read_rows(context_csvs["valid"]) for w, t in zip(row["text"].split(), row["tags"].split())
    ]
    assert np.mean([by_word[w].most_common(1)[0][0] == t for w, t in pairs]) < 0.9
    ambiguous = ambiguous_pairs(context_csvs["valid"])
    assert len(ambiguous) > 50 and np.mean([by_word[w].most_common(1)[0][0] == t for w, t in ambiguous]) < 0.7


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, lr", [({"type": "bow", "window": 1}, 0.03), ({"type": "lstm"}, 0.02)], ids=["window", "lstm"]
)
def test_taggers_learn_tags_that_depend_on_the_left_neighbour(make_config, context_csvs, tmp_path, model, lr):
    config = make_config(context_csvs, **tagging_sections(model), optim={"lr": lr}, train={"epochs": 6})
    result = train(config, out=tmp_path / "run")
    assert result.metrics["valid"]["accuracy"] >= 0.95
    run = load_run(result.run_dir)
    # on the ambiguous words alone, recomputed from predictions
    rows = read_rows(context_csvs["valid"])
    predicted = predict_texts(run, [r["text"] for r in rows])
    hits = [
        p == t
        for r, pr in zip(rows, predicted)
        for w, t, p in zip(r["text"].split(), r["tags"].split(), pr["tags"])
        if w in AMBIGUOUS
    ]
    assert len(hits) == len(ambiguous_pairs(context_csvs["valid"])) and np.mean(hits) >= 0.95
    predicted = predict_texts(run, ["we fish the fish", "they like to cook a big cook"])
    assert predicted[0]["tags"] == ["PRON", "VERB", "DET", "NOUN"]
    assert predicted[1]["tags"] == ["PRON", "VERB", "PRT", "VERB", "DET", "ADJ", "NOUN"]


# --- tagging_metrics against hand computation and scikit-learn -------------------------------------------

LABELS = ["ADJ", "DET", "NOUN", "VERB", "X"]  # X never occurs, neither as truth nor as prediction
A, D, N, V = range(4)
#                  sentence 0         sentence 1   sentence 2             sentence 3
Y_TRUE = np.array([D, N, V, D, N, D, N, V, D, A, N, V, N, N, V, N])
Y_PRED = np.array([D, N, V, D, N, D, V, V, D, N, V, V, V, V, V, N])
UNSEEN = np.array([0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0], dtype=bool)
SENTENCE = np.repeat(np.arange(4), [5, 3, 6, 2])


def test_tagging_metrics_match_hand_computation_and_scikit_learn():
    m = tagging_metrics(Y_TRUE, Y_PRED, UNSEEN, SENTENCE, LABELS)
    assert m["accuracy"] == pytest.approx(11 / 16)
    precision, recall, f1, support = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=range(5), zero_division=0)
    for i, label in enumerate(LABELS):
        row = m["per_class"][label]
        assert row["precision"] == pytest.approx(precision[i])
        assert row["recall"] == pytest.approx(recall[i])
        assert row["f1"] == pytest.approx(f1[i])
        assert row["support"] == support[i]
    # by hand: NOUN is predicted 4 times, 3 rightly, of 7; VERB 8 times, 4 rightly, of 4
    noun, verb = m["per_class"]["NOUN"], m["per_class"]["VERB"]
    assert (noun["precision"], noun["recall"], noun["support"]) == pytest.approx((3 / 4, 3 / 7, 7))
    assert (verb["precision"], verb["recall"], verb["support"]) == pytest.approx((4 / 8, 1.0, 4))
    assert noun["f1"] == pytest.approx(2 * (3 / 4) * (3 / 7) / (3 / 4 + 3 / 7))
    assert m["per_class"]["X"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, labels=[A, D, N, V], average="macro"))  # X is absent
    # unseen: positions 4 (N->N right), 6 (N->V), 9 (A->N), 10 (N->V), 13 (N->V): 1 of 5 right
    assert m["unseen_tokens"] == 5
    assert m["unseen_accuracy"] == pytest.approx(1 / 5)
    assert m["exact_match"] == pytest.approx(2 / 4)  # sentences 0 and 3 are all right
    assert m["top_confusions"] == [
        {"true": "NOUN", "predicted": "VERB", "count": 4},
        {"true": "ADJ", "predicted": "NOUN", "count": 1},
    ]


def test_top_confusions_are_ordered_by_count_and_cut_to_the_limit():
    y_true = np.array([N] * 5 + [A] * 3 + [V] * 2 + [D] * 4)
    y_pred = np.array([V] * 5 + [N] * 3 + [N] * 1 + [V] + [D] * 4)  # N->V 5, A->N 3, V->N 1, V right once
    m = tagging_metrics(y_true, y_pred, np.zeros(len(y_true), bool), np.zeros(len(y_true), int), LABELS)
    counts = [(c["true"], c["predicted"], c["count"]) for c in m["top_confusions"]]
    assert counts == [("NOUN", "VERB", 5), ("ADJ", "NOUN", 3), ("VERB", "NOUN", 1)]
    top2 = tagging_metrics(
        y_true, y_pred, np.zeros(len(y_true), bool), np.zeros(len(y_true), int), LABELS, top_confusions=2
    )
    assert [(c["true"], c["predicted"]) for c in top2["top_confusions"]] == [("NOUN", "VERB"), ("ADJ", "NOUN")]
    assert m["unseen_accuracy"] is None and m["unseen_tokens"] == 0
    assert m["exact_match"] == 0.0  # a single sentence with mistakes


# --- training log: the tag loss of an epoch is a mean over tokens, as validation's is ---------------------


def test_train_tag_loss_is_the_token_mean_over_the_epoch():
    featurizer = tagging_featurizer("bow")
    model = seeded_model(featurizer)
    examples = [Example(list(t), list(g), i) for i, (t, g) in enumerate(SENTENCES)]
    items = featurizer.encode_all(examples, "test")
    objective = plain_objective(LOSSES["ce"](), TASKS["tagging"], len(TAGSET))
    expected = predict_items(model, items, TASKS["tagging"], 64, torch.device("cpu"), objective).loss  # token-weighted
    trainer = Trainer(
        model,
        objective,
        OptimConfig(name="sgd", lr=1e-12),
        TrainConfig(batch_size=1, device="cpu"),
        torch.device("cpu"),
    )
    record = trainer.train_epoch(items, 1)
    assert record["train_tag_loss"] == pytest.approx(expected, rel=1e-5)


# --- the CLI: train -> eval -> predict -----------------------------------------------------------------

NOUNS, VERBS = ["dog", "cat", "apple", "bird", "man", "girl"], ["ate", "saw", "liked", "took"]


def seed_rows(n: int, seed: int, nouns=NOUNS) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [
            rng.choice(["the", "a"]),
            rng.choice(nouns),
            rng.choice(VERBS),
            rng.choice(["the", "a"]),
            rng.choice(nouns),
        ]
        if rng.random() < 0.5:
            words[0] = words[0].capitalize()
        rows.append([" ".join(words), SEED_TAGS])
    return rows


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}\n{result.exception!r}"
    return result


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    try:
        stderr = result.stderr
    except ValueError:  # older Click mixes the streams
        stderr = result.output
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_tagging")
    csvs = {
        "train": write_csv(root / "train.csv", ["text", "tags"], [[SEED_TEXT, SEED_TAGS]] + seed_rows(60, 1)),
        "valid": write_csv(root / "valid.csv", ["text", "tags"], seed_rows(15, 2)),
    }
    config = root / "tagging.yaml"
    sections = tagging_sections({"type": "bow", "char_ngrams": [2, 4], "buckets": 2000, "window": 1})
    config.write_text(
        yaml.safe_dump(small_config_dict(csvs, root / "runs", **sections, train={"epochs": 5}), sort_keys=False)
    )
    run = root / "run"
    ok(invoke("train", "--config", config, "--out", run, "-q"))
    # held-out data with a noun the run never saw
    heldout = write_csv(root / "heldout.csv", ["text", "tags"], seed_rows(12, 3, nouns=NOUNS + ["book", "pear"]))
    return root, run, heldout


def test_cli_eval_json_reports_the_tagging_metrics(cli_run, tmp_path):
    root, run, heldout = cli_run
    metrics = json.loads(ok(invoke("eval", run, heldout, "--format", "json")).stdout)
    for key in ("accuracy", "unseen_accuracy", "exact_match", "per_class", "top_confusions"):
        assert key in metrics, key
    assert set(metrics["per_class"]) == {"DET", "NN", "V"}
    assert sum(c["support"] for c in metrics["per_class"].values()) == 12 * 5 == metrics["rows"] * 5
    rows = read_rows(heldout)
    new_words = sum(w in ("book", "pear") for r in rows for w in r["text"].split())
    assert metrics["unseen_tokens"] == new_words > 0
    # the same accuracy and exact match from the CLI's own predictions
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(r["text"] for r in rows) + "\n")
    predicted = [
        json.loads(line) for line in ok(invoke("predict", run, "--file", texts, "-f", "json")).stdout.splitlines()
    ]
    pairs = [(p["tags"], r["tags"].split()) for p, r in zip(predicted, rows)]
    assert metrics["accuracy"] == pytest.approx(np.mean([a == b for tags, gold in pairs for a, b in zip(tags, gold)]))
    assert metrics["exact_match"] == pytest.approx(np.mean([tags == gold for tags, gold in pairs]))
    table = ok(invoke("eval", run, heldout)).stdout  # the default table names the same metrics
    assert "unseen_accuracy" in table and "exact_match" in table and f"{metrics['accuracy']:.4f}" in table


def test_cli_predict_json_gives_one_line_of_aligned_tokens_tags_and_probabilities(cli_run):
    _, run, _ = cli_run
    lines = [
        line
        for line in ok(invoke("predict", run, "The dog ate the book", "-f", "json")).stdout.splitlines()
        if line.strip()
    ]
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["tokens"] == ["The", "dog", "ate", "the", "book"]
    assert len(result["tags"]) == len(result["probabilities"]) == 5
    assert result["tags"] == SEED_TAGS.split()
    assert all(1 / 3 < p <= 1 for p in result["probabilities"])  # the argmax of three tags


def test_cli_predict_table_shows_every_token(cli_run):
    _, run, _ = cli_run
    output = ok(invoke("predict", run, "The dog ate the book")).stdout
    for token in ["The", "dog", "ate", "the", "book", "DET", "NN", "V"]:
        assert token in output, token


def test_cli_predict_keeps_blank_lines_in_place(cli_run, tmp_path):
    _, run, _ = cli_run
    path = tmp_path / "lines.txt"
    path.write_text(f"{SEED_TEXT}\n \nThe dog ate the book\n")
    results = [
        json.loads(line) for line in ok(invoke("predict", run, "--file", path, "-f", "json")).stdout.splitlines()
    ]
    assert [r["line"] for r in results] == [1, 2, 3]
    assert results[1] == {"line": 2, "error": "empty line"}
    assert results[0]["tags"] == SEED_TAGS.split() and results[2]["tokens"] == ["The", "dog", "ate", "the", "book"]
    table = ok(invoke("predict", run, "--file", path)).stdout
    assert table.index("apple") < table.index("line 2: empty line") < table.index("book")


@pytest.mark.parametrize(
    "text, tags, fragment",
    [
        ("the cat saw a bird", "DET NN ADV DET NN", "tag 'ADV' was never seen in training"),
        ("the cat saw a bird", "DET NN V DET", "4 tags for 5 tokens"),
    ],
)
def test_cli_eval_bad_tags_are_one_line_errors_naming_file_and_row(cli_run, tmp_path, text, tags, fragment):
    _, run, _ = cli_run
    path = write_csv(tmp_path / "bad.csv", ["text", "tags"], [[SEED_TEXT, SEED_TAGS], [text, tags]])
    line = error_line(invoke("eval", run, path, "-f", "json"))
    assert str(path) in line and "row 2" in line and fragment in line
