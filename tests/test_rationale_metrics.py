"""Rationale metrics against references computed another way: scikit-learn for the ranking
metrics, hand-worked examples (reasoning in comments) for everything else."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from textcls.rationale_metrics import DEFAULT_BINS, evidence, faithfulness, spans, top_k, word_polarity

# ---------------------------------------------------------------- word polarity


def test_binary_ranking_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(-3, 4, size=200).astype(float)  # 7 distinct values: many ties
    targets = (rng.random(200) < 0.3).astype(int)
    result = word_polarity(scores, targets)
    assert result["roc_auc"] == pytest.approx(roc_auc_score(targets, scores))
    assert result["auprc"] == pytest.approx(average_precision_score(targets, scores))
    assert result["words"] == 200 and result["positives"] == int(targets.sum())


def test_balanced_sign_accuracy_by_hand():
    scores = np.array([2.0, -1.0, 0.5, 0.0, -3.0, 1.0])
    targets = np.array([1, 1, 1, 0, 0, 0])
    # target 1: 2.0 > 0 yes, -1.0 no, 0.5 yes          -> 2/3
    # target 0: 0.0 < 0 no (zero is wrong), -3.0 yes, 1.0 no -> 1/3
    # mean -> 1/2
    assert word_polarity(scores, targets)["balanced_sign_accuracy"] == pytest.approx(0.5)


def test_binary_one_class_only_is_undefined():
    result = word_polarity(np.array([1.0, -2.0]), np.array([1, 1]))
    assert result["roc_auc"] is None and result["auprc"] is None
    assert result["balanced_sign_accuracy"] is None
    assert result["words"] == 2 and result["positives"] == 2


def test_multiclass_accuracy_and_balanced_accuracy_by_hand():
    scores = np.array([[3, 0, 0], [0, 2, 1], [0, 1, 0], [0, 0, 5], [1, 0, 2], [4, 0, 1]], dtype=float)
    targets = np.array([0, 0, 1, 2, 2, 2])
    # argmax = [0, 1, 1, 2, 2, 0]; correct 4 of 6 -> accuracy 2/3
    # recall: class 0: 1/2, class 1: 1/1, class 2: 2/3 -> balanced (1/2 + 1 + 2/3) / 3 = 13/18
    result = word_polarity(scores, targets)
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["balanced_accuracy"] == pytest.approx(13 / 18)
    assert result["words"] == 6


def test_multiclass_macro_ranking_matches_sklearn():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 3, size=(150, 4)).astype(float)  # ties
    targets = rng.integers(0, 3, size=150)  # class 3 never a target: left out of the macro mean
    aucs, aps = [], []
    for c in range(3):
        # s_c - mean(others), times (C - 1) = 3: same ranking, but exact on integers, so tied
        # words stay tied (s_c - sum/3 in floats can split a tie in the last bit).
        versus_rest = 3 * scores[:, c] - np.delete(scores, c, axis=1).sum(1)
        aucs.append(roc_auc_score(targets == c, versus_rest))
        aps.append(average_precision_score(targets == c, versus_rest))
    result = word_polarity(scores, targets)
    assert result["roc_auc"] == pytest.approx(np.mean(aucs))
    assert result["auprc"] == pytest.approx(np.mean(aps))


def test_two_class_roc_auc_equals_binary_on_logit():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(50, 2))
    targets = rng.integers(0, 2, size=50)
    # class 1 score s1 - s0 is the binary logit; class 0 score is its negation, which ranks
    # class-0 words above class-1 words exactly as often, so both one-vs-rest AUCs agree.
    assert word_polarity(scores, targets)["roc_auc"] == pytest.approx(
        word_polarity(scores[:, 1] - scores[:, 0], targets)["roc_auc"]
    )


def test_multiclass_one_class_only_is_undefined():
    result = word_polarity(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))
    assert result["roc_auc"] is None and result["auprc"] is None
    assert result["accuracy"] == 0.5 and result["balanced_accuracy"] == 0.5


# ---------------------------------------------------------------- evidence


def test_spans():
    assert spans(np.array([True, True, False, True, False, True])) == [(0, 2), (3, 4), (5, 6)]
    assert spans(np.array([False, False])) == []


T, F = True, False
EVIDENCE_ROWS = [
    # A: predicted (importance > 0) = T T F T F T; gold = T T F F F T
    #    tokens: tp 3, predicted 4, gold 3 -> P 3/4, R 1, F1 = 2*(3/4)/(7/4) = 6/7
    #    spans: predicted [0,2) [3,4) [5,6); gold [0,2) [5,6); [0,2) and [5,6) match (IOU 1)
    #    -> span P 2/3, R 2/2, F1 = 2*(2/3)/(5/3) = 4/5
    {"importance": [0.9, 0.4, -0.2, 0.3, 0.0, 0.8], "gold": [T, T, F, F, F, T]},
    # B: predicted T T T F F; gold F T T T F -> tp 2, predicted 3, gold 3 -> P = R = F1 = 2/3
    #    spans [0,3) vs [1,4): overlap 2, union 4, IOU 1/2 >= 0.5 -> match; span F1 1
    {"importance": [0.5, 0.5, 0.5, -1.0, -1.0], "gold": [F, T, T, T, F]},
    # C: no gold token -> not counted at all
    {"importance": [1.0, 1.0], "gold": [F, F]},
    # D: nothing predicted; gold F T F -> P 0 (nothing predicted), R 0, F1 0; spans: 0 of 0 / 0 of 1 -> 0
    {"importance": [-1.0, -2.0, -0.5], "gold": [F, T, F]},
    # E: predicted T T T F F; gold F F T T T -> tp 1, predicted 3, gold 3 -> P = R = F1 = 1/3
    #    spans [0,3) vs [2,5): overlap 1, union 5, IOU 1/5 < 0.5 -> no match; span F1 0
    {"importance": [1.0, 1.0, 1.0, -1.0, -1.0], "gold": [F, F, T, T, T]},
]


def test_evidence_token_and_iou_by_hand():
    result = evidence(EVIDENCE_ROWS)
    assert result["rows"] == 4
    # micro tokens: tp 3+2+0+1 = 6, predicted 4+3+0+3 = 10, gold 3+3+1+3 = 10 -> 0.6 each
    assert result["token_precision_micro"] == pytest.approx(0.6)
    assert result["token_recall_micro"] == pytest.approx(0.6)
    assert result["token_f1_micro"] == pytest.approx(0.6)
    # macro tokens: P (3/4 + 2/3 + 0 + 1/3) / 4 = 7/16; R (1 + 2/3 + 0 + 1/3) / 4 = 1/2;
    #               F1 (6/7 + 2/3 + 0 + 1/3) / 4 = 13/28
    assert result["token_precision_macro"] == pytest.approx(7 / 16)
    assert result["token_recall_macro"] == pytest.approx(0.5)
    assert result["token_f1_macro"] == pytest.approx(13 / 28)
    # micro spans: matched predicted 2+1+0+0 = 3 of 3+1+0+1 = 5; matched gold 2+1+0+0 = 3 of
    # 2+1+1+1 = 5 -> P = R = F1 = 3/5
    assert result["iou_f1_micro"] == pytest.approx(0.6)
    # macro spans: (4/5 + 1 + 0 + 0) / 4 = 9/20
    assert result["iou_f1_macro"] == pytest.approx(0.45)


def test_evidence_auprc_matches_sklearn():
    rows = EVIDENCE_ROWS + [{"importance": [0.2, 0.1], "gold": [T, T]}]  # all gold: micro only
    counted = [r for r in rows if any(r["gold"])]
    result = evidence(rows)
    assert result["rows"] == 5
    pooled_gold = np.concatenate([r["gold"] for r in counted])
    pooled_importance = np.concatenate([r["importance"] for r in counted])
    assert result["auprc_micro"] == pytest.approx(average_precision_score(pooled_gold, pooled_importance))
    per_row = [average_precision_score(r["gold"], r["importance"]) for r in counted if not all(r["gold"])]
    assert len(per_row) == 4
    assert result["auprc_macro"] == pytest.approx(np.mean(per_row))


def test_evidence_without_gold_rows():
    result = evidence([{"importance": [1.0], "gold": [False]}])
    assert result["rows"] == 0 and result["token_f1_micro"] is None and result["auprc_macro"] is None


# ---------------------------------------------------------------- faithfulness

POSITIVE = {"good", "great"}


class FractionPositive:
    """p(class 1) = fraction of tokens in POSITIVE (0 for an empty input); records its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, token_lists):
        self.calls.append(token_lists)
        p1 = np.array([sum(t in POSITIVE for t in tokens) / len(tokens) if tokens else 0.0 for tokens in token_lists])
        return np.stack([1 - p1, p1], axis=1)


