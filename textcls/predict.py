"""Using a trained run: score a labelled CSV, or predict raw texts. A run is a `checkpoint.Run`
(torch, or onnx) or a `numpy_bag.NumpyRun` (see backends.py); with the latter nothing here imports
torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from textcls.data import Dataset, apply_lexicon, lexicon_part, load_datasets, read_csv, read_examples, read_lexicon
from textcls.errors import DataError, RunError
from textcls.files import atomic_write
from textcls.numpy_bag import NumpyRun
from textcls.predictions import score
from textcls.tasks.embedding import similarity
from textcls.tokenize import Tokens, tokenize_column

if TYPE_CHECKING:
    from textcls.checkpoint import Run

    AnyRun = Union[Run, NumpyRun]


def evaluate_file(
    run: AnyRun,
    path: str | Path,
    batch_size: int | None = None,
    lexicon: str | Path | None = None,
    lexicon_threshold: float | None = None,
    lexicon_words: str = "all",
    with_faithfulness: bool = False,
) -> dict:
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
    batch_size = batch_size or config.train.eval_batch_size
    if isinstance(run, NumpyRun):  # numpy, or the flat ONNX bag (faithfulness and reference splits are torch's)
        predictions = run.predict(items, batch_size, with_tokens=items.targets is not None, with_loss=True)
        metrics = score(predictions, items, task, run.labels)
    else:
        from textcls.evaluate import evaluate_examples
        from textcls.losses.objective import plain_objective

        objective = plain_objective(run.loss, task, len(run.labels))
        reference = None
        if task.reference_split:  # e.g. the training sentences whose neighbours are counted: read as training did
            reference = run.featurizer.encode(getattr(load_datasets(config, task), task.reference_split))
        metrics = evaluate_examples(
            run.model, run.featurizer, examples, items, batch_size, run.device, objective, with_faithfulness, reference
        )
    metrics["rows"] = len(items) // items.arity  # examples (a pair or a triplet counts once)
    return metrics


EMPTY_LINE = "empty line"  # the error of a blank (or whitespace-only) input line


def predict_texts(
    run: AnyRun,
    texts: list[str],
    batch_size: int = 4096,
    first_line: int = 1,
    top_k: int | None = None,
    as_json: bool = False,
) -> list[dict | bytes]:
    """One result per text, in order, as the run's task gives it (a label and probabilities, a value,
    or tags) with each token's score, and its input line number: `"line"`, from `first_line` on.
    A blank (or whitespace-only) text gives `{"line": n, "error": "empty line"}`, so results stay
    aligned with their input. `top_k` adds the k most probable classes
    (`"top_k": [{"label", "probability"}, ...]`) where there are class probabilities. `as_json`:
    results may come as their JSON lines (bytes, without the newline) where the task writes them
    from columns (Task.json_lines), the same bytes orjson makes of the dicts."""
    tokens = tokenize_column(texts, run.featurizer.tokenizer)
    empty = np.flatnonzero(tokens.lengths == 0)
    lines = np.arange(first_line, first_line + len(texts))
    if not len(empty):
        return _predict_tokens(run, texts, tokens, lines, batch_size, top_k, as_json)
    stray = next((i for i in empty.tolist() if texts[i].strip()), None)
    if stray is not None:  # (the tokenizers give every visible character a token; kept as a guard)
        raise DataError(f"input {first_line + stray}: no tokens in {texts[stray]!r}")
    results: list = [None] * len(texts)
    for i in empty.tolist():
        results[i] = {"line": first_line + i, "error": EMPTY_LINE}
    kept = np.flatnonzero(tokens.lengths)
    if len(kept):  # blank rows hold no tokens: dropping them leaves the codes as they are, only fewer offsets
        rows = Tokens(tokens.codes, np.append(tokens.offsets[kept], tokens.offsets[-1]), tokens.types)
        kept_texts = [texts[i] for i in kept.tolist()]
        predicted = _predict_tokens(run, kept_texts, rows, first_line + kept, batch_size, top_k, as_json)
        for i, result in zip(kept.tolist(), predicted):
            results[i] = result
    return results


def _predict_tokens(
    run: AnyRun,
    texts: list[str],
    tokens: Tokens,
    lines: np.ndarray,
    batch_size: int,
    top_k: int | None,
    as_json: bool = False,
) -> list[dict | bytes]:
    """predict_texts for texts that all have tokens; `lines`: (n,) each text's line number."""
    task = run.task
    dataset = Dataset("input", tokens, lines)
    predictions = run.predict(run.featurizer.encode(dataset), batch_size, with_tokens=task.token_scores)
    if as_json and task.json_lines is not None and not top_k:
        return task.json_lines(predictions, texts, tokens, run.labels, lines)
    # Whole arrays become Python lists once; each row is then a slice (no NumPy call per row).
    words = np.asarray(tokens.types, dtype=object)[tokens.codes].tolist()
    cuts = tokens.offsets.tolist()
    spans = [slice(cuts[i], cuts[i + 1]) for i in range(len(texts))]
    results = task.predict_results(predictions, texts, words, spans, tokens, run.labels)
    for result, line in zip(results, lines.tolist()):
        result["line"] = line
    if top_k:
        if results and not isinstance(results[0].get("probabilities"), dict):
            raise RunError(f"--top-k needs class probabilities; task '{task.name}' gives none")
        for result in results:
            ranked = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])[:top_k]
            result["top_k"] = [{"label": label, "probability": p} for label, p in ranked]
    return results


