"""Rationale metrics: how well per-token scores agree with word-level rationale targets, and how
faithful they are to the model's prediction (in the style of the ERASER benchmark, DeYoung et al.
2020). Pure functions of NumPy arrays; plain Python numbers out, None where a metric is undefined.

Conventions shared below:
- A token "supports" a class when its score for that class is > 0 (binary: a signed logit,
  > 0 = evidence for class 1, < 0 = evidence for class 0; a score of exactly 0 supports neither).
- Ranking metrics reuse `metrics.roc_auc` (ties counted half) and `metrics.average_precision`
  (tied scores form one threshold, as scikit-learn does).
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from textcls.metrics import average_precision, roc_auc

DEFAULT_BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _ratio(num: float, den: float) -> float:
    """num / den, 0.0 when den is 0 (nothing predicted: precision 0; nothing to find: recall 0)."""
    return float(num / den) if den > 0 else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _ranking(scores: np.ndarray, targets: np.ndarray) -> tuple[float | None, float | None]:
    """(ROC-AUC, average precision) of `scores` for targets == 1; both None unless both classes occur."""
    targets = np.asarray(targets).astype(int)
    if targets.size == 0 or targets.min() == targets.max():
        return None, None
    return roc_auc(scores, targets), average_precision(scores, targets)


# --------------------------------------------------------------------------------------------
# 1. Word polarity: does each labelled word's score point at the class its target says?
# --------------------------------------------------------------------------------------------


def word_polarity(scores: np.ndarray, targets: np.ndarray) -> dict:
    """Agreement of per-word scores with word-level class targets, all labelled words pooled.

    Binary: `scores` (N,) signed logits (> 0 = evidence for class 1), `targets` (N,) in {0, 1}.
      roc_auc                 P(score of a random target-1 word > that of a random target-0 word), ties half
      auprc                   average precision of the scores for target 1
      balanced_sign_accuracy  mean of [fraction of target-1 words with score > 0,
                                       fraction of target-0 words with score < 0]
                              (a score of exactly 0 is wrong for both)
      words, positives        N and the number of target-1 words
    All three metrics are None unless both targets occur.

    Multi-class: `scores` (N, C) per-class scores (C >= 2), `targets` (N,) class indices in [0, C).
      accuracy           fraction of words whose argmax class equals the target (None if N == 0)
      balanced_accuracy  mean per-class recall of the argmax, over the classes present in targets
      roc_auc, auprc     macro one-vs-rest: for class c the word's score is
                         scores[:, c] - mean(scores[:, other classes]), which does not change when a
                         constant is added to all of a word's class scores (softmax is invariant to
                         that too) and, for C == 2, equals the binary logit s1 - s0 (or its negation).
                         Averaged over the classes c that have both target-c and other words;
                         None if there is no such class (one class only).
      words              N
    """
    scores = np.asarray(scores, dtype=float)
    targets = np.asarray(targets).astype(int)
    if scores.shape[:1] != targets.shape or targets.ndim != 1:
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} disagree")

    if scores.ndim == 1:
        positive, negative = targets == 1, targets == 0
        if not (positive | negative).all():
            raise ValueError("binary targets must be 0 or 1")
        auc, ap = _ranking(scores, targets)
        both = positive.any() and negative.any()
        balanced = float(((scores[positive] > 0).mean() + (scores[negative] < 0).mean()) / 2) if both else None
        return {
            "roc_auc": auc,
            "auprc": ap,
            "balanced_sign_accuracy": balanced,
            "words": int(len(targets)),
            "positives": int(positive.sum()),
        }

    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (N,) or (N, C) with C >= 2, got {scores.shape}")
    num_classes = scores.shape[1]
    if len(targets) and (targets.min() < 0 or targets.max() >= num_classes):
        raise ValueError(f"targets must be class indices in [0, {num_classes})")
    predicted = scores.argmax(1)
    present = np.unique(targets)
    # Score of class c against the mean of the other classes: (C * s_c - sum_j s_j) / (C - 1).
    versus_rest = (num_classes * scores - scores.sum(1, keepdims=True)) / (num_classes - 1)
    aucs, aps = zip(*[_ranking(versus_rest[:, c], targets == c) for c in range(num_classes)])
    return {
        "accuracy": float((predicted == targets).mean()) if len(targets) else None,
        "balanced_accuracy": _mean([float((predicted[targets == c] == c).mean()) for c in present]),
        "roc_auc": _mean(list(aucs)),
        "auprc": _mean(list(aps)),
        "words": int(len(targets)),
    }


# --------------------------------------------------------------------------------------------
# 2. Evidence: agreement of predicted rationales with gold rationales (ERASER plausibility).
# --------------------------------------------------------------------------------------------


def spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True in a (T,) bool mask, as half-open (start, end) token ranges."""
    padded = np.r_[False, np.asarray(mask, dtype=bool), False].astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _matched(spans_a: list[tuple[int, int]], spans_b: list[tuple[int, int]], threshold: float) -> int:
    """How many spans of `spans_a` have IOU >= threshold with some span of `spans_b`."""

    def iou(a, b):
        overlap = max(0, min(a[1], b[1]) - max(a[0], b[0]))
        return overlap / (a[1] - a[0] + b[1] - b[0] - overlap)

    return sum(any(iou(a, b) >= threshold for b in spans_b) for a in spans_a)


