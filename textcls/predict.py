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


def predict_texts(run: Run, texts: list[str], batch_size: int = 4096, first_line: int = 1) -> list[dict]:
    """One result per text: the label and probabilities (or value, or tags) and each token's score.
    `first_line` numbers the texts in error messages."""
    task = run.config.task
    tokens = tokenize_column(texts, run.featurizer.tokenizer)
    empty = np.flatnonzero(tokens.lengths == 0)
    if len(empty):
        raise DataError(f"input {first_line + empty[0]}: no tokens in {texts[empty[0]]!r}")
    dataset = Dataset("input", tokens, np.arange(first_line, first_line + len(texts)))
    predictions = predict_items(run.model, run.featurizer.encode(dataset), task, batch_size, run.device)
    # Whole arrays become Python lists once; each row is then a slice (no NumPy call per row).
    words = np.asarray(tokens.types, dtype=object)[tokens.codes].tolist()
    cuts = tokens.offsets.tolist()
    spans = [slice(cuts[i], cuts[i + 1]) for i in range(len(texts))]
    if task == "tagging":
        best = predictions.tokens.argmax(1)
        tags = np.asarray(run.labels, dtype=object)[best].tolist()
        confidence = predictions.tokens[np.arange(len(best)), best].tolist()
        return [{"text": text, "tokens": words[s], "tags": tags[s], "probabilities": confidence[s]}
                for text, s in zip(texts, spans)]
    if task == "regression":
        values = predictions.sentence.astype(float).tolist()
        scores = predictions.tokens[:, 0].astype(float).round(4).tolist()
        return [{"text": text, "tokens": words[s], "value": value, "token_scores": scores[s]}
                for text, s, value in zip(texts, spans, values)]
    probs = predictions.sentence
    label = probs.argmax(1)
    # Evidence for the predicted class: the signed logit with one output, else that class's score.
    if predictions.tokens.shape[1] == 1:
        evidence = predictions.tokens[:, 0]
    else:
        evidence = predictions.tokens[np.arange(len(tokens.codes)), label[tokens.row_of]]
    scores = evidence.astype(float).round(4).tolist()
    names = np.asarray(run.labels, dtype=object)[label].tolist()
    rounded = probs.astype(float).round(6).tolist()
    return [{"text": text, "tokens": words[s], "label": name, "probabilities": dict(zip(run.labels, p)), "token_scores": scores[s]}
            for text, s, name, p in zip(texts, spans, names, rounded)]
