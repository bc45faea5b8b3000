"""Sentence embeddings: the model's sentence vector (`ModelOutput.embedding`), trained so that
similar sentences lie close together. Three kinds of data, chosen by the data config:

    pairs     data.text_column + data.text_pair_column, the label column saying whether the two are
              similar (data.similar_label) -> loss contrastive
    triplets  data.anchor_column, data.positive_column, data.negative_column -> loss triplet
    classes   data.text_column + a class label column; triplets mined in each batch -> loss triplet
              (train.classes_per_batch x train.per_class batches make sure each class meets its own)
"""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np

from textcls.encoded import IGNORE
from textcls.errors import ConfigError, DataError
from textcls.metrics import roc_auc
from textcls.sampling import Shuffler, batch_order
from textcls.tasks.base import Task, class_stats, encode_classes
from textcls.vocab import build_labels

SIMILAR, DISSIMILAR = "similar", "dissimilar"  # the label set of pairs (dissimilar = 0, similar = 1)
KNN = 10  # neighbours that vote in knn_accuracy


class Embedding(Task):
    name = "embedding"
    token_scores = False
    exports = False  # its output is a vector per sentence, which the exported model's outputs do not carry
    reads = (
        "data.text_pair_column",
        "data.similar_label",
        "data.anchor_column",
        "data.positive_column",
        "data.negative_column",
        "train.classes_per_batch",
        "train.per_class",
        "model.normalize",
    )
    kind, similar_label = "classes", "1"  # pairs, triplets or classes: set by `bind`
    distance = "euclidean"

    def bind(self, config, state):
        bound = copy.copy(self)
        bound.threshold = state.get("threshold")  # pairs: tuned on validation
        bound.similar_label = config.data.similar_label
        data = config.data
        bound.kind = "pairs" if data.text_pair_column else "triplets" if data.anchor_column else "classes"
        bound.has_classes = bound.kind == "classes"  # pairs and triplets have a similarity, or nothing, per row
        bound.distance, bound.per_batch = config.loss.distance, (config.train.classes_per_batch, config.train.per_class)
        bound.monitors = {
            "pairs": ("roc_auc", "accuracy", "loss"),
            "triplets": ("triplet_accuracy", "loss"),
            "classes": ("recall_at_1", "knn_accuracy", "recall_at_5", "loss"),
        }[bound.kind]
        bound.reference_split = "train" if bound.kind == "classes" else None
        if bound.kind == "triplets" and not (data.positive_column and data.negative_column):
            raise ConfigError("data.anchor_column needs data.positive_column and data.negative_column")
        if bound.kind == "triplets" and config.loss.mining != type(config.loss).model_fields["mining"].default:
            raise ConfigError(
                "loss.mining chooses triplets among class labels; with given triplets there is nothing to mine"
            )
        if any(bound.per_batch) and (bound.kind != "classes" or not all(bound.per_batch)):
            raise ConfigError(
                "train.classes_per_batch and train.per_class go together, with class labels (not pairs or triplets)"
            )
        return bound

    # --- data ------------------------------------------------------------------------------------

    def columns(self, data):
        if self.kind == "pairs":
            return [data.text_column, data.text_pair_column], data.label_column
        if self.kind == "triplets":
            return [data.anchor_column, data.positive_column, data.negative_column], None
        return [data.text_column], data.label_column

    def read_labels(self, cells, texts, tokens, tokenizer, where, data):
        cells = [c.strip() for c in cells]
        if self.kind == "pairs":
            return np.array([SIMILAR if c == data.similar_label else DISSIMILAR for c in cells], dtype=object)
        return np.array(cells, dtype=object)

    def label_set(self, train, label_column):
        if train.labels is None:  # triplets
            return []
        labels = build_labels(label for label in set(train.labels.tolist()) if label is not None)
        if self.kind == "pairs" and SIMILAR not in labels:
            raise DataError(
                f"{train.source}: no row of column '{label_column}' says similar (data.similar_label: "
                f"'{self.similar_label}')"
            )
        if self.kind == "classes" and len(labels) < 2:
            raise DataError(f"{train.source}: needs at least two classes in column '{label_column}', found {labels}")
        return [DISSIMILAR, SIMILAR] if self.kind == "pairs" else labels

    def encode_labels(self, dataset, label_index):
        return encode_classes(dataset, label_index)

    def label_stats(self, dataset):
        if dataset.labels is None:
            return {"triplets": dataset.num_examples}
        return class_stats(Counter(dataset.labels[:: dataset.arity].tolist()))

    def batches(self, items, cfg, shuffler):
        """Training batches: P classes x K sentences each when train.classes_per_batch is set."""
        P, K = self.per_batch
        if not P or shuffler is None:
            return batch_order(items.lengths, cfg.batch_size, shuffler, bucket=True, arity=items.arity)
        return class_balanced_batches(items.labels, P, K, shuffler)

    # --- loss ------------------------------------------------------------------------------------

    def default_loss(self, num_labels):
        return "contrastive" if self.kind == "pairs" else "triplet"

    def check_loss(self, loss, num_labels):
        super().check_loss(loss, num_labels)
        if loss.loss_name() != self.default_loss(num_labels):  # each form of data takes one loss
            data = "pairs (data.text_pair_column)" if self.kind == "pairs" else "triplets or class labels"
            raise ConfigError(
                f"loss.name '{loss.loss_name()}' does not fit {data}; use '{self.default_loss(num_labels)}'"
            )

    def num_outputs(self, loss, num_labels):
        return 1  # the sentence scores are not used; the embedding is

    def loss_inputs(self, output, batch):
        x = output.embedding  # (B, D)
        if batch.arity == 2:
            return x.view(-1, 2, x.shape[-1]), batch.labels[::2]  # (B/2, 2, D), similar = 1
        if batch.arity == 3:
            return x.view(-1, 3, x.shape[-1]), None  # (anchor, positive, negative)
        return x, batch.labels

    def loss_weight(self, batch):
        return batch.size // batch.arity  # a mean over pairs, triplets, or sentences

    # --- predictions, metrics, output ------------------------------------------------------------

    sentence_source = "embedding"  # Predictions.sentence: the sentence vectors

    def metrics(self, predictions, items, labels, reference=None):
        x = predictions.sentence.astype(np.float64)
        if self.kind == "triplets":
            right = similarity(x[0::3], x[1::3], self.distance) > similarity(x[0::3], x[2::3], self.distance)
            return {"triplet_accuracy": float(right.mean())}
        if self.kind == "pairs":
            similar = items.labels[0::2] == 1
            sims = similarity(x[0::2], x[1::2], self.distance)
            # the threshold tuned on validation; before it is (while training), the best on these pairs
            threshold = self.threshold if self.threshold is not None else best_threshold(sims, similar)
            return {
                "roc_auc": roc_auc(sims, similar.astype(float)),
                "accuracy": float(((sims >= threshold) == similar).mean()),
                "threshold": threshold,
            }
        reference_x, reference_labels = (
            (x, items.labels) if reference is None else (reference[0].sentence.astype(np.float64), reference[1].labels)
        )
        return neighbour_metrics(
            x, items.labels, reference_x, reference_labels, self.distance, same_set=reference is None
        )

    def tune(self, predictions, items):
        if self.kind != "pairs":
            return {}
        x = predictions.sentence.astype(np.float64)
        return {"threshold": best_threshold(similarity(x[0::2], x[1::2], self.distance), items.labels[0::2] == 1)}

    def figures(self, predictions, items, labels, words):
        from textcls import plots

        x = predictions.sentence.astype(np.float64)
        if self.kind == "pairs":
            sims, similar = similarity(x[0::2], x[1::2], self.distance), items.labels[0::2] == 1
            return {
                "similarities": plots.histograms(
                    {"similar pairs": sims[similar], "dissimilar pairs": sims[~similar]},
                    f"similarity ({self.distance})",
                    "similarity of validation pairs",
                )
            }
        if self.kind == "triplets":
            margin = similarity(x[0::3], x[1::3], self.distance) - similarity(x[0::3], x[2::3], self.distance)
            return {
                "margins": plots.histograms(
                    {"triplets": margin},
                    "similarity to the positive - to the negative",
                    "triplet margins (right when > 0)",
                )
            }
        centred = x - x.mean(0)
        axes = np.linalg.svd(centred, full_matrices=False)[2][:2]  # the two principal directions
        xy = centred @ axes.T
        return {
            "embeddings": plots.scatter(
                xy[:, 0],
                xy[:, 1],
                "first principal component",
                "second principal component",
                "validation sentences, coloured by class",
                colours=items.labels,
            )
        }

    def predict_results(self, predictions, texts, words, spans, tokens, labels):
        vectors = predictions.sentence.astype(float).round(6).tolist()
        return [{"text": text, "embedding": v} for text, v in zip(texts, vectors)]

    def show(self, result, console):
        from textcls.reporting import print_vector

        print_vector(result["text"], result["embedding"], console)


