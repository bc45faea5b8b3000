"""One score per sentence, judged by the order it puts sentences in (within groups, when the data
has a group column, as queries in search): trained with RankNet, or a pointwise regression loss."""

from __future__ import annotations

import numpy as np

from textcls.metrics import ranking_metrics
from textcls.tasks.regression import Regression


class Ranking(Regression):
    """Labels are numbers, read as regression reads them; only their order within a group matters."""

    name = "ranking"
    monitors = ("pairwise_accuracy", "kendall_tau", "spearman", "ndcg_at_10", "loss")
    reads = ("data.group_column",)
    sort_by = "score"  # predict gives {"score": ...}

    def batches(self, items, cfg, shuffler):
        """With groups, whole groups to a batch (RankNet pairs rows of one group within a batch):
        groups in random order, packed until a batch holds about batch_size rows."""
        if items.groups is None or shuffler is None:
            return super().batches(items, cfg, shuffler)
        order = np.argsort(items.groups, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(items.groups[order])) + 1)
        batches, current = [], []
        for g in shuffler.permutation(len(groups)).tolist():
            if current and sum(map(len, current)) + len(groups[g]) > cfg.batch_size:
                batches.append(np.concatenate(current))
                current = []
            current.append(groups[g][shuffler.permutation(len(groups[g]))])
        return batches + ([np.concatenate(current)] if current else [])

    def default_loss(self, num_labels):
        return "ranknet"

    def loss_inputs(self, output, batch):
        return output.sentence, batch.labels, batch.groups  # RankNet pairs rows within groups

    def metrics(self, predictions, items, labels, reference=None):
        return ranking_metrics(items.labels.astype(float), predictions.sentence.astype(float), items.groups)

    def figures(self, predictions, items, labels, words):
        from textcls import plots

        return {
            "scores": plots.scatter(
                items.labels.astype(float),
                predictions.sentence.astype(float),
                "gold value",
                "predicted score",
                "predicted score against gold value (only the order counts)",
            )
        }
