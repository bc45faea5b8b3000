"""One class per sentence: binary (one logit with bce) or multi-class."""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import orjson

from textcls import jsonl
from textcls.errors import ConfigError, DataError
from textcls.metrics import (
    calibration_metrics,
    classification_metrics,
    confusion_matrix,
    fit_temperature,
    per_class_scores,
)
from textcls.predictions import importance_for
from textcls.tasks.base import Task, class_stats, encode_classes, probabilities
from textcls.vocab import build_labels


class Classification(Task):
    name = "classification"
    monitors = ("accuracy", "macro_f1", "loss")
    explains = True
    stratified_split = True
    reads = ("calibration.temperature",)
    calibrate, temperature = False, None

    def bind(self, config, state):
        bound = copy.copy(self)
        bound.calibrate = config.calibration.temperature
        bound.temperature = state.get("temperature") if bound.calibrate else None
        return bound

    def tune(self, predictions, items):
        """Temperature scaling: the T that makes validation probabilities softmax(logits / T) most likely."""
        if not self.calibrate or (predictions.sentence.argmax(1) == items.labels).all():
            return {}  # (no error on validation: nothing says how sure the model should be)
        return {"temperature": fit_temperature(np.log(np.maximum(predictions.sentence, 1e-12)), items.labels)}

    def read_labels(self, cells, texts, tokens, tokenizer, where, data):
        return np.array([c.strip() for c in cells], dtype=object)

    def label_set(self, train, label_column):
        labels = build_labels(label for label in set(train.labels.tolist()) if label is not None)
        if len(labels) < 2:
            raise DataError(f"{train.source}: needs at least two labels in column '{label_column}', found {labels}")
        return labels

    def encode_labels(self, dataset, label_index):
        return encode_classes(dataset, label_index)

    def label_stats(self, dataset):
        return class_stats(Counter(dataset.labels.tolist()))

    def default_loss(self, num_labels):
        return "bce" if num_labels == 2 else "ce"

    def check_loss(self, loss, num_labels):
        super().check_loss(loss, num_labels)
        if loss.one_logit and num_labels != 2:
            raise ConfigError(
                f"loss.name '{loss.loss_name()}' needs two labels, the training data has {num_labels} (use 'ce')"
            )

    def num_outputs(self, loss, num_labels):
        return 1 if loss.one_logit else num_labels  # one logit: the positive class's

    def sentence_outputs(self, logits):
        return probabilities(logits if self.temperature is None else logits / self.temperature)

    def metrics(self, predictions, items, labels, reference=None):
        probs = predictions.sentence.astype(np.float64)
        metrics = classification_metrics(items.labels, probs.argmax(1), labels)
        metrics.update(calibration_metrics(probs, items.labels))
        if self.temperature is not None:  # the same without it: softmax(T log p) undoes softmax(logits / T)
            raw = np.exp(self.temperature * np.log(np.maximum(probs, 1e-300)))
            metrics.update(
                temperature=self.temperature,
                ece_uncalibrated=calibration_metrics(raw / raw.sum(1, keepdims=True), items.labels)["ece"],
            )
        return metrics

    def figures(self, predictions, items, labels, words):
        from textcls import plots

        probs, gold = predictions.sentence, items.labels
        predicted, confidence = probs.argmax(1), probs.max(1)
        matrix = confusion_matrix(gold, predicted, len(labels))
        figures = {
            "confusion": plots.confusion(matrix, labels),
            "per_class_f1": plots.bars(
                labels, [s["f1"] for s in per_class_scores(matrix, labels).values()], "F1 per class", "F1"
            ),
            "reliability": plots.reliability(confidence, predicted == gold, title="confidence against accuracy"),
        }
        if predictions.tokens is not None:
            shown = [r for r in range(len(words)) if 3 <= len(words[r]) <= 16][:8]
            figures["word_scores"] = plots.word_scores(
                [
                    (
                        words[r],
                        importance_for(predictions.row_tokens(r), int(predicted[r])).tolist(),
                        f"gold {labels[gold[r]]} · predicted {labels[predicted[r]]} ({confidence[r]:.2f}); "
                        "green: evidence for the predicted class, red: against",
                    )
                    for r in shown
                ]
            )
        return figures

    @staticmethod
    def _evidence(predictions, tokens, label: np.ndarray) -> np.ndarray:
        """(N,) each token's evidence for its row's predicted class, rounded as results give it: the
        signed logit with one output, else that class's score."""
        if predictions.tokens.shape[1] == 1:
            evidence = predictions.tokens[:, 0]
        else:
            evidence = predictions.tokens[np.arange(len(tokens.codes)), label[tokens.row_of]]
        return evidence.astype(float).round(4)

    def json_lines(self, predictions, texts, tokens, labels, lines):
        """`predict_results` as JSON lines, each row's "line" from `lines` (textcls/jsonl.py)."""
        probs = predictions.sentence
        label = probs.argmax(1)
        C, names = len(labels), [orjson.dumps(name) for name in labels]
        each = jsonl.numbers(probs.astype(float).round(6).ravel())
        template = b"{" + b",".join(jsonl.json_key(name) + b"%b" for name in labels) + b"}"
        fields = [
            ("text", [orjson.dumps(text) for text in texts]),
            ("tokens", jsonl.token_strings(tokens)),
            ("label", [names[c] for c in label.tolist()]),
            ("probabilities", [template % tuple(each[r * C : (r + 1) * C]) for r in range(len(texts))]),
            ("token_scores", jsonl.token_numbers(self._evidence(predictions, tokens, label), tokens.offsets)),
        ]
        return jsonl.lines(fields, lines.tolist())

    def predict_results(self, predictions, texts, words, spans, tokens, labels):
        probs = predictions.sentence
        label = probs.argmax(1)
        scores = self._evidence(predictions, tokens, label).tolist()
        names = np.asarray(labels, dtype=object)[label].tolist()
        rounded = probs.astype(float).round(6).tolist()
        return [
            {
                "text": text,
                "tokens": words[s],
                "label": name,
                "probabilities": dict(zip(labels, p)),
                "token_scores": scores[s],
            }
            for text, s, name, p in zip(texts, spans, names, rounded)
        ]

    def show(self, result, console):
        from textcls.reporting import print_class

        print_class(result["label"], result["probabilities"], result["tokens"], result["token_scores"], console)