FAITH_ROWS = [
    {"tokens": ["good", "movie", "great", "plot", "bad"], "importance": [0.9, 0.8, 0.8, 0.0, -0.5], "label": 1},
    {"tokens": ["bad", "good", "bad", "boring"], "importance": [0.7, -0.9, 0.7, 0.2], "label": 0},
    {"tokens": ["great"], "importance": [0.3], "label": 1},
]


def test_top_k_rounding_and_ties():
    assert top_k(np.array([0.9, 0.8, 0.8, 0.0, -0.5]), 0.4).tolist() == [0, 1]  # tie 1 vs 2 -> 1
    assert top_k(np.array([0.9, 0.8, 0.8, 0.0, -0.5]), 0.5).tolist() == [0, 1, 2]  # 2.5 -> 3
    assert top_k(np.array([0.3]), 0.01).tolist() == [0]  # at least one token


def test_faithfulness_by_hand():
    # Row 1 (label 1): p(full) = 2/5.
    #   b=0.2: k=1 {good}: without -> movie great plot bad = 1/4; only good = 1
    #   b=0.4: k=2 {good, movie} (movie beats great on the tie by position):
    #          without -> great plot bad = 1/3; only good movie = 1/2
    #   b=0.5: k=round(2.5)=3 {good, movie, great}: without -> plot bad = 0; only -> 2/3
    # Row 2 (label 0, p0 = 1 - fraction positive): p(full) = 3/4.
    #   b=0.2: k=round(0.8)=1 {bad@0}: without -> good bad boring, p0 2/3; only bad, p0 1
    #   b=0.4, 0.5: k=2 {bad@0, bad@2}: without -> good boring, p0 1/2; only bad bad, p0 1
    # Row 3 (label 1): p(full) = 1; k=1 for every bin: without -> [] (p 0); only great = 1
    comprehensiveness = [
        np.mean([2 / 5 - 1 / 4, 3 / 4 - 2 / 3, 1 - 0]),
        np.mean([2 / 5 - 1 / 3, 3 / 4 - 1 / 2, 1 - 0]),
        np.mean([2 / 5 - 0, 3 / 4 - 1 / 2, 1 - 0]),
    ]  # = 37/90, 79/180, 11/20; AOPC = 7/15
    sufficiency = [
        np.mean([2 / 5 - 1, 3 / 4 - 1, 1 - 1]),
        np.mean([2 / 5 - 1 / 2, 3 / 4 - 1, 1 - 1]),
        np.mean([2 / 5 - 2 / 3, 3 / 4 - 1, 1 - 1]),
    ]
    result = faithfulness(FractionPositive(), FAITH_ROWS, bins=(0.2, 0.4, 0.5))
    assert result["rows"] == 3 and result["bins"] == [0.2, 0.4, 0.5]
    assert result["comprehensiveness_per_bin"] == pytest.approx(comprehensiveness)
    assert result["sufficiency_per_bin"] == pytest.approx(sufficiency)
    assert result["comprehensiveness_aopc"] == pytest.approx(7 / 15)
    assert result["sufficiency_aopc"] == pytest.approx(np.mean(sufficiency))


def test_faithfulness_calls_once_per_bin_with_all_rows():
    model = FractionPositive()
    faithfulness(model, FAITH_ROWS)
    # one call for the full inputs, then one "without" and one "only" call per bin
    assert len(model.calls) == 1 + 2 * len(DEFAULT_BINS)
    assert all(len(call) == len(FAITH_ROWS) for call in model.calls)
    assert [] in model.calls[1]  # the one-token row without its rationale is empty


def test_faithfulness_no_rows_does_not_call():
    model = FractionPositive()
    result = faithfulness(model, [{"tokens": [], "importance": [], "label": 0}])
    assert result["rows"] == 0 and result["comprehensiveness_aopc"] is None and model.calls == []
