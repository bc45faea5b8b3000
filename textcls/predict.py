"""Using a trained run: score a labelled CSV, or predict raw texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textcls.checkpoint import Run
from textcls.data import Dataset, apply_lexicon, lexicon_part, read_examples, read_lexicon
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
    config, task = run.config, run.task
    tokenizer = run.featurizer.tokenizer
    examples = read_examples(path, config.data, task, tokenizer)
    lexicon_path = lexicon or config.data.lexicon
    if lexicon_path:
        threshold = config.data.lexicon_threshold if lexicon_threshold is None else lexicon_threshold
        words = read_lexicon(lexicon_path, threshold, config.data.lowercase)
        if lexicon_words == "heldout":
            words = lexicon_part(words, config.data.lexicon_holdout, "heldout")
        apply_lexicon(examples, words, tokenizer)
    items = run.featurizer.encode(examples)
    objective = plain_objective(config.loss, task, run.loss_name, len(run.labels))
    metrics = evaluate_examples(run.model, run.featurizer, examples, items, batch_size or config.train.eval_batch_size,
                                run.device, objective, with_faithfulness)
    metrics["rows"] = len(items)
    return metrics


def predict_texts(run: Run, texts: list[str], batch_size: int = 4096, first_line: int = 1) -> list[dict]:
    """One result per text, as the run's task gives it (a label and probabilities, a value, or tags)
    with each token's score. `first_line` numbers the texts in error messages."""
    task = run.task
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
    return task.predict_results(predictions, texts, words, spans, tokens, run.labels)
