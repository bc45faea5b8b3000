"""Metrics: pure functions of predictions and targets (NumPy arrays in, plain Python out)."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C): rows are true classes, columns predicted."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_scores(confusion: np.ndarray, labels: list[str]) -> dict[str, dict[str, float]]:
    tp = np.diag(confusion).astype(float)
    predicted, actual = confusion.sum(0), confusion.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(actual[i]),
        }
        for i, label in enumerate(labels)
    }


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """accuracy, macro-F1 (over classes present in the targets or predictions), per class, confusion."""
    confusion = confusion_matrix(y_true, y_pred, len(labels))
    per_class = per_class_scores(confusion, labels)
    present = [i for i in range(len(labels)) if confusion[i].sum() + confusion[:, i].sum() > 0]
    return {
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": float(np.mean([per_class[labels[i]]["f1"] for i in present])),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def calibration_metrics(probabilities: np.ndarray, y_true: np.ndarray, bins: int = 15) -> dict:
    """ECE of the top label (`bins` equal-width confidence bins: the bin-size-weighted mean gap
    between accuracy and mean confidence), the Brier score (mean over rows of the squared error of
    the probability vector against the one-hot truth) and the NLL of the true class."""
    confidence, predicted = probabilities.max(1), probabilities.argmax(1)
    right = predicted == y_true
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # bin i holds [i/bins, (i+1)/bins), the last 1 too
    ece = sum(
        abs(right[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
        for b in range(bins)
        if (which == b).any()
    )
    truth = np.eye(probabilities.shape[1])[y_true]
    return {
        "ece": float(ece),
        "brier": float(((probabilities - truth) ** 2).sum(1).mean()),
        "nll": float(-np.log(np.maximum(probabilities[np.arange(len(y_true)), y_true], 1e-12)).mean()),
    }


def fit_temperature(log_probs: np.ndarray, y_true: np.ndarray, multilabel: bool = False) -> float:
    """The temperature T minimising the NLL of softmax(log_probs / T) (Guo et al. 2017), kept within
    TEMPERATURE_RANGE. `log_probs`: (R, C) log-probabilities (or logits; a shift per row changes
    nothing). With `multilabel`: (R, L) logits and 0/1 targets, one T for the sigmoid of every label.

    The NLL is convex in b = 1 / T (a log-sum-exp of lines in b, less a line), so the minimum is where
    its derivative crosses zero: Newton's steps on b, kept inside a bracket that halves when a step
    leaves it (numpy alone: no optimiser to import)."""
    x = np.asarray(log_probs, dtype=np.float64)
    if multilabel:
        y = np.asarray(y_true, dtype=np.float64)

        def slopes(b: float) -> tuple[float, float]:  # d NLL / db, d2 NLL / db2
            with np.errstate(over="ignore"):  # (exp overflowing to inf gives p = 0, as it should)
                p = 1.0 / (1.0 + np.exp(-b * x))
            return float(((p - y) * x).mean()), float((p * (1 - p) * x * x).mean())

    else:
        x = x - x.max(1, keepdims=True)
        picked = x[np.arange(len(x)), np.asarray(y_true)]

        def slopes(b: float) -> tuple[float, float]:
            z = b * x
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            mean = (p * x).sum(1)
            return float((mean - picked).mean()), float(((p * x * x).sum(1) - mean * mean).mean())

    # Bounded: with no error on validation the likelihood grows without end as T -> 0.
    lo, hi = 1 / TEMPERATURE_RANGE[1], 1 / TEMPERATURE_RANGE[0]
    if slopes(hi)[0] < 0:
        return TEMPERATURE_RANGE[0]
    if slopes(lo)[0] > 0:
        return TEMPERATURE_RANGE[1]
    b = 1.0 if lo < 1.0 < hi else (lo + hi) / 2
    for _ in range(200):
        slope, curvature = slopes(b)
        if slope > 0:
            hi = b
        else:
            lo = b
        if abs(slope) < 1e-12 or hi - lo < 1e-12 * hi:
            break
        step = b - slope / curvature if curvature > 0 else None
        b = step if step is not None and lo < step < hi else (lo + hi) / 2
    return float(min(max(1 / b, TEMPERATURE_RANGE[0]), TEMPERATURE_RANGE[1]))


TEMPERATURE_RANGE = (0.05, 20.0)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), 1-based."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    error = y_pred - y_true
    variance = ((y_true - y_true.mean()) ** 2).sum()
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "r2": float(1 - (error**2).sum() / variance) if variance > 0 else 0.0,
        "pearson": _pearson(y_true, y_pred),
        "spearman": _pearson(_ranks(y_true), _ranks(y_pred)),
    }


def multilabel_metrics(y_true: np.ndarray, scores: np.ndarray, thresholds: np.ndarray, labels: list[str]) -> dict:
    """Multi-label metrics of (R, L) 0/1 targets against (R, L) scores, a label predicted where its
    score reaches its threshold: micro and macro F1 (a label never present nor predicted scores 0),
    subset accuracy (every label right), Hamming loss (share of wrong label decisions), label-ranking
    average precision (from the scores alone), and precision/recall/F1/support per label."""
    y = y_true.astype(bool)
    predicted = scores >= thresholds[None, :]
    tp, fp, fn = (predicted & y).sum(0), (predicted & ~y).sum(0), (~predicted & y).sum(0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(len(labels)), where=2 * tp + fp + fn > 0)
    precision = np.divide(tp, tp + fp, out=np.zeros(len(labels)), where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(len(labels)), where=tp + fn > 0)
    micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()) if (2 * tp.sum() + fp.sum() + fn.sum()) else 0.0
    return {
        "micro_f1": float(micro),
        "macro_f1": float(f1.mean()),
        "subset_accuracy": float((predicted == y).all(1).mean()),
        "hamming_loss": float((predicted != y).mean()),
        "lrap": label_ranking_average_precision(y, scores),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(y[:, i].sum()),
            }
            for i, label in enumerate(labels)
        },
    }


def label_ranking_average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    """For each row, the mean over its labels j of (its labels scored >= j's score) / (all labels
    scored >= j's score); a row with no label, or with every label, scores 1 (as scikit-learn does)."""
    total = 0.0
    for truth, s in zip(y, scores):
        if truth.all() or not truth.any():
            total += 1.0
            continue
        at_least = s[None, :] >= s[truth][:, None]  # (labels of the row, L): labels scored at least as high
        total += float(np.mean(at_least[:, truth].sum(1) / at_least.sum(1)))
    return total / len(y)


def best_f1_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The threshold on `scores` (flattened together) with the best F1 of y: midpoints between
    consecutive distinct scores, or 0.5 when there is nothing to choose from."""
    y, scores = y.ravel().astype(bool), scores.ravel()
    if not y.any():
        return 0.5
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], y[order]
    cut = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each distinct score
    tp = np.cumsum(t)[cut]
    f1 = 2 * tp / (cut + 1 + t.sum())  # predicted = cut + 1 rows, 2 tp / (predicted + actual)
    best = int(np.argmax(f1))
    below = s[cut[best] + 1] if cut[best] + 1 < len(s) else s[cut[best]] - 1.0
    return float((s[cut[best]] + below) / 2)


def pair_counts(y_true: np.ndarray, y_pred: np.ndarray, chunk: int = 1024) -> dict[str, int]:
    """Over all unordered pairs: concordant and discordant pairs, pairs tied in y_true, tied in
    y_pred, and tied in y_pred only. Row blocks of `chunk` keep memory at chunk x n."""
    n = len(y_true)
    counts = dict.fromkeys(["concordant", "discordant", "tied_true", "tied_pred", "tied_pred_only"], 0)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        later = np.arange(n)[None, :] > rows[:, None]  # each unordered pair once
        t = np.sign(y_true[rows, None] - y_true[None, :])[later]
        p = np.sign(y_pred[rows, None] - y_pred[None, :])[later]
        counts["concordant"] += int((t * p > 0).sum())
        counts["discordant"] += int((t * p < 0).sum())
        counts["tied_true"] += int((t == 0).sum())
        counts["tied_pred"] += int((p == 0).sum())
        counts["tied_pred_only"] += int(((p == 0) & (t != 0)).sum())
    return counts


def ndcg_at(y_true: np.ndarray, y_pred: np.ndarray, k: int = 10) -> float | None:
    """NDCG@k with gains = y_true minus its minimum (so scores may be negative), discount
    1 / log2(rank + 1); ties in y_pred are broken by row order. None when every gain is 0."""
    gains = y_true - y_true.min()
    discount = 1 / np.log2(np.arange(2, min(k, len(gains)) + 2))
    ideal = (np.sort(gains)[::-1][:k] * discount).sum()
    if ideal == 0:
        return None
    order = np.argsort(-y_pred, kind="stable")[:k]
    return float((gains[order] * discount).sum() / ideal)


def _ranking_of_group(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    c = pair_counts(y_true, y_pred)
    pairs = len(y_true) * (len(y_true) - 1) // 2
    ordered = pairs - c["tied_true"]  # pairs whose gold order is known
    tau_denominator = np.sqrt(float(pairs - c["tied_true"]) * float(pairs - c["tied_pred"]))
    return {
        # a tie in the prediction is half right
        "pairwise_accuracy": (c["concordant"] + 0.5 * c["tied_pred_only"]) / ordered if ordered else None,
        "kendall_tau": (c["concordant"] - c["discordant"]) / tau_denominator if tau_denominator > 0 else None,  # tau-b
        "spearman": _pearson(_ranks(y_true), _ranks(y_pred)) if ordered else None,
        "ndcg_at_10": ndcg_at(y_true, y_pred, 10),
    }


def ranking_metrics(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray | None = None) -> dict:
    """Pairwise accuracy, Kendall's tau-b, Spearman's rho and NDCG@10, within each group (the whole
    set when there are none), then averaged over the groups where each is defined (2+ rows with
    different gold scores). `groups` counts the groups averaged over."""
    if groups is None:
        groups = np.zeros(len(y_true), dtype=np.int64)
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    per_group = [_ranking_of_group(y_true[rows], y_pred[rows]) for rows in np.split(order, bounds) if len(rows) > 1]
    metrics = {}
    for key in ["pairwise_accuracy", "kendall_tau", "spearman", "ndcg_at_10"]:
        values = [g[key] for g in per_group if g[key] is not None]
        metrics[key] = float(np.mean(values)) if values else None
    metrics["groups"] = sum(g["pairwise_accuracy"] is not None for g in per_group)
    return metrics


def tagging_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    unseen: np.ndarray,
    sentence_ids: np.ndarray,
    labels: list[str],
    top_confusions: int = 10,
) -> dict:
    """Token-level metrics over all real tokens (flattened), plus accuracy on words unseen in
    training and whole-sentence exact match."""
    metrics = classification_metrics(y_true, y_pred, labels)
    correct = y_true == y_pred
    wrong_per_sentence = np.bincount(sentence_ids, weights=~correct)
    metrics["unseen_accuracy"] = float(correct[unseen].mean()) if unseen.any() else None
    metrics["unseen_tokens"] = int(unseen.sum())
    metrics["exact_match"] = float((wrong_per_sentence == 0).mean())
    confusion = np.array(metrics["confusion"])
    np.fill_diagonal(confusion, 0)
    pairs = np.argsort(confusion, axis=None)[::-1][:top_confusions]
    metrics["top_confusions"] = [
        {"true": labels[i // len(labels)], "predicted": labels[i % len(labels)], "count": int(confusion.flat[i])}
        for i in pairs
        if confusion.flat[i] > 0
    ]
    return metrics


def roc_auc(scores: np.ndarray, targets: np.ndarray) -> float | None:
    """Probability that a random positive outranks a random negative (Mann-Whitney U), ties counted half."""
    pos, neg = int(targets.sum()), int((1 - targets).sum())
    if pos == 0 or neg == 0:
        return None
    ranks = _ranks(scores)
    return float((ranks[targets == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float | None:
    """Area under the precision-recall curve as a step function (precision at each positive's rank,
    averaged over positives), with tied scores handled as one threshold, as scikit-learn does."""
    if targets.sum() == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], targets[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(t)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall_gain = np.diff(np.r_[0, tp]) / t.sum()
    return float((precision * recall_gain).sum())


def is_better(metric: str, new: float, old: float | None) -> bool:
    lower_is_better = metric in {"loss", "mae", "rmse"} or metric.endswith("_loss")
    return old is None or (new < old if lower_is_better else new > old)


def flatten(metrics: dict, prefix: str = "") -> dict:
    """Scalar metrics with dotted names (`rationale.word_polarity.auprc`); per-class tables,
    confusion matrices and lists are left to the full metrics."""
    flat = {}
    for key, value in metrics.items():
        if key == "per_class" or isinstance(value, list):
            continue
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