def result_columns(result: dict, word_scores: bool = False) -> dict[str, str | float]:
    """A prediction as CSV cells: the label (or labels, tags, value, score) and its probability;
    multi-label: one probability column per label; with `word_scores`, "word:score" pairs."""
    cells = {}
    for key, value in result.items():
        if key in ("line", "text", "tokens", "token_scores", "top_k", "entities"):
            continue
        if isinstance(value, dict):  # class probabilities
            if "label" in result:
                cells["probability"] = value[result["label"]]
            else:
                cells.update({f"probability_{label}": p for label, p in value.items()})
        elif isinstance(value, list):
            sep = "|" if key == "labels" else " "
            cells[key] = sep.join(map(str, value))
        else:
            cells[key] = value
    if word_scores and "token_scores" in result:
        cells["word_scores"] = " ".join(f"{w}:{s}" for w, s in zip(result["tokens"], result["token_scores"]))
    return cells


def predict_frame(run: AnyRun, frame, column: str, source: str, word_scores: bool = False, batch_size: int = 8192):
    """`frame` (a CSV read as text) with the prediction columns of its `column`'s texts after its own."""
    import pandas as pd

    texts = frame[column].tolist()
    empty = next((i for i, t in enumerate(texts) if not t.strip()), None)
    if empty is not None:
        raise DataError(f"{source}, row {empty + 1}, column '{column}': empty text")
    cells = []
    for start in range(0, len(texts), batch_size):
        results = predict_texts(run, texts[start : start + batch_size], batch_size, first_line=start + 1)
        cells += [result_columns(r, word_scores) for r in results]
    predicted = pd.DataFrame(cells, index=frame.index)
    clash = [c for c in predicted.columns if c in frame.columns]
    return pd.concat([frame, predicted.rename(columns={c: f"predicted_{c}" for c in clash})], axis=1)


def write_predictions(run: AnyRun, path: str | Path, out: str | Path) -> None:
    """Each row of a labelled CSV: its text, its gold label (as the CSV gives it) and the prediction
    columns (`result_columns`), written to `out` as CSV."""
    data = run.config.data
    if data.text_pair_column or data.anchor_column:
        raise RunError("--predictions: a run trained on pairs or triplets has no prediction per row")
    frame = read_csv(path, [data.text_column, data.label_column], data.delimiter)[[data.text_column, data.label_column]]
    frame = frame.rename(columns={data.label_column: "gold"})
    atomic_write(Path(out), lambda p: predict_frame(run, frame, data.text_column, str(path)).to_csv(p, index=False))


def embed_texts(run: Run, texts: list[str], batch_size: int = 4096, first_line: int = 1) -> np.ndarray:
    """(n, D) the sentence embedding of each text (L2-normalised when the run's model.normalize is
    set): the vector the model's last layer reads, for any sentence model."""
    tokens = tokenize_column(texts, run.featurizer.tokenizer)
    empty = np.flatnonzero(tokens.lengths == 0)
    if len(empty):
        raise DataError(f"input {first_line + empty[0]}: no tokens in {texts[empty[0]]!r}")
    import torch

    from textcls.batching import Batch
    from textcls.sampling import batch_order

    items = run.featurizer.encode(Dataset("input", tokens, np.arange(first_line, first_line + len(texts))))
    run.model.eval()
    out = None
    with torch.inference_mode():
        for rows in batch_order(items.lengths, batch_size, None, bucket=True):
            vectors = run.model(Batch.of(items, rows).to(run.device)).embedding
            if vectors is None:
                raise RunError(f"{run.dir}: a {run.task.name} model gives no sentence embedding")
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors.float().cpu().numpy()
    return out


def similarities(run: Run, first: list[str], second: list[str], batch_size: int = 4096) -> np.ndarray:
    """(n,) how similar first[i] and second[i] are, by the run's loss.distance: the cosine, or
    minus the euclidean distance (higher is more similar either way)."""
    vectors = embed_texts(run, first + second, batch_size)
    return similarity(
        vectors[: len(first)].astype(np.float64), vectors[len(first) :].astype(np.float64), run.config.loss.distance
    )