def similarity(a: np.ndarray, b: np.ndarray, distance: str) -> np.ndarray:
    """(n, D), (n, D) -> (n,): higher is more similar (the cosine, or minus the euclidean distance)."""
    if distance == "cosine":
        return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return -np.linalg.norm(a - b, axis=1)


def best_threshold(similarity: np.ndarray, similar: np.ndarray) -> float:
    """The similarity threshold (similar when >= it) with the best accuracy: midpoints between
    consecutive distinct values, and the ends."""
    values = np.unique(similarity)
    candidates = np.concatenate([[values[0] - 1], (values[1:] + values[:-1]) / 2, [values[-1] + 1]])
    order = np.argsort(similarity)
    s, y = similarity[order], similar[order]
    # for threshold t: right = similar at or above t + dissimilar below t
    below = np.searchsorted(s, candidates, side="left")  # rows below each candidate
    dissimilar_below = np.concatenate([[0], np.cumsum(~y)])[below]
    similar_above = y.sum() - np.concatenate([[0], np.cumsum(y)])[below]
    return float(candidates[np.argmax(dissimilar_below + similar_above)])


def neighbour_metrics(
    x: np.ndarray, labels: np.ndarray, ref_x: np.ndarray, ref_labels: np.ndarray, distance: str, same_set: bool
) -> dict:
    """recall@1, recall@5 (a sentence of the query's class among its k nearest reference sentences)
    and knn_accuracy (the majority class of its KNN nearest, ties to the nearer class) of each row
    of `x` against the reference rows; within one set (`same_set`) a row is not its own neighbour."""
    if distance == "cosine":
        unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        x, ref_x = unit(x), unit(ref_x)
    k = min(KNN, len(ref_x) - same_set)
    neighbours = []
    chunk = max(1, 2**24 // len(ref_x))  # queries at a time: a (chunk, R) distance block of about 128 MB
    for start in range(0, len(x), chunk):
        q = x[start : start + chunk]
        d = (q**2).sum(1)[:, None] - 2 * q @ ref_x.T + (ref_x**2).sum(1)[None, :]  # squared euclidean (q, R)
        if same_set:
            d[np.arange(len(q)), np.arange(start, start + len(q))] = np.inf
        neighbours.append(ref_labels[nearest_first(d, k)])
    return score_neighbours(np.concatenate(neighbours), labels)


def nearest_first(d: np.ndarray, k: int) -> np.ndarray:
    """(q, R) distances -> (q, k) indices of the k nearest, nearest first."""
    nearest = np.argpartition(d, k - 1, axis=1)[:, :k]
    return np.take_along_axis(nearest, np.argsort(np.take_along_axis(d, nearest, 1), axis=1, kind="stable"), 1)


def score_neighbours(neighbours: np.ndarray, labels: np.ndarray) -> dict:
    """recall@1, recall@5 and knn_accuracy from (n, k) the classes of each row's nearest reference
    rows, nearest first, and (n,) its own class."""
    match = neighbours == labels[:, None]
    knn_right = 0
    for row, near in enumerate(neighbours.tolist()):
        votes = Counter(near)
        top = max(votes.values())
        knn_right += next(c for c in near if votes[c] == top) == labels[row]  # among tied classes, the nearer
    return {
        "recall_at_1": float(match[:, :1].any(1).mean()),
        "recall_at_5": float(match[:, :5].any(1).mean()),
        "knn_accuracy": knn_right / len(labels),
    }


def class_balanced_batches(labels: np.ndarray, P: int, K: int, shuffler: Shuffler) -> list[np.ndarray]:
    """One epoch of P x K batches: each draws P classes and K of their rows (without replacement
    when the class has K; with, when it has fewer), as many batches as the rows fill."""
    classes = np.unique(labels[labels != IGNORE])
    rows_of = {c: np.flatnonzero(labels == c) for c in classes}
    P = min(P, len(classes))
    batches = []
    for _ in range(max(1, int((labels != IGNORE).sum()) // (P * K))):
        chosen = classes[shuffler.permutation(len(classes))[:P]]
        batch = []
        for c in chosen:
            rows = rows_of[c]
            if len(rows) >= K:
                batch.append(rows[shuffler.permutation(len(rows))[:K]])
            else:
                batch.append(rows[shuffler.integers(len(rows), K)])
        batches.append(np.concatenate(batch))
    return batches
