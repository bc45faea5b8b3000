"""Rationale supervision: the word-level loss against hand-written loops (values and gradients), word
scores as part of the sentence model, pos_weight 'auto', what word targets do to training, bad
word-target cells, and lexicons.

Every reference value here is computed without the code under test: per-word losses from
log-sigmoid / log-sum-exp in plain Python, gradients by one backward() per word, target counts by
reading the CSVs with the standard library. (conftest keeps torch at one thread; runs use threads: 1.)
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from typer.testing import CliRunner

from conftest import FILLER, NEGATIVE, POSITIVE, collate, deep_merge, small_config_dict, write_csv
from textcls.checkpoint import load_run
from textcls.cli import app
from textcls.config import DataConfig, LossConfig, config_from_dict, model_config
from textcls.data import Tokenizer, apply_lexicon, held_out, load_datasets, read_examples, read_lexicon
from textcls.encoded import IGNORE
from textcls.encoded import EncodedRow as Encoded
from textcls.errors import DataError
from textcls.losses import LOSSES
from textcls.losses.objective import build_objective
from textcls.losses.rationale import rationale_loss
from textcls.models import build_model
from textcls.models.base import ModelOutput
from textcls.predict import evaluate_file, predict_texts
from textcls.tasks import TASKS, task_of
from textcls.train import train

# =====================================================================================================
# 1. The batched, masked loss equals a loop over each sentence's labelled words
# =====================================================================================================

LENGTHS = [6, 3, 5, 2, 4]  # real tokens per row; the rest of each row is padding
T = max(LENGTHS)
# Targets of the real tokens (None = unlabelled). The fourth row has no labelled word; rows differ in
# how many labelled words they have, so "mean per sentence" and "mean per word" differ.
BINARY_TARGETS = [[1, None, 0, 1, None, 1], [None, 0, None], [0, 0, 1, None, 1], [None, None], [1, None, None, None]]
MULTI_TARGETS = [[2, None, 0, 1, None, 2], [None, 1, None], [0, 0, 2, None, 1], [None, None], [1, None, None, None]]


def target_tensor(rows: list[list[int | None]]) -> torch.Tensor:
    out = torch.full((len(rows), T), IGNORE, dtype=torch.long)  # padding: IGNORE
    for b, row in enumerate(rows):
        for t, y in enumerate(row):
            if y is not None:
                out[b, t] = y
    return out


def random_scores(classes: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(len(LENGTHS), T, classes, generator=g) * 2
    for b, n in enumerate(LENGTHS):
        scores[b, n:] = 40.0  # padding holds extreme scores: any leak would show
    return scores


def log_sigmoid(x: float) -> float:
    return x - math.log1p(math.exp(x)) if x < 0 else -math.log1p(math.exp(-x))


def word_bce(x: float, y: int, pos_weight: float | None) -> float:
    """-(w * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x))), with log(1 - sigmoid(x)) = log sigmoid(-x)."""
    w = 1.0 if pos_weight is None else pos_weight
    return -(w * y * log_sigmoid(x) + (1 - y) * log_sigmoid(-x))


def word_ce(scores: list[float], y: int) -> float:
    top = max(scores)
    log_z = top + math.log(sum(math.exp(s - top) for s in scores))
    return log_z - scores[y]


def labelled_words(targets: list[list[int | None]]) -> list[tuple[int, int, int]]:
    return [(b, t, y) for b, row in enumerate(targets) for t, y in enumerate(row) if y is not None]


def word_weights(targets: list[list[int | None]], normalize: str) -> dict[tuple[int, int], float]:
    """What each labelled word counts for in the mean: 1 / (sentences with labelled words * its
    sentence's labelled words) for "sentence", 1 / (labelled words) for "token"."""
    words = labelled_words(targets)
    per_row = Counter(b for b, _, _ in words)
    if normalize == "token":
        return {(b, t): 1 / len(words) for b, t, _ in words}
    return {(b, t): 1 / (len(per_row) * per_row[b]) for b, t, _ in words}


def hand_loss(scores: torch.Tensor, targets: list[list[int | None]], pos_weight, normalize: str) -> float:
    s = scores.tolist()
    per_sentence, all_words = [], []
    for b, row in enumerate(targets):
        losses = []
        for t, y in enumerate(row):
            if y is None:
                continue
            losses.append(word_bce(s[b][t][0], y, pos_weight) if len(s[b][t]) == 1 else word_ce(s[b][t], y))
        if losses:
            per_sentence.append(sum(losses) / len(losses))
            all_words += losses
    if normalize == "token":
        return sum(all_words) / len(all_words)
    return sum(per_sentence) / len(per_sentence)


@pytest.mark.parametrize("normalize", ["sentence", "token"])
@pytest.mark.parametrize("pos_weight", [None, 1.0, 3.5, 0.25])
def test_binary_loss_equals_loop_over_labelled_words(normalize, pos_weight):
    scores = random_scores(1)
    value = rationale_loss(scores, target_tensor(BINARY_TARGETS), pos_weight, normalize)
    assert value.dim() == 0
    assert float(value) == pytest.approx(hand_loss(scores, BINARY_TARGETS, pos_weight, normalize), rel=1e-6)


def test_pos_weight_and_normalisation_matter_on_this_batch():
    """Guards the cases above: on this batch the options give different values."""
    scores, targets = random_scores(1), target_tensor(BINARY_TARGETS)
    values = {
        (pw, n): float(rationale_loss(scores, targets, pw, n)) for pw in [None, 3.5] for n in ["sentence", "token"]
    }
    assert len({round(v, 6) for v in values.values()}) == 4
    assert values[(None, "sentence")] == pytest.approx(float(rationale_loss(scores, targets, 1.0, "sentence")))


@pytest.mark.parametrize("normalize", ["sentence", "token"])
def test_multiclass_loss_equals_loop_of_cross_entropy(normalize):
    scores = random_scores(3, seed=1)
    value = rationale_loss(scores, target_tensor(MULTI_TARGETS), None, normalize)
    assert float(value) == pytest.approx(hand_loss(scores, MULTI_TARGETS, None, normalize), rel=1e-6)
    # pos_weight is a one-logit notion: with class scores it changes nothing
    assert float(rationale_loss(scores, target_tensor(MULTI_TARGETS), 3.5, normalize)) == pytest.approx(
        float(value), rel=1e-6
    )


def test_no_labelled_word_gives_zero_with_zero_gradients():
    scores = random_scores(1).requires_grad_()
    targets = torch.full((len(LENGTHS), T), IGNORE)
    value = rationale_loss(scores, targets, 2.0, "sentence")
    assert value.item() == 0.0
    value.backward()
    assert scores.grad is not None and not scores.grad.any()


def test_binary_loss_keeps_the_dtype_of_the_scores():
    scores = random_scores(1).double()
    value = rationale_loss(scores, target_tensor(BINARY_TARGETS), 2.0, "sentence")
    assert value.dtype == torch.float64
    assert float(value) == pytest.approx(hand_loss(scores, BINARY_TARGETS, 2.0, "sentence"), rel=1e-12)


# =====================================================================================================
# 2. Its gradients equal those of one backward() per word
# =====================================================================================================


def naive_word_loss(word_scores: torch.Tensor, y: int, pos_weight) -> torch.Tensor:
    """One word's loss as a differentiable torch expression, written from log-sigmoid / log-softmax."""
    if word_scores.numel() == 1:
        w = 1.0 if pos_weight is None else pos_weight
        x = word_scores[0]
        return -(w * y * F.logsigmoid(x) + (1 - y) * F.logsigmoid(-x))
    return -(word_scores[y] - torch.logsumexp(word_scores, 0))


@pytest.mark.parametrize("classes, targets", [(1, BINARY_TARGETS), (3, MULTI_TARGETS)])
@pytest.mark.parametrize("normalize", ["sentence", "token"])
def test_gradient_wrt_token_scores_equals_per_word_backward(classes, targets, normalize):
    pos_weight = 2.5 if classes == 1 else None
    batched = random_scores(classes, seed=2).requires_grad_()
    rationale_loss(batched, target_tensor(targets), pos_weight, normalize).backward()

    naive = random_scores(classes, seed=2).requires_grad_()
    weights = word_weights(targets, normalize)
    for b, t, y in labelled_words(targets):
        (weights[(b, t)] * naive_word_loss(naive[b, t], y, pos_weight)).backward(retain_graph=True)
    assert torch.allclose(batched.grad, naive.grad, rtol=1e-5, atol=1e-7)
    for b, n in enumerate(LENGTHS):
        assert not batched.grad[b, n:].any()  # padding gets nothing
    unlabelled = target_tensor(targets) == IGNORE
    assert not batched.grad[unlabelled].any()


def encoded_batch(targets: list[list[int | None]], vocab_size: int = 12, seed: int = 0):
    rng = random.Random(seed)
    items = []
    for b, (n, row) in enumerate(zip(LENGTHS, targets)):
        ids = np.array([rng.randrange(2, vocab_size) for _ in range(n)], dtype=np.int64)
        tgt = np.array([IGNORE if y is None else y for y in row], dtype=np.int64)
        items.append(Encoded(ids, b % 2, tgt if (tgt != IGNORE).any() else None))
    return collate(items, "classification")


def small_model(kind: str, outputs: int, sparse: bool = False, **model):
    torch.manual_seed(0)
    cfg = model_config(type=kind, embedding_dim=6, hidden_dim=5, dropout=0.0, sparse=sparse, **model)
    return build_model(cfg, TASKS["classification"], 12, outputs)


@pytest.mark.parametrize("kind", ["bow", "lstm"])
@pytest.mark.parametrize("classes, targets", [(1, BINARY_TARGETS), (3, MULTI_TARGETS)])
@pytest.mark.parametrize("normalize", ["sentence", "token"])
def test_gradient_wrt_embedding_equals_per_word_backward(kind, classes, targets, normalize):
    """Through a model: the embedding (and every other parameter) feeding the token scores gets the
    same gradient from the batched loss as from one backward() per labelled word."""
    pos_weight = 0.4 if classes == 1 else None
    batch = encoded_batch(targets)
    model = small_model(kind, classes)

    rationale_loss(model(batch).tokens, batch.targets, pos_weight, normalize).backward()
    batched = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)

    tokens = model(batch).tokens
    weights = word_weights(targets, normalize)
    for b, t, y in labelled_words(targets):
        (weights[(b, t)] * naive_word_loss(tokens[b, t], y, pos_weight)).backward(retain_graph=True)
    naive = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}

    assert "embedding.weight" in batched and batched["embedding.weight"].abs().sum() > 0
    assert set(batched) == set(naive)
    for name in batched:
        assert torch.allclose(batched[name], naive[name], rtol=1e-5, atol=1e-7), name


