"""Any number of classes per sentence (none included): one logit per label, each decided by a
threshold that is fixed (loss.threshold: a number) or tuned on validation, one for all labels
(global) or one per label (per_label), and saved with the run. With calibration.temperature, one
temperature for every label's sigmoid is fitted on validation first, and thresholds are tuned on
the calibrated probabilities."""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np

from textcls.errors import DataError
from textcls.metrics import best_f1_threshold, fit_temperature, multilabel_metrics
from textcls.tasks.base import Task, sigmoid, unknown_label
from textcls.vocab import build_labels


class MultiLabel(Task):
    name = "multilabel"
    monitors = ("micro_f1", "macro_f1", "subset_accuracy", "lrap", "loss")
    empty_label = True  # a row may have no label
    token_scores = False
    reads = ("data.label_separator", "loss.threshold", "calibration.temperature")
    setting, thresholds, calibrate, temperature = "global", None, False, None

    def bind(self, config, state):
        bound = copy.copy(self)
        bound.setting = config.loss.threshold
        bound.thresholds = np.array(state["thresholds"]) if "thresholds" in state else None
        bound.calibrate = config.calibration.temperature
        bound.temperature = state.get("temperature") if bound.calibrate else None
        return bound

    # --- data ------------------------------------------------------------------------------------

    def read_labels(self, cells, texts, tokens, tokenizer, where, data):
        rows = np.empty(len(cells), dtype=object)  # (R,) tuples: never a 2-D array, whatever their lengths
        rows[:] = [tuple(sorted({p.strip() for p in c.split(data.label_separator) if p.strip()})) for c in cells]
        return rows

    def label_set(self, train, label_column):
        labels = build_labels({label for row in train.labels for label in row})
        if not labels:
            raise DataError(f"{train.source}: no label in column '{label_column}'")
        return labels

    def encode_labels(self, dataset, label_index):
        """(R, L) 1.0 where the row has the label."""
        out = np.zeros((len(dataset.labels), len(label_index)), dtype=np.float32)
        for r, row in enumerate(dataset.labels):
            for label in row:
                if label not in label_index:
                    raise unknown_label("label", label, list(label_index), dataset.where(r))
                out[r, label_index[label]] = 1.0
        return out

    def label_counts(self, items):
        present = items.labels.sum(0).astype(int)
        return Counter(
            {
                **{(i, 1): int(n) for i, n in enumerate(present)},
                **{(i, 0): len(items.labels) - int(n) for i, n in enumerate(present)},
            }
        )

    def label_stats(self, dataset):
        counts = Counter(label for row in dataset.labels for label in row)
        return {
            "label_counts": {label: counts[label] for label in build_labels(counts)},
            "rows_without_labels": int(sum(len(row) == 0 for row in dataset.labels)),
            "mean_labels_per_row": float(np.mean([len(row) for row in dataset.labels])),
        }

    # --- loss and decisions ----------------------------------------------------------------------

    def loss_inputs(self, output, batch):
        return output.sentence, batch.labels  # (B, L) logits against (B, L) 0/1

    def sentence_outputs(self, logits):
        return sigmoid(logits if self.temperature is None else logits / self.temperature)

    def decision_thresholds(self, probabilities: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """(L,) thresholds: the tuned ones; else a fixed number; else tuned on `targets` (validation
        while training)."""
        L = probabilities.shape[1]
        if self.thresholds is not None:
            return self.thresholds
        if not isinstance(self.setting, str):
            return np.full(L, float(self.setting))
        if self.setting == "global":
            return np.full(L, best_f1_threshold(targets, probabilities))
        return np.array([best_f1_threshold(targets[:, i], probabilities[:, i]) for i in range(L)])

    def tune(self, predictions, items):
        """The temperature (when calibrating), then thresholds tuned on the calibrated probabilities."""
        state, probs = {}, predictions.sentence.astype(np.float64)
        if self.calibrate:
            p = np.clip(probs, 1e-12, 1 - 1e-12)
            logits = np.log(p) - np.log1p(-p)
            state["temperature"] = fit_temperature(logits, items.labels, multilabel=True)
            probs = 1 / (1 + np.exp(-logits / state["temperature"]))
        if isinstance(self.setting, str):
            state["thresholds"] = self.decision_thresholds(probs, items.labels).tolist()
        return state

    def metrics(self, predictions, items, labels, reference=None):
        thresholds = self.decision_thresholds(predictions.sentence, items.labels)
        return {
            **multilabel_metrics(items.labels, predictions.sentence, thresholds, labels),
            "thresholds": dict(zip(labels, thresholds.tolist())),
            **({"temperature": self.temperature} if self.temperature is not None else {}),
        }

    def figures(self, predictions, items, labels, words):
        from textcls import plots

        probs, y = predictions.sentence, items.labels.astype(bool)
        chosen = probs >= self.decision_thresholds(probs, items.labels)[None, :]
        tp, fp, fn = (chosen & y).sum(0), (chosen & ~y).sum(0), (~chosen & y).sum(0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        return {
            "per_class_f1": plots.bars(labels, f1.tolist(), "F1 per label", "F1"),
            "reliability": plots.reliability(
                probs.ravel(), y.ravel(), title="probability against share of labels present"
            ),
        }

    # --- output ----------------------------------------------------------------------------------

    def predict_results(self, predictions, texts, words, spans, tokens, labels):
        probs = predictions.sentence
        chosen = probs >= self.decision_thresholds(probs)[None, :]
        rounded = probs.astype(float).round(6).tolist()
        return [
            {
                "text": text,
                "labels": [label for label, on in zip(labels, row) if on],
                "probabilities": dict(zip(labels, p)),
            }
            for text, row, p in zip(texts, chosen.tolist(), rounded)
        ]

    def show(self, result, console):
        from textcls.reporting import print_labels

        print_labels(result["text"], result["labels"], result["probabilities"], console)
