"""Running a model over encoded data and scoring what it predicts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from textcls.batching import IGNORE, Encoded, batch_indices, collate
from textcls.losses import Objective
from textcls.metrics import classification_metrics, regression_metrics, tagging_metrics
from textcls.models import TextModel


def probabilities(sentence: torch.Tensor) -> torch.Tensor:
    """(B, C) class probabilities from sentence outputs: one logit -> (1 - p, p); else softmax
    (softmax of log-probabilities, as loss nll's model gives, is the same distribution)."""
    if sentence.shape[-1] == 1:
        p = torch.sigmoid(sentence)
        return torch.cat([1 - p, p], dim=-1)
    return sentence.softmax(-1)


@dataclass
class Predictions:
    """Outputs in the order of the input items."""

    sentence: np.ndarray | None  # (N, C) probabilities, or (N,) values for regression; None for tagging
    tokens: list[np.ndarray]  # per item (T_i, outputs): token scores, or tag probabilities for tagging
    loss: float | None  # mean main loss, when the items carry labels


@torch.no_grad()
def predict_items(model: TextModel, items: list[Encoded], task: str, batch_size: int, device: torch.device,
                  objective: Objective | None = None) -> Predictions:
    model.eval()
    sentence_out: list[np.ndarray] = [None] * len(items)
    token_out: list[np.ndarray] = [None] * len(items)
    loss_sum, loss_weight = 0.0, 0
    lengths = [len(x.ids) for x in items]
    for indices in batch_indices(lengths, batch_size, generator=None, bucket=True):
        batch = collate([items[i] for i in indices], task).to(device)
        output = model(batch)
        if objective is not None and batch.labels is not None:
            weight = int((batch.labels != IGNORE).sum()) if task == "tagging" else len(indices)
            loss_sum += float(objective.main(output, batch)) * weight
            loss_weight += weight
        tokens = output.tokens.softmax(-1) if task == "tagging" else output.tokens
        tokens = tokens.float().cpu().numpy()
        if output.sentence is not None:
            sentence = output.sentence.squeeze(-1) if task == "regression" else probabilities(output.sentence)
            sentence = sentence.float().cpu().numpy()
        for row, i in enumerate(indices):
            token_out[i] = tokens[row, : lengths[i]]
            if output.sentence is not None:
                sentence_out[i] = sentence[row]
    return Predictions(
        np.stack(sentence_out) if task != "tagging" else None,
        token_out,
        loss_sum / loss_weight if loss_weight else None,
    )


def score(predictions: Predictions, items: list[Encoded], task: str, labels: list[str],
          known_words: set[int] | None = None, unk_id: int = 1) -> dict:
    """Metrics of `predictions` against the labels carried by `items`."""
    if task == "regression":
        metrics = regression_metrics(np.array([x.label for x in items], dtype=float), predictions.sentence.astype(float))
    elif task == "classification":
        y_true = np.array([x.label for x in items])
        metrics = classification_metrics(y_true, predictions.sentence.argmax(1), labels)
    else:
        y_true = np.concatenate([x.label for x in items])
        y_pred = np.concatenate([p.argmax(1) for p in predictions.tokens])
        # A word is unseen if training never had it: out of vocabulary (id unk) for the featurizer.
        unseen = np.concatenate([x.ids == unk_id for x in items])
        sentence_ids = np.repeat(np.arange(len(items)), [len(x.ids) for x in items])
        metrics = tagging_metrics(y_true, y_pred, unseen, sentence_ids, labels)
    if predictions.loss is not None:
        metrics["loss"] = predictions.loss
    return metrics