def evidence(rows: Iterable[Mapping], iou_threshold: float = 0.5) -> dict:
    """Token- and span-level agreement of predicted rationales with gold rationales (ERASER).

    Each row is a mapping with
      importance (T,) float  each token's evidence for the row's PREDICTED class
      gold       (T,) bool   labelled tokens that support the row's GOLD label
    Only rows with at least one gold token count (`rows` is their number). The hard predicted
    rationale is the set of tokens with importance > 0 (tokens that speak for the predicted class;
    no top-k or tuned threshold, so nothing depends on rationale length).

    Returns (None for every metric when no row counts):
      token_precision_micro, token_recall_micro, token_f1_micro
          from true-positive / predicted / gold token counts pooled over rows
      token_precision_macro, token_recall_macro, token_f1_macro
          means of the per-row values (F1 macro = mean of per-row F1)
      iou_f1_micro, iou_f1_macro
          spans are maximal contiguous runs of True; a predicted span matches a gold span when
          |overlap| / |union| >= iou_threshold (0.5). Span precision = matched predicted spans /
          predicted spans, recall = matched gold spans / gold spans, F1 from them; micro pools the
          match and span counts over rows, macro is the mean of per-row F1
      auprc_micro   average precision of importance against gold, all counted tokens pooled
      auprc_macro   mean per-row average precision over rows with both gold and non-gold tokens
                    (None if there is none)
      rows
    Precision (recall) is 0 when nothing is predicted (no gold), and F1 is 0 when both are 0.
    """
    totals = np.zeros(7)  # tp tokens, predicted tokens, gold tokens, matched pred spans, pred spans,
    # matched gold spans, gold spans
    per_row = {"p": [], "r": [], "f1": [], "iou_f1": [], "auprc": []}
    pooled_importance, pooled_gold = [], []
    for row in rows:
        importance = np.asarray(row["importance"], dtype=float)
        gold = np.asarray(row["gold"], dtype=bool)
        if importance.shape != gold.shape or importance.ndim != 1:
            raise ValueError(f"importance {importance.shape} and gold {gold.shape} disagree")
        if not gold.any():
            continue
        predicted = importance > 0
        pred_spans, gold_spans = spans(predicted), spans(gold)
        counts = np.array(
            [
                (predicted & gold).sum(),
                predicted.sum(),
                gold.sum(),
                _matched(pred_spans, gold_spans, iou_threshold),
                len(pred_spans),
                _matched(gold_spans, pred_spans, iou_threshold),
                len(gold_spans),
            ],
            dtype=float,
        )
        totals += counts
        precision, recall = _ratio(counts[0], counts[1]), _ratio(counts[0], counts[2])
        per_row["p"].append(precision)
        per_row["r"].append(recall)
        per_row["f1"].append(_f1(precision, recall))
        per_row["iou_f1"].append(_f1(_ratio(counts[3], counts[4]), _ratio(counts[5], counts[6])))
        per_row["auprc"].append(_ranking(importance, gold)[1])
        pooled_importance.append(importance)
        pooled_gold.append(gold)

    n = len(per_row["p"])
    keys = [
        "token_precision_micro",
        "token_recall_micro",
        "token_f1_micro",
        "token_precision_macro",
        "token_recall_macro",
        "token_f1_macro",
        "iou_f1_micro",
        "iou_f1_macro",
        "auprc_micro",
        "auprc_macro",
    ]
    if n == 0:
        return {**dict.fromkeys(keys), "rows": 0}
    precision, recall = _ratio(totals[0], totals[1]), _ratio(totals[0], totals[2])
    gold_all = np.concatenate(pooled_gold).astype(int)
    return {
        "token_precision_micro": precision,
        "token_recall_micro": recall,
        "token_f1_micro": _f1(precision, recall),
        "token_precision_macro": _mean(per_row["p"]),
        "token_recall_macro": _mean(per_row["r"]),
        "token_f1_macro": _mean(per_row["f1"]),
        "iou_f1_micro": _f1(_ratio(totals[3], totals[4]), _ratio(totals[5], totals[6])),
        "iou_f1_macro": _mean(per_row["iou_f1"]),
        "auprc_micro": average_precision(np.concatenate(pooled_importance), gold_all) if gold_all.min() == 0 else None,
        "auprc_macro": _mean(per_row["auprc"]),
        "rows": n,
    }


