"""The bag of words without torch: a trained run's sentence model as numpy arrays, for `predict`
and `eval` (`--backend numpy`, and `auto` where the run allows it). Neither torch nor numba is
imported here.

The head is linear, so every feature's vector is scored once, at load: S = E Wᵀ, (F, C), in
float64. A sentence's logits are then the mean of its features' scores plus the bias, and a
token's score its own feature's score plus 1/n of each n-gram of n words it is in: the arithmetic
of `BagOfWords` (textcls/models/bow/bag.py), C numbers a look-up instead of D.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textcls.checkpoint_files import WEIGHTS, checkpoint_dir
from textcls.config import Config
from textcls.data import make_tokenizer
from textcls.encoded import IGNORE, Encoded
from textcls.errors import RunError
from textcls.features import Featurizer
from textcls.losses.registry import options_of
from textcls.losses.spec import LossOptions
from textcls.predictions import Predictions
from textcls.run_folder import RunFiles, check_feature_count, damaged, read_run_files, read_task_state
from textcls.tasks import Task, task_of

TASKS = ("classification", "multilabel", "regression", "ranking")  # the sentence tasks served
PLAIN_LOSSES = ("bce", "ce", "mse", "l1", "huber")  # whose plain mean `plain_loss` computes (eval's loss)


def unsupported(config: Config, info: dict) -> str | None:
    """Why the numpy backend cannot run a run (the setting that rules it out), or None."""
    model = config.model
    reasons = [
        (model.type != "bow", f"model.type is {model.type} (numpy runs the bag of words)"),
        (config.task not in TASKS, f"the task is {config.task} (numpy runs {', '.join(TASKS)})"),
        (getattr(model, "char_encoder", "none") != "none", f"model.char_encoder is {model.char_encoder}"),
        (bool(model.lexicon_features), "model.lexicon_features is set"),
        (bool(info.get("log_softmax")), f"loss {info.get('loss')} ends the model in log-softmax"),
    ]
    return next((why for failed, why in reasons if failed), None)


class NumpyBag:
    """The bag of words' forward pass from its weights: embedding.weight E (F, D), token_head.weight
    W (C, D), bias b (C,)."""

    def __init__(self, E: np.ndarray, W: np.ndarray, b: np.ndarray):
        # (F, C) every feature's score: one float32 product, as the PyTorch model computes it, kept in
        # float64 for the sums over a row's features
        with np.errstate(all="ignore"):  # (weights that are not finite are refused after, in one line)
            self.scores = (E @ W.T).astype(np.float64)
        self.bias = b.astype(np.float64)

    def not_finite(self, W: np.ndarray) -> str | None:
        """The weight that is not finite, if one is: a value of E that is not finite makes its
        scores not finite (inf x 0 is nan), so the (F, C) scores stand for the (F, D) table."""
        checks = [("token_head.weight", W), ("bias", self.bias), ("embedding.weight", self.scores)]
        return next((name for name, a in checks if a.size and not np.isfinite(a).all()), None)

    def subword_scores(self, items: Encoded) -> tuple[np.ndarray, np.ndarray] | None:
        """((U, C) the summed scores of each distinct word's character n-grams, (U,) how many it
        has), or None without character n-grams."""
        sub = items.subwords
        if sub is None:
            return None
        counts = np.diff(sub.offsets)
        sums = np.zeros((len(counts), self.scores.shape[1]))
        has = counts > 0
        if has.any():  # (the starts of the words that have n-grams: each sum runs to the next one's start)
            sums[has] = np.add.reduceat(self.scores[sub.values], sub.offsets[:-1][has], axis=0)
        return sums, counts

    def forward(
        self, items: Encoded, with_tokens: bool = False, subwords: tuple | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """((R, C) sentence logits, (N, C) token scores or None) of rows that all have tokens;
        `subwords`: `subword_scores` of the table `items.word_types` points into."""
        S, starts = self.scores, items.offsets[:-1]
        words = S[items.ids]  # (N, C)
        if items.word_types is not None:  # a word's score: the mean of its own and its character n-grams'
            sums, counts = subwords if subwords is not None else self.subword_scores(items)
            words = (words + sums[items.word_types]) / (1 + counts[items.word_types])[:, None]
        total = np.add.reduceat(words, starts, axis=0)  # (R, C)
        units = np.diff(items.offsets).astype(np.float64)  # (R,) words + n-grams averaged over
        tokens = words if with_tokens else None
        if items.ngrams is not None:
            present = items.ngrams != 0  # (N, K): an n-gram never runs past its row
            grams = S[items.ngrams] * present[..., None]  # (N, K, C)
            total += np.add.reduceat(grams.sum(1), starts, axis=0)
            units += np.add.reduceat(present.sum(1), starts)
            if with_tokens:
                tokens = words.copy()
                for k in range(items.ngrams.shape[1]):
                    n = k + 2
                    share = grams[:, k] / n  # each of its n words gets 1/n of an n-gram's score
                    for offset in range(n):
                        tokens[offset:] += share[: len(share) - offset]
        return total / units[:, None] + self.bias, tokens


@dataclass
class NumpyRun:
    """A trained bag-of-words run loaded without torch: what `predict` and `eval` read of a
    `checkpoint.Run`, and `predict` in place of its model (a NumpyBag, or an onnx_bag.OnnxBag)."""

    dir: Path
    config: Config
    featurizer: Featurizer
    model: NumpyBag
    loss: LossOptions
    backend: str = "numpy"

    @property
    def labels(self) -> list[str]:
        return self.featurizer.labels

    @property
    def task(self) -> Task:
        return self.featurizer.task

    def predict(self, items: Encoded, batch_size: int, with_tokens: bool = False, with_loss: bool = False):
        """The task's Predictions of every row (`with_loss`: the plain mean loss of the labelled
        rows, for the losses `plain_loss` computes), `batch_size` rows at a time."""
        task = self.task
        sentence, tokens, logits = [], [], []
        subwords = self.model.subword_scores(items)  # (once: every batch's words point into one table)
        for start in range(0, len(items), batch_size):
            part = _rows(items, slice(start, min(start + batch_size, len(items))))
            z, token_scores = self.model.forward(part, with_tokens, subwords)
            sentence.append(task.sentence_outputs(z).astype(np.float32))
            if with_tokens:
                tokens.append(task.token_outputs(token_scores).astype(np.float32))
            if with_loss:
                logits.append(z)
        loss = None
        if with_loss and items.labels is not None:
            loss = plain_loss(self.loss, np.concatenate(logits), items.labels)
        return Predictions(
            np.concatenate(sentence) if sentence else np.zeros((0,), np.float32),
            np.concatenate(tokens) if with_tokens else None,
            items.offsets,
            loss,
        )


def _rows(items: Encoded, rows: slice) -> Encoded:
    """Rows `rows` (a range) of `items`: views, offsets from 0, word types still pointing into the
    whole table of distinct words."""
    first, last = items.offsets[rows.start], items.offsets[rows.stop]
    cut = lambda a: None if a is None else a[first:last]
    return Encoded(
        items.offsets[rows.start : rows.stop + 1] - first,
        items.ids[first:last],
        ngrams=cut(items.ngrams),
        word_types=cut(items.word_types),
        subwords=items.subwords,
    )


def plain_loss(loss: LossOptions, logits: np.ndarray, labels: np.ndarray) -> float | None:
    """The plain mean loss (`plain_objective`'s: no class weights or pos_weight) of (R, C) logits
    over the labelled rows, for PLAIN_LOSSES (ce with its label smoothing); None for others."""
    if labels.ndim == 1 and labels.dtype.kind == "i":  # class indices: IGNORE where a row has none
        keep = labels != IGNORE
        logits, labels = logits[keep], labels[keep]
    if not len(labels):
        return None
    if loss.name == "bce":
        z = logits if labels.ndim == 2 else logits[:, 0]  # (R, L) multi-label, or one logit
        return float(np.mean(np.maximum(z, 0) - z * labels + np.log1p(np.exp(-np.abs(z)))))
    if loss.name == "ce":
        log_p = logits - logits.max(1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
        nll = -log_p[np.arange(len(labels)), labels]
        eps = loss.label_smoothing
        return float(np.mean((1 - eps) * nll - eps * log_p.mean(1)))
    error = logits[:, 0] - labels
    if loss.name == "mse":
        return float(np.mean(error**2))
    if loss.name == "l1":
        return float(np.mean(np.abs(error)))
    if loss.name == "huber":
        a, delta = np.abs(error), loss.beta
        return float(np.mean(np.where(a < delta, 0.5 * error**2, delta * (a - 0.5 * delta))))
    return None


def load_numpy_run(
    run_dir: str | Path, checkpoint: str = "best", calibrated: bool = True, files: RunFiles | None = None
) -> NumpyRun:
    """The bag-of-words run in `run_dir` (see `checkpoint.load_run`: the same checks of every file,
    the weights' sha256 among them), with what its task tuned on validation unless `calibrated` is
    False (`files`: its files, when read already). A run numpy cannot run is a RunError naming why."""
    run_dir = Path(run_dir)
    files = files or read_run_files(run_dir)
    why = unsupported(files.config, files.info)
    if why is not None:
        raise RunError(f"{run_dir}: --backend numpy runs bag-of-words sentence models: {why}; use --backend torch")
    folder = checkpoint_dir(run_dir, checkpoint, hashed=(WEIGHTS,))
    state = read_task_state(run_dir, files.labels)
    if not calibrated:
        state.pop("temperature", None)
    task = task_of(files.config, state)
    tokenizer = make_tokenizer(files.config.data, task)
    featurizer = Featurizer(task, files.config.model, tokenizer, files.vocab, files.labels)
    weights = _weights(files, run_dir, folder)
    model = NumpyBag(weights["embedding.weight"], weights["token_head.weight"], weights["bias"])
    bad = model.not_finite(weights["token_head.weight"])
    if bad is not None:
        raise RunError(f"{folder / WEIGHTS}: weight '{bad}' is not finite (the run diverged): train it again")
    check_feature_count(run_dir, files, featurizer.num_features)
    return NumpyRun(run_dir, files.config, featurizer, model, options_of(files.config.loss, files.info["loss"]))


def _weights(files: RunFiles, run_dir: Path, folder: Path) -> dict[str, np.ndarray]:
    """The checkpoint's weights: the shapes in the file's header compared with what model.json and
    config.yaml describe before any weight is read, then every weight checked finite."""
    from safetensors import safe_open

    rel = str((folder / WEIGHTS).relative_to(run_dir))
    D, C = files.config.model.embedding_dim, files.info["outputs"]
    expected = {"embedding.weight": (files.info["num_features"], D), "token_head.weight": (C, D), "bias": (C,)}
    try:
        with safe_open(str(folder / WEIGHTS), framework="numpy") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            if shapes.get("embedding.weight") != expected["embedding.weight"]:  # (checkpoint.trained_model's words)
                raise damaged(
                    run_dir,
                    rel,
                    f"'embedding.weight' has shape {shapes.get('embedding.weight')} where model.json's num_features "
                    f"and config.yaml's model.embedding_dim describe {expected['embedding.weight']}",
                )
            for key in expected.keys() | shapes.keys():
                if expected.get(key) != shapes.get(key):
                    raise damaged(
                        run_dir,
                        rel,
                        f"'{key}' has shape {shapes.get(key)} where model.json and config.yaml describe "
                        f"{expected.get(key)}",
                    )
        return _mapped(folder / WEIGHTS, expected)
    except RunError:
        raise
    except Exception as exc:  # safetensors raises its own error type for a damaged file
        raise damaged(run_dir, rel, f"not a readable weight file ({exc})") from None


def _mapped(path: Path, shapes: dict[str, tuple]) -> dict[str, np.ndarray]:
    """The float32 tensors `shapes` names, memory-mapped read-only from a safetensors file whose
    header safetensors has checked (8 bytes of header length, the JSON header, then the data):
    no copy of the table, whose pages the score product reads once."""
    import json

    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(length))
    out = {}
    for name, shape in shapes.items():
        entry = header[name]
        if entry["dtype"] != "F32":
            raise ValueError(f"'{name}' is {entry['dtype']}, not F32")
        begin, _ = entry["data_offsets"]
        out[name] = np.memmap(path, dtype="<f4", mode="r", offset=8 + length + begin, shape=shape)
    return out
