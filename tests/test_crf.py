"""The CRF output layer: its negative log-likelihood against a sum over every tag sequence
(values and gradients, padded rows included), decoding with its transition scores against brute
force, and an LSTM tagger with a CRF learning named entities end to end."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from textcls.entities import allowed_transitions, viterbi
from textcls.errors import ConfigError
from textcls.models.crf import CRF


def brute_nll(crf: CRF, emissions: torch.Tensor, tags: list[int]) -> torch.Tensor:
    """-log P(tags) by enumerating every sequence of the row's length."""
    T, C = emissions.shape

    def score(seq):
        s = crf.start[seq[0]] + crf.end[seq[-1]] + sum(emissions[t, c] for t, c in enumerate(seq))
        return s + sum(crf.transitions[a, b] for a, b in zip(seq, seq[1:]))

    all_scores = torch.stack([score(seq) for seq in itertools.product(range(C), repeat=T)])
    return torch.logsumexp(all_scores, 0) - score(tags)


def test_crf_nll_equals_a_sum_over_every_sequence_values_and_gradients():
    torch.manual_seed(0)
    crf = CRF(3).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    emissions = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    tags = torch.tensor([[0, 2, 1, 1], [2, 0, 0, 0]])
    mask = torch.tensor([[True] * 4, [True, True, False, False]])  # the second row has 2 tokens
    got = crf.nll(emissions, tags, mask)
    ref = torch.stack([brute_nll(crf, emissions[0], [0, 2, 1, 1]), brute_nll(crf, emissions[1, :2], [2, 0])])
    torch.testing.assert_close(got, ref)
    grads = torch.autograd.grad(got.sum(), [emissions, crf.transitions, crf.start, crf.end])
    refs = torch.autograd.grad(ref.sum(), [emissions, crf.transitions, crf.start, crf.end])
    for g, r in zip(grads, refs):
        torch.testing.assert_close(g, r)


def test_viterbi_with_transition_scores_is_the_best_sequence():
    rng = np.random.default_rng(1)
    C, T = 3, 4
    follows, starts, ends = allowed_transitions(["O", "B-A", "I-A"], "bio")
    for _ in range(20):
        log_p = rng.normal(size=(T, C))
        scores = (rng.normal(size=(C, C)), rng.normal(size=C), rng.normal(size=C))
        valid = [
            s
            for s in itertools.product(range(C), repeat=T)
            if starts[s[0]] and ends[s[-1]] and all(follows[a, b] for a, b in zip(s, s[1:]))
        ]
        total = lambda s: (
            sum(log_p[t, c] for t, c in enumerate(s))
            + scores[1][s[0]]
            + scores[2][s[-1]]
            + sum(scores[0][a, b] for a, b in zip(s, s[1:]))
        )
        assert tuple(viterbi(log_p, follows, starts, ends, scores)) == max(valid, key=total)


@pytest.mark.slow
def test_lstm_crf_tagger_learns_entities(make_config, ner_csvs, tmp_path):
    from textcls.checkpoint import load_run
    from textcls.predict import evaluate_file, predict_texts
    from textcls.train import train

    config = make_config(
        ner_csvs,
        task="tagging",
        data={"label_column": "tags", "lowercase": False},
        model={"type": "lstm", "crf": True, "embedding_dim": 16, "hidden_dim": 16},
        optim={"lr": 0.02},
        train={"epochs": 8, "monitor": "entity_f1"},
    )
    assert config.loss.name == "auto"
    result = train(config, out=tmp_path / "run")
    assert json.loads((result.run_dir / "model.json").read_text())["loss"] == "crf"  # auto: the CRF's own loss
    run = load_run(result.run_dir)
    assert evaluate_file(run, ner_csvs["test"])["entity_f1"] >= 0.95
    (found,) = predict_texts(run, ["Mary Chen met Li Khan in Oslo"])
    assert [(e["text"], e["type"]) for e in found["entities"]] == [
        ("Mary Chen", "PER"),
        ("Li Khan", "PER"),
        ("Oslo", "LOC"),
    ]


