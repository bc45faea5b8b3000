"""One number per sentence."""

from __future__ import annotations

import numpy as np
import orjson

from textcls import jsonl
from textcls.errors import DataError
from textcls.metrics import regression_metrics
from textcls.tasks.base import Task


class Regression(Task):
    name = "regression"
    has_classes = False
    monitors = ("r2", "mae", "rmse", "pearson", "spearman", "loss")
    sort_by = "value"  # the result key of the predicted number, which --sort orders by

    def read_labels(self, cells, texts, tokens, tokenizer, where, data):
        import pandas as pd  # only where a CSV is read: `textcls predict` starts faster without it

        values = pd.to_numeric(pd.Series(cells, dtype=object).str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            cell = cells[bad[0]]
            try:
                float(cell)
                kind = "a finite number"
            except ValueError:
                kind = "a number"
            raise DataError(f"{where(bad[0])}: '{cell}' is not {kind}")
        return values

    def encode_labels(self, dataset, label_index):
        return np.asarray(dataset.labels, dtype=np.float32)

    def label_stats(self, dataset):
        values = np.sort(dataset.labels)
        return {
            "label": {
                "min": float(values[0]),
                "median": float(values[len(values) // 2]),
                "max": float(values[-1]),
                "mean": float(values.mean()),
            }
        }

    def num_outputs(self, loss, num_labels):
        return 1

    def loss_inputs(self, output, batch):
        return output.sentence, batch.labels  # every row has a value (IGNORE could be one)

    def loss_rows(self, batch):
        return batch.labels.new_ones(batch.labels.shape).bool()  # (B,) every row has a value

    def sentence_outputs(self, logits):
        return logits[:, 0]

    def metrics(self, predictions, items, labels, reference=None):
        return regression_metrics(items.labels.astype(float), predictions.sentence.astype(float))

    def figures(self, predictions, items, labels, words):
        from textcls import plots

        gold, predicted = items.labels.astype(float), predictions.sentence.astype(float)
        return {
            "predictions": plots.scatter(
                gold, predicted, "gold", "predicted", f"predicted against gold {self.sort_by}", diagonal=True
            ),
            "errors": plots.histograms({"predicted - gold": predicted - gold}, "error", "errors"),
        }

    def json_lines(self, predictions, texts, tokens, labels, lines):
        """`predict_results` as JSON lines, each row's "line" from `lines` (textcls/jsonl.py)."""
        fields = [
            ("text", [orjson.dumps(text) for text in texts]),
            ("tokens", jsonl.token_strings(tokens)),
            (self.sort_by, jsonl.numbers(predictions.sentence.astype(float).round(6))),
            ("token_scores", jsonl.token_numbers(predictions.tokens[:, 0].astype(float).round(4), tokens.offsets)),
        ]
        return jsonl.lines(fields, lines.tolist())

    def predict_results(self, predictions, texts, words, spans, tokens, labels):
        values = predictions.sentence.astype(float).round(6).tolist()
        scores = predictions.tokens[:, 0].astype(float).round(4).tolist()
        return [
            {"text": text, "tokens": words[s], self.sort_by: value, "token_scores": scores[s]}
            for text, s, value in zip(texts, spans, values)
        ]

    def show(self, result, console):
        from textcls.reporting import print_value

        print_value(result[self.sort_by], result["text"], result["tokens"], result["token_scores"], console)