# --------------------------------------------------------------------------------------------
# 3. Faithfulness: comprehensiveness and sufficiency (ERASER), as AOPC over rationale sizes.
# --------------------------------------------------------------------------------------------


def top_k(importance: np.ndarray, fraction: float) -> np.ndarray:
    """Positions of the k most important tokens, k = max(1, round(fraction * T)) with halves
    rounded up, at most T; ties go to the earlier position. Returned sorted by position."""
    importance = np.asarray(importance, dtype=float)
    k = min(len(importance), max(1, int(np.floor(fraction * len(importance) + 0.5))))
    return np.sort(np.argsort(-importance, kind="stable")[:k])


def faithfulness(
    predict_proba: Callable[[list[list[str]]], np.ndarray],
    rows: Sequence[Mapping],
    bins: Sequence[float] = DEFAULT_BINS,
) -> dict:
    """Comprehensiveness and sufficiency of importance scores (ERASER), averaged over rationale sizes.

    Each row is a mapping with
      tokens      list[str], T >= 1 tokens (rows with no tokens are skipped)
      importance  (T,) float: each token's evidence for the predicted class
      label       int: the predicted class index
    `predict_proba(token_lists)` takes a list of R token lists and returns (R, C) class
    probabilities. It is called 1 + 2 * len(bins) times, each time with one list per row: the full
    inputs, then for each bin the inputs without the rationale and the rationale alone. It must
    accept an empty token list (removing the rationale from a short row can leave nothing).

    For each bin b, the rationale of a row is its k = max(1, round(b * T)) most important tokens
    (halves rounded up, ties to the earlier position; see `top_k`), and with p = probability of
    the row's label:
      comprehensiveness_b = mean over rows of p(full) - p(tokens without the rationale)
      sufficiency_b       = mean over rows of p(full) - p(rationale tokens only, in order)
    High comprehensiveness and low sufficiency mean the rationale is what the prediction rests on.
    AOPC = mean over bins.

    Returns comprehensiveness_aopc, sufficiency_aopc, bins (list), comprehensiveness_per_bin and
    sufficiency_per_bin (lists aligned with bins), rows (the number of rows used); the metrics are
    None when no row is used (and predict_proba is then not called).
    """
    bins = [float(b) for b in bins]
    if not bins or any(not 0 < b <= 1 for b in bins):
        raise ValueError(f"bins must be fractions in (0, 1], got {bins}")
    rows = [row for row in rows if len(row["tokens"])]
    for row in rows:
        if len(row["importance"]) != len(row["tokens"]):
            raise ValueError(f"{len(row['tokens'])} tokens but {len(row['importance'])} importance scores")
    if not rows:
        return {
            "comprehensiveness_aopc": None,
            "sufficiency_aopc": None,
            "bins": bins,
            "comprehensiveness_per_bin": [None] * len(bins),
            "sufficiency_per_bin": [None] * len(bins),
            "rows": 0,
        }

    labels = np.array([int(row["label"]) for row in rows])

    def p_label(token_lists: list[list[str]]) -> np.ndarray:
        proba = np.asarray(predict_proba(token_lists), dtype=float)
        if proba.ndim != 2 or len(proba) != len(token_lists):
            raise ValueError(f"predict_proba returned shape {proba.shape} for {len(token_lists)} inputs")
        return proba[np.arange(len(labels)), labels]

    full = p_label([list(row["tokens"]) for row in rows])
    comprehensiveness, sufficiency = [], []
    for b in bins:
        kept = [set(top_k(row["importance"], b).tolist()) for row in rows]
        without = [[t for i, t in enumerate(row["tokens"]) if i not in keep] for row, keep in zip(rows, kept)]
        only = [[t for i, t in enumerate(row["tokens"]) if i in keep] for row, keep in zip(rows, kept)]
        comprehensiveness.append(float((full - p_label(without)).mean()))
        sufficiency.append(float((full - p_label(only)).mean()))
    return {
        "comprehensiveness_aopc": float(np.mean(comprehensiveness)),
        "sufficiency_aopc": float(np.mean(sufficiency)),
        "bins": bins,
        "comprehensiveness_per_bin": comprehensiveness,
        "sufficiency_per_bin": sufficiency,
        "rows": len(rows),
    }
