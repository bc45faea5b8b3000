"""Running a model over encoded data and scoring what it predicts."""

from __future__ import annotations

import numpy as np
import torch

from textcls.batching import Batch
from textcls.data import Example
from textcls.encoded import Encoded
from textcls.features import Featurizer
from textcls.losses.objective import Objective
from textcls.models.base import TextModel
from textcls.predictions import Predictions, importance_for, score
from textcls.rationale_metrics import faithfulness
from textcls.sampling import batch_order
from textcls.tasks import Task


def predict_items(
    model: TextModel,
    items: Encoded,
    task: Task,
    batch_size: int,
    device: torch.device,
    objective: Objective | None = None,
    with_tokens: bool = True,
) -> Predictions:
    """Runs the model over every row. Token outputs are computed only `with_tokens` (always for a
    task labelled per token); the mean loss only with an `objective`, for labelled rows."""
    model.eval()
    with_tokens = with_tokens or task.per_token
    sentence_out = None
    token_out = None
    loss_sum, loss_weight = 0.0, 0
    transitions = None  # a CRF tagger's transition scores, which decoding needs
    with torch.inference_mode():
        for rows in batch_order(items.lengths, batch_size, None, bucket=True, arity=items.arity):
            batch = Batch.of(items, rows).to(device)
            output = model(batch)
            if output.crf is not None and transitions is None:
                transitions = tuple(t.float().cpu().numpy() for t in output.crf.scores())
            if objective is not None:  # (given only with labelled rows)
                weight = int(objective.weight(batch))
                loss_sum += float(objective.main(output, batch)) * weight
                loss_weight += weight
            if with_tokens:
                tokens = task.token_outputs(output.flat_tokens.double().cpu().numpy())
                if token_out is None:
                    token_out = np.zeros((len(items.ids), tokens.shape[1]), dtype=np.float32)
                token_out[batch.index] = tokens
            sentence = output.embedding if task.sentence_source == "embedding" else output.sentence
            if sentence is not None:
                sentence = task.sentence_outputs(sentence.double().cpu().numpy())
                if sentence_out is None:
                    sentence_out = np.zeros((len(items), *sentence.shape[1:]), dtype=np.float32)
                sentence_out[rows] = sentence
    return Predictions(
        sentence_out, token_out, items.offsets, loss_sum / loss_weight if loss_weight else None, transitions
    )


def faithfulness_scores(
    model: TextModel, featurizer: Featurizer, examples, predictions: Predictions, batch_size: int, device: torch.device
) -> dict:
    """ERASER comprehensiveness and sufficiency (AOPC) of the token scores as explanations: how much
    the predicted class's probability drops when the top-scored words are removed, or kept alone.
    Costs 11 extra passes over the data, so it runs only when asked for. A text left with no words
    is scored as a single unknown word."""

    def predict_proba(token_lists: list[list[str]]) -> np.ndarray:
        texts = [Example(tokens or [featurizer.vocab.itos[featurizer.vocab.unk_id]], None) for tokens in token_lists]
        return predict_items(
            model, featurizer.encode_all(texts, "faithfulness"), featurizer.task, batch_size, device, with_tokens=False
        ).sentence

    rows = []
    for i, example in enumerate(examples):
        predicted = int(predictions.sentence[i].argmax())
        rows.append(
            {
                "tokens": example.tokens,
                "importance": importance_for(predictions.row_tokens(i), predicted),
                "label": predicted,
            }
        )
    return faithfulness(predict_proba, rows)


def evaluate_examples(
    model: TextModel,
    featurizer: Featurizer,
    examples,
    items: Encoded,
    batch_size: int,
    device: torch.device,
    objective: Objective | None = None,
    with_faithfulness: bool = False,
    reference: Encoded | None = None,
) -> dict:
    """All metrics of `model` on labelled rows (a Dataset, and its encoded form). `reference`: the
    encoded rows of the task's reference split, when it has one."""
    task = featurizer.task
    needs_tokens = items.targets is not None or with_faithfulness
    predictions = predict_items(model, items, task, batch_size, device, objective, with_tokens=needs_tokens)
    if reference is not None:
        reference = (predict_items(model, reference, task, batch_size, device, with_tokens=False), reference)
    metrics = score(predictions, items, task, featurizer.labels, reference)
    if with_faithfulness and task.explains:
        metrics["faithfulness"] = faithfulness_scores(model, featurizer, examples, predictions, batch_size, device)
    return metrics
