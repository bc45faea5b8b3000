"""Using a trained run: score a labelled CSV, or predict raw texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textcls.checkpoint import Run
from textcls.data import Example, read_examples
from textcls.errors import DataError
from textcls.evaluate import predict_items, score
from textcls.losses import LOSSES


def evaluate_file(run: Run, path: str | Path, batch_size: int | None = None) -> dict:
    """Metrics of the run's best model on a labelled CSV with the training config's columns."""
    config = run.config
    examples = read_examples(path, config.data, config.task, run.featurizer.tokenizer)
    items = run.featurizer.encode_all(examples, str(path))
    from collections import Counter

    from textcls.losses import Objective

    main = LOSSES[run.loss_name][0](config.loss, Counter(), len(run.labels))  # unweighted: a plain mean loss
    objective = Objective(config.task, main, config.loss.rationale, None, [])
    predictions = predict_items(run.model, items, config.task, batch_size or config.train.eval_batch_size, run.device, objective)
    metrics = score(predictions, items, config.task, run.labels)
    metrics["rows"] = len(items)
    return metrics


def predict_texts(run: Run, texts: list[str], batch_size: int = 256) -> list[dict]:
    """One result per text: the label and probabilities (or value, or tags) and each token's score."""
    tokenizer, task = run.featurizer.tokenizer, run.config.task
    examples = []
    for i, text in enumerate(texts):
        tokens = tokenizer.split(text)
        if not tokens:
            raise DataError(f"input {i + 1}: no tokens in {text!r}")
        examples.append(Example(tokens, None, i + 1))
    items = run.featurizer.encode_all(examples, "input")
    predictions = predict_items(run.model, items, task, batch_size, run.device)
    results = []
    for i, (text, example) in enumerate(zip(texts, examples)):
        result = {"text": text, "tokens": example.tokens}
        token_scores = predictions.tokens[i]
        if task == "tagging":
            best = token_scores.argmax(1)
            result["tags"] = [run.labels[j] for j in best]
            result["probabilities"] = [float(token_scores[t, j]) for t, j in enumerate(best)]
        elif task == "regression":
            result["value"] = float(predictions.sentence[i])
            result["token_scores"] = token_scores[:, 0].round(4).tolist()
        else:
            probs = predictions.sentence[i]
            label = int(np.argmax(probs))
            result["label"] = run.labels[label]
            result["probabilities"] = {name: round(float(p), 6) for name, p in zip(run.labels, probs)}
            # Evidence for the predicted class: the signed logit with one output, else that class's score.
            evidence = token_scores[:, 0] if token_scores.shape[1] == 1 else token_scores[:, label]
            result["token_scores"] = evidence.round(4).tolist()
        results.append(result)
    return results
