"""Using a trained run: score a labelled CSV, or predict raw texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textcls.checkpoint import Run
from textcls.data import Dataset, apply_lexicon, held_out, read_examples, read_lexicon
from textcls.errors import DataError
from textcls.evaluate import evaluate_examples, predict_items
from textcls.losses import plain_objective
from textcls.tokenize import tokenize_column


def evaluate_file(run: Run, path: str | Path, batch_size: int | None = None, lexicon: str | Path | None = None,
                  lexicon_threshold: float | None = None, lexicon_words: str = "all", with_faithfulness: bool = False) -> dict:
    """Metrics of a run's model on a labelled CSV with the columns it was trained on.

    Word targets come from the CSV's rationale column and from a lexicon: the run's own, or another
    one given here (scoring against the lexicon a model was trained on is circular).
    `lexicon_words`: "all", or "heldout" for only the words the run withheld from training
    (data.lexicon_holdout). `with_faithfulness` adds comprehensiveness and sufficiency (11 extra passes).
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
    items = run.featurizer.encode(examples)
    objective = plain_objective(config.loss, config.task, run.loss_name, len(run.labels))
    metrics = evaluate_examples(run.model, run.featurizer, examples, items, batch_size or config.train.eval_batch_size,
                                run.device, objective, with_faithfulness)
    metrics["rows"] = len(items)
    return metrics


def predict_texts(run: Run, texts: list[str], batch_size: int = 256, first_line: int = 1) -> list[dict]:
    """One result per text: the label and probabilities (or value, or tags) and each token's score.
    `first_line` numbers the texts in error messages."""
    task = run.config.task
    tokens = tokenize_column(texts, run.featurizer.tokenizer)
    empty = np.flatnonzero(tokens.lengths == 0)
    if len(empty):
        raise DataError(f"input {first_line + empty[0]}: no tokens in {texts[empty[0]]!r}")
    dataset = Dataset("input", tokens, np.arange(first_line, first_line + len(texts)))
    predictions = predict_items(run.model, run.featurizer.encode(dataset), task, batch_size, run.device)
    scores = predictions.tokens.round(4) if task != "tagging" else predictions.tokens
    results = []
    for i, text in enumerate(texts):
        result = {"text": text, "tokens": tokens.row(i)}
        token_scores = scores[tokens.offsets[i] : tokens.offsets[i + 1]]
        if task == "tagging":
            best = token_scores.argmax(1)
            result["tags"] = [run.labels[j] for j in best]
            result["probabilities"] = token_scores[np.arange(len(best)), best].tolist()
        elif task == "regression":
            result["value"] = float(predictions.sentence[i])
            result["token_scores"] = token_scores[:, 0].tolist()
        else:
            probs = predictions.sentence[i]
            label = int(np.argmax(probs))
            result["label"] = run.labels[label]
            result["probabilities"] = {name: round(float(p), 6) for name, p in zip(run.labels, probs)}
            # Evidence for the predicted class: the signed logit with one output, else that class's score.
            evidence = token_scores[:, 0] if token_scores.shape[1] == 1 else token_scores[:, label]
            result["token_scores"] = evidence.tolist()
        results.append(result)
    return results