def test_crf_settings_go_together(make_config, ner_csvs, tmp_path):
    from textcls.train import train

    tagging = {"task": "tagging", "data": {"label_column": "tags"}}
    with pytest.raises(ConfigError, match="'crf' and model.crf: true go together"):
        train(
            make_config(ner_csvs, **tagging, model={"type": "lstm", "crf": True}, loss={"name": "ce"}),
            out=tmp_path / "a",
        )
    with pytest.raises(ConfigError, match="'crf' and model.crf: true go together"):
        train(make_config(ner_csvs, **tagging, model={"type": "lstm"}, loss={"name": "crf"}), out=tmp_path / "b")
    with pytest.raises(ConfigError, match="model type 'bow' does not read 'model.crf'"):
        make_config(ner_csvs, **tagging, model={"type": "bow", "crf": True})
    with pytest.raises(ConfigError, match="model.crf is read by task 'tagging', not by 'classification'"):
        train(make_config(model={"type": "lstm", "crf": True}), out=tmp_path / "c")


def test_crf_loss_skips_rows_without_tags_and_an_untagged_batch_is_zero():
    from textcls.encoded import IGNORE
    from textcls.losses import LOSSES

    torch.manual_seed(1)
    layer = CRF(3)
    loss = LOSSES["crf"]().build(None, 3)
    emissions = torch.randn(2, 3, 3, requires_grad=True)
    tags = torch.tensor([[0, 2, 1], [IGNORE, IGNORE, IGNORE]])  # the second row has no tags
    expected = layer.nll(emissions[:1], tags[:1], torch.ones(1, 3, dtype=torch.bool)).sum() / 3
    torch.testing.assert_close(loss(emissions, tags, layer), expected)
    none = loss(emissions, torch.full((2, 3), IGNORE), layer)
    none.backward()
    assert float(none.detach()) == 0 and torch.isfinite(emissions.grad).all()


def test_class_weighted_crf_is_the_softmax_margin_over_every_sequence():
    """class_weights: -score(gold) + log sum over sequences y' of exp(score(y') + sum_t w[gold_t] [y'_t != gold_t]),
    enumerated by hand; balanced weights are those of ce (n / (C count_c)) over the tag counts."""
    from collections import Counter

    from textcls.losses import LOSSES

    torch.manual_seed(2)
    layer = CRF(3).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    emissions = torch.randn(1, 3, 3, dtype=torch.float64)
    gold = [0, 2, 0]
    weights = [0.5, 2.0, 4.0]

    def score(seq):
        s = layer.start[seq[0]] + layer.end[seq[-1]] + sum(emissions[0, t, c] for t, c in enumerate(seq))
        return s + sum(layer.transitions[a, b] for a, b in zip(seq, seq[1:]))

    def cost(seq):
        return sum(weights[g] for g, c in zip(gold, seq) if c != g)

    every = list(itertools.product(range(3), repeat=3))
    expected = (torch.logsumexp(torch.stack([score(s) + cost(s) for s in every]), 0) - score(gold)) / 3
    loss = LOSSES["crf"](class_weights=weights).build(Counter(), 3)
    torch.testing.assert_close(loss(emissions, torch.tensor([gold]), layer), expected)
    # the plain likelihood is below it (every other sequence costs more than nothing)
    plain = LOSSES["crf"]().build(Counter(), 3)(emissions, torch.tensor([gold]), layer)
    assert float(plain.detach()) < float(expected.detach())
    # balanced: counts 6, 3, 1 of 10 tokens -> 10 / (3 * count)
    counts = Counter({0: 6, 1: 3, 2: 1})
    weights = [10 / 18, 10 / 9, 10 / 3]
    expected = (torch.logsumexp(torch.stack([score(s) + cost(s) for s in every]), 0) - score(gold)) / 3
    balanced = LOSSES["crf"](class_weights="balanced").build(counts, 3)
    torch.testing.assert_close(balanced(emissions, torch.tensor([gold]), layer), expected)
