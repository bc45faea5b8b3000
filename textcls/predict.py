"""Using a trained run: score a labelled CSV, or predict raw texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textcls.checkpoint import Run
from textcls.data import Example, apply_lexicon, held_out, read_examples, read_lexicon
from textcls.errors import DataError
from textcls.evaluate import evaluate_examples, predict_items
from textcls.losses import plain_objective


def evaluate_file(run: Run, path: str | Path, batch_size: int | None = None, lexicon: str | Path | None = None,
                  lexicon_threshold: float | None = None, lexicon_words: str = "all", with_faithfulness: bool = True) -> dict:
    """Metrics of a run's model on a labelled CSV with the columns it was trained on.

    Word targets come from the CSV's rationale column and from a lexicon: the run's own, or another
    one given here (scoring against the lexicon a model was trained on is circular).
    `lexicon_words`: "all", or "heldout" for only the words the run withheld from training
    (data.lexicon_holdout).
    """
    config = run.config
    tokenizer = run.featurizer.tokenizer
    examples = read_examples(path, config.data, config.task, tokenizer)
    lexicon_path = lexicon or config.data.lexicon
    if lexicon_path:
        threshold = config.data.lexicon_threshold if lexicon_threshold is None else lexicon_threshold
        words = read_lexicon(lexicon_path, threshold, config.data.lowercase)
        if lexicon_words == "heldout":
            words = {w: t for w, t in words.items() if held_out(w, config.data.lexicon_holdout)}
        apply_lexicon(examples, words, tokenizer)
    items = run.featurizer.encode_all(examples, str(path))
    objective = plain_objective(config.loss, config.task, run.loss_name, len(run.labels))
    metrics = evaluate_examples(run.model, run.featurizer, examples, items, batch_size or config.train.eval_batch_size,
                                run.device, objective, with_faithfulness)
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
            result["token_scores"] = [round(float(x), 4) for x in token_scores[:, 0]]
        else:
            probs = predictions.sentence[i]
            label = int(np.argmax(probs))
            result["label"] = run.labels[label]
            result["probabilities"] = {name: round(float(p), 6) for name, p in zip(run.labels, probs)}
            # Evidence for the predicted class: the signed logit with one output, else that class's score.
            evidence = token_scores[:, 0] if token_scores.shape[1] == 1 else token_scores[:, label]
            result["token_scores"] = [round(float(x), 4) for x in evidence]
        results.append(result)
    return results
