"""What a model predicted, as numpy arrays in the order of the input rows, and scoring it against
the labels and word targets: no torch, whichever backend predicted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from textcls.encoded import IGNORE, Encoded
from textcls.rationale_metrics import evidence, word_polarity

if TYPE_CHECKING:
    from textcls.tasks import Task


@dataclass
class Predictions:
    """Outputs in the order of the input rows; token outputs flat, row after row."""

    sentence: np.ndarray | None  # (R, ...) the task's sentence outputs (e.g. class probabilities); None for token tasks
    tokens: (
        np.ndarray | None
    )  # (N, outputs) the task's token outputs (token scores, tag probabilities); None if not asked for
    offsets: np.ndarray  # (R + 1,) where each row's tokens start
    loss: float | None  # mean main loss, when the rows carry labels
    transitions: tuple[np.ndarray, ...] | None = None  # a CRF tagger's (transitions, start, end) scores

    def row_tokens(self, r: int) -> np.ndarray:
        return self.tokens[self.offsets[r] : self.offsets[r + 1]]


def importance_for(token_scores: np.ndarray, predicted: int) -> np.ndarray:
    """(T,) each token's evidence for the predicted class, from (T, outputs) token scores: the
    signed logit (negated when class 0 is predicted) for one output, else that class's score."""
    if token_scores.shape[1] == 1:
        return token_scores[:, 0] if predicted == 1 else -token_scores[:, 0]
    return token_scores[:, predicted]


def rationale_scores(predictions: Predictions, items: Encoded) -> dict | None:
    """Word polarity and ERASER-style evidence metrics on the rows that carry word targets.
    Importance = evidence for the predicted class; gold rationale = the labelled words that
    support the row's gold label."""
    if items.targets is None:
        return None
    labelled = items.targets != IGNORE  # (N,)
    rows = np.unique(items.row_of[labelled])
    if not len(rows):
        return None
    binary = predictions.tokens.shape[1] == 1
    word_scores = predictions.tokens[labelled, 0] if binary else predictions.tokens[labelled]
    evidence_rows = []
    for r in rows:
        scores, targets = predictions.row_tokens(r), items.targets[items.offsets[r] : items.offsets[r + 1]]
        importance = importance_for(scores, int(predictions.sentence[r].argmax()))
        evidence_rows.append({"importance": importance, "gold": targets == items.labels[r]})
    return {
        "annotated_rows": len(rows),
        "word_polarity": word_polarity(word_scores, items.targets[labelled]),
        "evidence": evidence(evidence_rows),
    }


def score(
    predictions: Predictions,
    items: Encoded,
    task: Task,
    labels: list[str],
    reference: tuple[Predictions, Encoded] | None = None,
) -> dict:
    """Metrics of `predictions` against the labels (and word targets) carried by `items`."""
    metrics = task.metrics(predictions, items, labels, reference)
    if predictions.loss is not None:
        metrics["loss"] = predictions.loss
    if task.explains and predictions.tokens is not None:
        rationale = rationale_scores(predictions, items)
        if rationale is not None:
            metrics["rationale"] = rationale
    return metrics