# =====================================================================================================
# 3. Word scores are part of the sentence model
# =====================================================================================================


def dense(grad: torch.Tensor | None) -> torch.Tensor | None:
    return grad.to_dense() if grad is not None and grad.is_sparse else grad


@pytest.mark.parametrize("kind", ["bow", "lstm"])
def test_rationale_loss_alone_trains_the_shared_embedding(kind):
    """No sentence loss at all: the word loss on the model's token scores still reaches the embedding
    that the sentence prediction uses (and, for the LSTM, the encoder), sparse gradients included."""
    batch = encoded_batch(BINARY_TARGETS)
    model = small_model(kind, 1, sparse=True)
    output = model(batch)
    rationale_loss(output.tokens, batch.targets, 1.0, "sentence").backward()

    grad = dense(model.embedding.weight.grad)
    assert grad is not None
    labelled_ids = {int(batch.tokens[b, t]) for b, t, _ in labelled_words(BINARY_TARGETS)}
    for i in labelled_ids:
        assert grad[i].abs().sum() > 0, f"embedding row {i} of a labelled word got no gradient"
    assert not grad[0].any()  # padding row
    assert model.token_head.weight.grad.abs().sum() > 0
    if kind == "lstm":
        encoder = dict(model.encoder.named_parameters())
        assert encoder and all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.values()), [
            n for n, p in encoder.items() if p.grad is None or not p.grad.abs().sum() > 0
        ]
    # the sentence prediction reads the same embedding rows
    model.zero_grad(set_to_none=True)
    model(batch).sentence.sum().backward()
    sentence_grad = dense(model.embedding.weight.grad)
    assert all(sentence_grad[i].abs().sum() > 0 for i in labelled_ids)


