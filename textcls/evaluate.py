"""Running a model over encoded data and scoring what it predicts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from textcls.batching import IGNORE, Encoded, Featurizer, batch_indices, collate
from textcls.data import Example
from textcls.losses import Objective
from textcls.metrics import classification_metrics, regression_metrics, tagging_metrics
from textcls.models import TextModel
from textcls.vocab import Vocabulary
from textcls.rationale_metrics import evidence, faithfulness, word_polarity


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


def importance_for(token_scores: np.ndarray, predicted: int) -> np.ndarray:
    """(T,) each token's evidence for the predicted class, from (T, outputs) token scores: the
    signed logit (negated when class 0 is predicted) for one output, else that class's score."""
    if token_scores.shape[1] == 1:
        return token_scores[:, 0] if predicted == 1 else -token_scores[:, 0]
    return token_scores[:, predicted]


def rationale_scores(predictions: Predictions, items: list[Encoded]) -> dict | None:
    """Word polarity and ERASER-style evidence metrics on the rows that carry word targets.
    Importance = evidence for the predicted class; gold rationale = the labelled words that
    support the row's gold label."""
    rows = [i for i, x in enumerate(items) if x.targets is not None and (x.targets != IGNORE).any()]
    if not rows:
        return None
    binary = predictions.tokens[rows[0]].shape[1] == 1
    word_scores, word_targets, evidence_rows = [], [], []
    for i in rows:
        scores, targets, labelled = predictions.tokens[i], items[i].targets, items[i].targets != IGNORE
        word_scores.append(scores[labelled, 0] if binary else scores[labelled])
        word_targets.append(targets[labelled])
        predicted = int(predictions.sentence[i].argmax())
        importance = importance_for(scores, predicted)
        evidence_rows.append({"importance": importance, "gold": targets == items[i].label})
    return {
        "annotated_rows": len(rows),
        "word_polarity": word_polarity(np.concatenate(word_scores), np.concatenate(word_targets)),
        "evidence": evidence(evidence_rows),
    }


def score(predictions: Predictions, items: list[Encoded], task: str, labels: list[str]) -> dict:
    """Metrics of `predictions` against the labels (and word targets) carried by `items`."""
    if task == "regression":
        metrics = regression_metrics(np.array([x.label for x in items], dtype=float), predictions.sentence.astype(float))
    elif task == "classification":
        y_true = np.array([x.label for x in items])
        metrics = classification_metrics(y_true, predictions.sentence.argmax(1), labels)
    else:
        y_true = np.concatenate([x.label for x in items])
        y_pred = np.concatenate([p.argmax(1) for p in predictions.tokens])
        # "Unseen" = out of the vocabulary, which holds every training word unless min_freq or
        # max_vocab dropped some.
        unseen = np.concatenate([x.ids == Vocabulary.unk_id for x in items])
        sentence_ids = np.repeat(np.arange(len(items)), [len(x.ids) for x in items])
        metrics = tagging_metrics(y_true, y_pred, unseen, sentence_ids, labels)
    if predictions.loss is not None:
        metrics["loss"] = predictions.loss
    if task == "classification":
        rationale = rationale_scores(predictions, items)
        if rationale is not None:
            metrics["rationale"] = rationale
    return metrics


def faithfulness_scores(model: TextModel, featurizer: Featurizer, examples: list[Example], predictions: Predictions,
                        batch_size: int, device: torch.device) -> dict:
    """ERASER comprehensiveness and sufficiency (AOPC) of the token scores as explanations: how much
    the predicted class's probability drops when the top-scored words are removed, or kept alone.
    Costs 11 extra passes over the data, so it runs at final evaluation only. A text left with no
    words is scored as a single unknown word."""

    def predict_proba(token_lists: list[list[str]]) -> np.ndarray:
        texts = [Example(tokens or [featurizer.vocab.itos[featurizer.vocab.unk_id]], None) for tokens in token_lists]
        items = featurizer.encode_all(texts, "faithfulness")
        return predict_items(model, items, featurizer.task, batch_size, device).sentence

    rows = []
    for i, example in enumerate(examples):
        scores, predicted = predictions.tokens[i], int(predictions.sentence[i].argmax())
        importance = importance_for(scores, predicted)
        rows.append({"tokens": example.tokens, "importance": importance, "label": predicted})
    return faithfulness(predict_proba, rows)


def evaluate_examples(model: TextModel, featurizer: Featurizer, examples: list[Example], items: list[Encoded],
                      batch_size: int, device: torch.device, objective: Objective | None = None,
                      with_faithfulness: bool = False) -> dict:
    """All metrics of `model` on labelled examples (and their encoded items)."""
    predictions = predict_items(model, items, featurizer.task, batch_size, device, objective)
    metrics = score(predictions, items, featurizer.task, featurizer.labels)
    if with_faithfulness and featurizer.task == "classification":
        metrics["faithfulness"] = faithfulness_scores(model, featurizer, examples, predictions, batch_size, device)
    return metrics