def test_bow_sentence_is_mean_token_score_plus_bias():
    batch = encoded_batch(BINARY_TARGETS)
    for classes in (1, 3):
        model = small_model("bow", classes)
        with torch.no_grad():
            model.bias.copy_(torch.linspace(-0.7, 0.4, classes))
        out = model(batch)
        for b, n in enumerate(LENGTHS):
            expected = out.tokens[b, :n].mean(0) + model.bias
            assert torch.allclose(out.sentence[b], expected, atol=1e-6)


def test_bow_sentence_logit_is_the_mean_token_score_plus_bias():
    """The bag of words computes its sentence logits from pooled vectors and its token scores apart:
    the two must agree, including under a gradient (d sentence / d each embedding row)."""
    batch = encoded_batch(BINARY_TARGETS)
    model = small_model("bow", 1)
    out = model(batch)
    real = batch.mask
    by_tokens = (out.tokens[..., 0] * real).sum(1) / real.sum(1) + model.bias[0]
    torch.testing.assert_close(out.sentence[:, 0], by_tokens, atol=1e-6, rtol=1e-5)
    assert not out.tokens.detach()[~real].any()  # padding carries no evidence
    grad_sentence = torch.autograd.grad(out.sentence.sum(), model.embedding.weight)[0].to_dense()
    grad_tokens = torch.autograd.grad(by_tokens.sum(), model.embedding.weight)[0].to_dense()
    torch.testing.assert_close(grad_sentence, grad_tokens, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind, pooling", [("lstm", "attention"), ("lstm", "mean")])
def test_sentence_logits_are_a_weighting_of_token_scores(kind, pooling):
    """d sentence / d token_scores (captured at the token head's output) is a set of weights that sum
    to 1 over the real tokens and are 0 on padding; shifting every real token's score by c shifts the
    sentence logit by c."""
    batch = encoded_batch(BINARY_TARGETS)
    model = small_model(kind, 1, pooling=pooling)
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["tokens"] = output

    handle = model.token_head.register_forward_hook(keep)
    base = model(batch)
    base.sentence.sum().backward()
    handle.remove()
    weights = captured["tokens"].grad[..., 0]  # (B, T)
    real = batch.mask
    assert torch.allclose((weights * real).sum(1), torch.ones(len(LENGTHS)), atol=1e-6)
    assert (weights >= 0).all()
    if kind == "bow":  # it sums over every position; padding adds nothing because its scores are exactly 0
        assert not base.tokens.detach()[~real].any()
    else:
        assert not weights[~real].any()
    if pooling == "mean" or kind == "bow":
        expected = 1 / real.sum(1, keepdim=True).float()
        assert torch.allclose(weights[real], expected.expand_as(weights)[real], atol=1e-6)

    shift = 0.75
    handle = model.token_head.register_forward_hook(lambda m, i, o: o + shift * batch.mask.unsqueeze(-1))
    with torch.no_grad():
        shifted = model(batch)
    handle.remove()
    assert torch.allclose(shifted.sentence, base.sentence.detach() + shift, atol=1e-5)


def test_objective_adds_weighted_rationale_loss():
    batch = encoded_batch(BINARY_TARGETS)
    scores = random_scores(1)
    sentence = torch.tensor([[0.3], [-1.2], [2.0], [0.1], [-0.4]])
    cfg = LossConfig(rationale={"weight": 0.7, "pos_weight": 2.0, "normalize": "token"})
    objective = build_objective(
        cfg, TASKS["classification"], LOSSES["bce"](), 2, Counter(), Counter({1: 5, 0: 3}), torch.nn.Module()
    )
    assert objective.rationale_pos_weight == 2.0  # a number is used as it is; auto would give 3/5
    total, parts = objective(ModelOutput(sentence, scores), batch)
    expected_r = hand_loss(scores, BINARY_TARGETS, 2.0, "token")
    assert float(parts["rationale_loss"]) == pytest.approx(expected_r, rel=1e-6)
    assert float(total) == pytest.approx(float(parts["sentence_loss"]) + 0.7 * expected_r, rel=1e-6)


# =====================================================================================================
# 4. pos_weight: auto
# =====================================================================================================


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


TARGET_CLASS = {"1": 1, "+1": 1, "pos": 1, "0": 0, "neg": 0}  # the spellings the rows below use, labels neg/pos


def count_targets(train_csv: Path, lexicon: dict[str, int], column: str = "rationale") -> Counter:
    """Word targets of the training rows, counted by hand: each `word:t` pair of a row's cell targets
    every occurrence of the word in the row; lexicon words fill the positions the cell left open."""
    counts = Counter()
    for row in csv_rows(train_csv):
        words = row["text"].lower().split()
        cell = dict(pair.rsplit(":", 1) for pair in row.get(column, "").split())
        for word in words:
            if word in cell:
                counts[TARGET_CLASS[cell[word]]] += 1
            elif word in lexicon:
                counts[lexicon[word]] += 1
    return counts


def rationale_config(root: Path, train_csv: Path, valid_csv: Path, **sections):
    base = small_config_dict({"train": train_csv, "valid": valid_csv}, root / "runs")
    return config_from_dict(deep_merge(base, sections))


def test_auto_pos_weight_is_negatives_over_positives_of_training_targets(tmp_path):
    train_csv = write_csv(
        tmp_path / "train.csv",
        ["text", "label", "rationale"],
        [
            ["good good film", "pos", "good:1"],  # both occurrences: 2 positives
            ["bad film and plot", "neg", "bad:0 film:0"],  # 2 negatives
            ["great plot indeed", "pos", ""],  # lexicon: great 1
            ["dull great film", "neg", "great:0"],  # the cell beats the lexicon: 2 negatives
            ["awful awful story", "neg", "story:neg"],  # lexicon awful 0 twice, story: 3 negatives
            ["lovely story", "pos", "lovely:pos"],  # 1 positive
            ["plain film", "pos", ""],  # nothing
            ["superb and great", "pos", "superb:+1"],  # 2 positives
        ],
    )
    # Validation targets are all negative: counting them would change the weight.
    valid_csv = write_csv(
        tmp_path / "valid.csv",
        ["text", "label", "rationale"],
        [["bad film", "neg", "bad:0 film:0"], ["dull awful plot", "neg", "plot:0"], ["good film", "pos", "film:0"]],
    )
    lexicon = write_csv(tmp_path / "lex.csv", ["word", "label"], [["great", "1"], ["dull", "0"], ["awful", "0"]])
    cfg = rationale_config(
        tmp_path,
        train_csv,
        valid_csv,
        train={"epochs": 1},
        data={"rationale_column": "rationale", "lexicon": str(lexicon)},
        loss={"rationale": {"weight": 1.0, "pos_weight": "auto"}},
    )
    result = train(cfg, out=tmp_path / "run")

    counts = count_targets(train_csv, {"great": 1, "dull": 0, "awful": 0})
    assert counts == Counter({1: 6, 0: 7})  # the hand count itself, checked by eye against the rows above
    info = json.loads((result.run_dir / "model.json").read_text())
    assert info["rationale_pos_weight"] == pytest.approx(counts[0] / counts[1])


def test_auto_pos_weight_without_word_targets_is_none(tmp_path, sentiment_csvs):
    cfg = rationale_config(
        tmp_path,
        sentiment_csvs["train"],
        sentiment_csvs["valid"],
        train={"epochs": 1},
        loss={"rationale": {"weight": 1.0}},
    )
    info = json.loads((train(cfg, out=tmp_path / "run").run_dir / "model.json").read_text())
    assert info["rationale_pos_weight"] is None


# An imbalanced set: ~92% of word targets are positive. "p" words decide the label and are positive
# lexicon words; "x" words are positive lexicon words found in both classes. The "z" words appear
# equally in both classes (so the sentence labels say nothing about them) and their annotations
# disagree: 70% of their occurrences are marked 1, 30% marked 0. With consistent per-word targets a
# model with a vector per word fits every word whatever the weighting (pos_weight then changes
# nothing); where the targets overlap, the weighting decides the sign: the pos_weight=1 optimum is
# logit(0.7) > 0, the balanced one log(0.7 * pw / 0.3) < 0 for pw = negatives / positives ~ 0.08.
P_WORDS = [f"p{i}" for i in range(8)]
N_WORDS = [f"n{i}" for i in range(8)]
X_WORDS = [f"x{i}" for i in range(6)]
Z_WORDS = ["z0", "z1", "z2", "z3"]
FILL = [f"w{i}" for i in range(20)]
Z_SHARE = 0.7


def imbalanced_rows(n: int, seed: int, share: float = Z_SHARE) -> list[list[str]]:
    """Rows whose z word is marked 1 in exactly `share` of each z word's occurrences per class (in turn)."""
    rng = random.Random(seed)
    seen = Counter()
    rows = []
    for i in range(n):
        label = ["neg", "pos"][i % 2]
        z = Z_WORDS[(i // 2) % len(Z_WORDS)]
        words = (
            rng.sample(P_WORDS if label == "pos" else N_WORDS, 2)
            + rng.sample(X_WORDS, 2)
            + rng.choices(FILL, k=rng.randint(3, 6))
            + [z]
        )
        rng.shuffle(words)
        k = seen[(z, label)]
        seen[(z, label)] += 1
        target = int((k % 10) < share * 10)
        rows.append([" ".join(words), label, f"{z}:{target}"])
    return rows


@pytest.mark.slow
def test_auto_pos_weight_scores_minority_targets_below_zero(tmp_path):
    train_rows = imbalanced_rows(240, 1)  # 30 rows per z word and class: exactly 70% marked 1
    train_csv = write_csv(tmp_path / "train.csv", ["text", "label", "rationale"], train_rows)
    valid_csv = write_csv(tmp_path / "valid.csv", ["text", "label", "rationale"], imbalanced_rows(60, 2))
    lexicon = {w: 1 for w in P_WORDS + X_WORDS}
    lexicon_csv = write_csv(tmp_path / "lex.csv", ["word", "label"], [[w, t] for w, t in lexicon.items()])
    counts = count_targets(train_csv, lexicon)
    assert 0.9 < counts[1] / (counts[0] + counts[1]) < 0.95  # ~92% positive targets

    below_zero, positive_ok, weights = {}, {}, {}
    for pos_weight in ["auto", 1.0]:
        cfg = rationale_config(
            tmp_path,
            train_csv,
            valid_csv,
            train={"epochs": 10},
            data={"rationale_column": "rationale", "lexicon": str(lexicon_csv)},
            optim={"lr": 0.01},
            loss={"rationale": {"weight": 1.0, "pos_weight": pos_weight}},
        )
        result = train(cfg, out=tmp_path / f"run-{pos_weight}")
        weights[pos_weight] = json.loads((result.run_dir / "model.json").read_text())["rationale_pos_weight"]
        assert result.metrics["valid"]["accuracy"] >= 0.95
        run = load_run(result.run_dir)
        negative_scores, p_scores = [], []
        for row, prediction in zip(train_rows, predict_texts(run, [r[0] for r in train_rows])):
            z, target = row[2].split(":")
            for token, score in zip(prediction["tokens"], prediction["token_scores"]):  # one logit: signed score
                if token == z and target == "0":
                    negative_scores.append(score)
                elif token in P_WORDS:
                    p_scores.append(score)
        below_zero[pos_weight] = np.mean(np.array(negative_scores) < 0)
        positive_ok[pos_weight] = np.mean(np.array(p_scores) > 0)

    assert weights["auto"] == pytest.approx(counts[0] / counts[1])
    assert weights[1.0] == 1.0
    assert below_zero["auto"] >= 0.9, below_zero
    assert below_zero[1.0] <= 0.1, below_zero
    assert positive_ok["auto"] == positive_ok[1.0] == 1.0  # words the targets agree on stay positive


# =====================================================================================================
# 5. Word targets make the word scores point at the true rationale
# =====================================================================================================

# Each sentence: two polarity words of its class, in 70% of sentences one polarity word of the other
# class, and 4-8 of 30 filler words. The label is the majority polarity, so the true rationale of a
# sentence is its two majority words. Training gives word targets only for half the polarity words
# (GIVEN); evaluation uses a lexicon of all sixteen, on new sentences.
GIVEN = set(POSITIVE[:4] + NEGATIVE[:4])
FILL30 = [f"f{i:02d}" for i in range(30)]


def rationale_rows(n: int, seed: int, with_targets: bool) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ["neg", "pos"][i % 2]
        same, other = (POSITIVE, NEGATIVE) if label == "pos" else (NEGATIVE, POSITIVE)
        words = rng.sample(same, 2) + rng.choices(FILL30, k=rng.randint(4, 8))
        if rng.random() < 0.7:
            words.append(rng.choice(other))
        rng.shuffle(words)
        cell = " ".join(f"{w}:{int(w in POSITIVE)}" for w in dict.fromkeys(words) if w in GIVEN) if with_targets else ""
        rows.append([" ".join(words), label, cell])
    return rows


@pytest.mark.slow
def test_word_targets_raise_evidence_auprc_on_unseen_targets(tmp_path):
    """A bidirectional LSTM's token scores are contextual: trained on sentence labels only, every
    position learns the sentence's polarity, fillers and the minority word included. Word targets for
    half the polarity words (lambda = 1) make the scores point at the words that carry the label.

    Measured with ERASER evidence AUPRC (micro): all tokens of each validation sentence ranked by
    their evidence for the predicted class, against the gold rationale (the polarity words that
    support the gold label; fillers and the minority word are not). Word-polarity AUPRC only ranks
    labelled polarity words against each other, so it says nothing about fillers.
    The gold targets come from a lexicon of all sixteen polarity words, half of which were never
    given in training, on sentences never seen in training."""
    header = ["text", "label", "rationale"]
    train_csv = write_csv(tmp_path / "train.csv", header, rationale_rows(200, 1, with_targets=True))
    valid_csv = write_csv(tmp_path / "valid.csv", header, rationale_rows(100, 2, with_targets=False))
    every_word = write_csv(
        tmp_path / "lex_all.csv", ["word", "label"], [[w, 1] for w in POSITIVE] + [[w, 0] for w in NEGATIVE]
    )
    unseen_words = write_csv(
        tmp_path / "lex_unseen.csv",
        ["word", "label"],
        [[w, int(w in POSITIVE)] for w in POSITIVE + NEGATIVE if w not in GIVEN],
    )
    accuracy, evidence, polarity_unseen = {}, {}, {}
    for weight in [0.0, 1.0]:
        cfg = rationale_config(
            tmp_path,
            train_csv,
            valid_csv,
            model={"type": "lstm"},
            optim={"lr": 0.01},
            train={"epochs": 10},
            data={"rationale_column": "rationale"},
            loss={"rationale": {"weight": weight}},
        )
        result = train(cfg, out=tmp_path / f"run-{weight}")
        accuracy[weight] = result.metrics["valid"]["accuracy"]
        run = load_run(result.run_dir)
        on_all = evaluate_file(run, valid_csv, lexicon=every_word, with_faithfulness=False)["rationale"]
        on_unseen = evaluate_file(run, valid_csv, lexicon=unseen_words, with_faithfulness=False)["rationale"]
        assert on_all["word_polarity"]["words"] > on_unseen["word_polarity"]["words"] > 0
        evidence[weight] = on_all["evidence"]["auprc_micro"]
        polarity_unseen[weight] = on_unseen["word_polarity"]["auprc"]

    assert evidence[1.0] >= evidence[0.0] + 0.15, evidence
    assert accuracy[1.0] >= accuracy[0.0] - 0.01, accuracy
    # the words never given as targets are not scored worse either
    assert polarity_unseen[1.0] >= polarity_unseen[0.0], polarity_unseen


# =====================================================================================================
# 6. Bad word-target cells: one line naming the file and the row
# =====================================================================================================

BAD_CELLS = [
    ("good:maybe", "unknown word target 'maybe'"),
    ("good", "malformed pair 'good'"),
    (":1", "malformed pair ':1'"),
    ("good:", "malformed pair 'good:'"),
    ("awful:0", "word 'awful' is not among the row's tokens"),
]


def bad_cell_csvs(root: Path, cell: str) -> tuple[Path, Path]:
    rows = [
        ["good film", "pos", "good:1"],
        ["bad plot", "neg", ""],
        ["a good story", "pos", cell],
        ["dull film", "neg", "dull:0"],
    ]
    train_csv = write_csv(root / "train.csv", ["text", "label", "rationale"], rows)
    valid_csv = write_csv(root / "valid.csv", ["text", "label", "rationale"], rows[:2] + rows[3:])
    return train_csv, valid_csv


@pytest.mark.parametrize("cell, fragment", BAD_CELLS)
def test_bad_word_target_is_a_one_line_data_error(tmp_path, cell, fragment):
    train_csv, valid_csv = bad_cell_csvs(tmp_path, cell)
    cfg = rationale_config(
        tmp_path, train_csv, valid_csv, data={"rationale_column": "rationale"}, loss={"rationale": {"weight": 1.0}}
    )
    with pytest.raises(DataError) as info:
        train(cfg, out=tmp_path / "run")
    message = str(info.value)
    assert "\n" not in message
    assert str(train_csv) in message and "row 3" in message and fragment in message, message
    assert not (tmp_path / "run").exists()  # nothing written for bad input


@pytest.mark.parametrize("cell, fragment", BAD_CELLS)
def test_bad_word_target_through_the_cli(tmp_path, cell, fragment):
    train_csv, valid_csv = bad_cell_csvs(tmp_path, cell)
    raw = small_config_dict(
        {"train": train_csv, "valid": valid_csv},
        tmp_path / "runs",
        data={"rationale_column": "rationale"},
        loss={"rationale": {"weight": 1.0}},
    )
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    try:
        stderr = result.stderr
    except ValueError:  # older Click mixes stderr into output
        stderr = result.output
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert str(train_csv) in lines[0] and "row 3" in lines[0] and fragment in lines[0], lines[0]
    assert not (tmp_path / "run").exists()


def test_bad_cell_in_the_validation_file_names_that_file(tmp_path):
    train_csv, _ = bad_cell_csvs(tmp_path, "good:1")
    valid_csv = write_csv(
        tmp_path / "v.csv", ["text", "label", "rationale"], [["good film", "pos", ""], ["bad plot", "neg", "bad"]]
    )
    cfg = rationale_config(tmp_path, train_csv, valid_csv, data={"rationale_column": "rationale"})
    with pytest.raises(DataError, match=r"v\.csv, row 2, column 'rationale': malformed pair 'bad'"):
        train(cfg, out=tmp_path / "run")


def test_multiclass_word_targets_must_name_a_class(tmp_path):
    rows = [["good film", "pos", "good:pos"], ["plain film", "neu", "plain:neu"], ["bad film", "neg", "bad:1"]]
    train_csv = write_csv(tmp_path / "t.csv", ["text", "label", "rationale"], rows)
    cfg = rationale_config(tmp_path, train_csv, train_csv, data={"rationale_column": "rationale"})
    with pytest.raises(DataError) as info:
        train(cfg, out=tmp_path / "run")
    assert "row 3" in str(info.value) and "unknown word target '1'" in str(info.value)
    assert "(or 1/0" not in str(info.value)  # the binary aliases are not offered for three classes


def test_word_target_beyond_max_length_is_dropped_not_an_error(tmp_path):
    path = write_csv(
        tmp_path / "t.csv",
        ["text", "label", "rationale"],
        [["good film indeed , but awful ending", "pos", "good:1 awful:0"]],
    )
    cfg = DataConfig(train=str(path), rationale_column="rationale", max_length=3)
    examples = read_examples(path, cfg, TASKS["classification"], Tokenizer(max_length=3))
    assert examples[0].tokens == ["good", "film", "indeed"]
    assert examples[0].word_targets == {0: "1"}


def test_bad_lexicon_label_names_the_lexicon(tmp_path):
    rows = [["good film", "pos", ""], ["bad film", "neg", ""], ["good plot", "pos", ""], ["bad plot", "neg", ""]]
    train_csv = write_csv(tmp_path / "t.csv", ["text", "label", "rationale"], rows)
    lexicon = write_csv(tmp_path / "lex.csv", ["word", "label"], [["good", "1"], ["bad", "maybe"]])
    cfg = rationale_config(tmp_path, train_csv, train_csv, data={"lexicon": str(lexicon)})
    with pytest.raises(DataError) as info:
        train(cfg, out=tmp_path / "run")
    assert str(lexicon) in str(info.value) and "maybe" in str(info.value)


# =====================================================================================================
# 7. Lexicons
# =====================================================================================================


def test_score_lexicon_uses_the_threshold(tmp_path):
    path = write_csv(
        tmp_path / "lex.csv",
        ["word", "score"],
        [
            ["Superb", "3.2"],
            ["good", "1.0"],
            ["fine", "0.99"],
            ["meh", "0"],
            ["odd", "-0.99"],
            ["poor", "-1.0"],
            ["awful", "-2.5"],
        ],
    )
    assert read_lexicon(path, threshold=1.0, lowercase=True) == {"superb": "1", "good": "1", "poor": "0", "awful": "0"}
    assert read_lexicon(path, threshold=0.5, lowercase=False) == {
        "Superb": "1",
        "good": "1",
        "fine": "1",
        "odd": "0",
        "poor": "0",
        "awful": "0",
    }


def test_label_lexicon_keeps_labels(tmp_path):
    path = write_csv(
        tmp_path / "lex.csv", ["word", "label"], [["Good", "pos"], ["bad", " neg "], ["meh", ""], ["nice", "1"]]
    )
    assert read_lexicon(path, threshold=0.0, lowercase=True) == {"good": "pos", "bad": "neg", "nice": "1"}


def test_bad_score_names_lexicon_row(tmp_path):
    path = write_csv(tmp_path / "lex.csv", ["word", "score"], [["good", "1"], ["bad", "very"]])
    with pytest.raises(DataError, match=r"lex\.csv, row 2, column 'score': 'very' is not a number"):
        read_lexicon(path, 1.0, True)


def test_rationale_column_takes_precedence_over_lexicon(tmp_path):
    path = write_csv(
        tmp_path / "t.csv",
        ["text", "label", "rationale"],
        [["Good film , good plot but dull", "pos", "good:0"], ["good and dull", "neg", ""]],
    )
    tokenizer = Tokenizer()
    examples = read_examples(
        path, DataConfig(train=str(path), rationale_column="rationale"), TASKS["classification"], tokenizer
    )
    apply_lexicon(examples, {"good": "1", "dull": "0", "plot": "1"}, tokenizer)
    assert examples[0].word_targets == {0: "0", 3: "0", 4: "1", 6: "0"}  # both "good"s keep the cell's target
    assert examples[1].word_targets == {0: "1", 2: "0"}


def test_lexicon_holdout_keeps_words_out_of_training_only(tmp_path):
    words = [f"word{i}" for i in range(40)]
    held = {w for w in words if held_out(w, 0.3)}
    assert 0 < len(held) < len(words)  # the share holds some words out, not all
    polarity = {w: i % 2 for i, w in enumerate(words)}
    rng = random.Random(0)

    def rows(n):
        out = []
        for i in range(n):
            chosen = rng.sample(words, 4)
            label = "pos" if sum(polarity[w] for w in chosen) >= 2 else "neg"
            out.append([" ".join(chosen + rng.sample(FILLER, 2)), label])
        return out

    train_csv = write_csv(tmp_path / "train.csv", ["text", "label"], rows(60))
    valid_csv = write_csv(tmp_path / "valid.csv", ["text", "label"], rows(30))
    lexicon = {w: str(polarity[w]) for w in words}
    lexicon_csv = write_csv(tmp_path / "lex.csv", ["word", "label"], list(lexicon.items()))
    cfg = rationale_config(
        tmp_path,
        train_csv,
        valid_csv,
        train={"epochs": 1},
        data={"lexicon": str(lexicon_csv), "lexicon_holdout": 0.3},
        loss={"rationale": {"weight": 1.0}},
    )

    datasets = load_datasets(cfg, task_of(cfg))
    for example in datasets.train:
        for i, token in enumerate(example.tokens):
            if token in held:
                assert i not in example.word_targets, token
            elif token in lexicon:
                assert example.word_targets[i] == lexicon[token]
    seen_held = [t for e in datasets.valid for i, t in enumerate(e.tokens) if t in held and i in e.word_targets]
    assert seen_held and all(
        lexicon[t] == e.word_targets[i] for e in datasets.valid for i, t in enumerate(e.tokens) if t in lexicon
    )

    result = train(cfg, out=tmp_path / "run")
    kept = {w: int(t) for w, t in lexicon.items() if w not in held}
    counts = count_targets(train_csv, kept)
    info = json.loads((result.run_dir / "model.json").read_text())
    assert info["rationale_pos_weight"] == pytest.approx(counts[0] / counts[1])

    run = load_run(result.run_dir)
    heldout_only = evaluate_file(run, valid_csv, lexicon_words="heldout", with_faithfulness=False)
    held_occurrences = sum(1 for row in csv_rows(valid_csv) for w in row["text"].split() if w in held)
    assert heldout_only["rationale"]["word_polarity"]["words"] == held_occurrences
    every = evaluate_file(run, valid_csv, with_faithfulness=False)
    lexicon_occurrences = sum(1 for row in csv_rows(valid_csv) for w in row["text"].split() if w in lexicon)
    assert every["rationale"]["word_polarity"]["words"] == lexicon_occurrences


# =====================================================================================================
# 8. lexicon words as one-word training examples
# =====================================================================================================


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bow", "lstm"])
def test_lexicon_examples_teach_words_the_sentences_never_use(tmp_path, sentiment_csvs, kind):
    """Words that occur in no training sentence get their lexicon polarity only from
    `data.lexicon_examples`; without it they are unknown words and share one score."""
    unseen = {"zesty": "1", "radiant": "1", "grim": "0", "soggy": "0"}
    lexicon = write_csv(tmp_path / "lex.csv", ["word", "label"], [[w, t] for w, t in unseen.items()])
    scores = {}
    for examples in (True, False):
        cfg = rationale_config(
            tmp_path,
            sentiment_csvs["train"],
            sentiment_csvs["valid"],
            model={"type": kind},
            train={"epochs": 4},
            data={"lexicon": str(lexicon), "lexicon_examples": examples},
            loss={"rationale": {"weight": 1.0}},
        )
        run = load_run(train(cfg, out=tmp_path / f"run-{examples}").run_dir)
        assert all((w in run.featurizer.vocab) == examples for w in unseen)
        results = predict_texts(run, list(unseen))  # each word alone, as the lexicon examples are
        scores[examples] = {w: r["token_scores"][0] for w, r in zip(unseen, results)}
    assert all((scores[True][w] > 0) == (t == "1") for w, t in unseen.items()), scores[True]
    if kind == "bow":  # context-free word scores: unknown words all score alike
        assert len({round(s, 4) for s in scores[False].values()}) == 1


def test_rows_without_a_sentence_label_add_nothing_to_the_sentence_loss():
    items = [Encoded(np.array([2, 3]), 1), Encoded(np.array([4]), None, targets=np.array([0]))]
    batch = collate(items, "classification")
    assert batch.labels.tolist() == [1, IGNORE]
    model = small_model("bow", 1)
    objective = build_objective(
        LossConfig(name="bce"), TASKS["classification"], LOSSES["bce"](), 2, Counter(), Counter(), model
    )
    output = model(batch)
    expected = F.binary_cross_entropy_with_logits(output.sentence[:1, 0], torch.ones(1))
    assert float(objective.main(output, batch).detach()) == pytest.approx(float(expected.detach()))
