"""One score per sentence, judged by the order it puts sentences in (within groups, when the data
has a group column, as queries in search): trained with RankNet, or a pointwise regression loss."""

from __future__ import annotations

from textcls.metrics import ranking_metrics
from textcls.tasks.regression import Regression


class Ranking(Regression):
    """Labels are numbers, read as regression reads them; only their order within a group matters."""

    name = "ranking"
    losses = ("ranknet", "mse", "l1", "huber")
    monitors = ("pairwise_accuracy", "kendall_tau", "spearman", "ndcg_at_10", "loss")
    reads = ("data.group_column",)
    sort_by = "score"  # predict gives {"score": ...}

    def loss_inputs(self, output, batch):
        return output.sentence, batch.labels, batch.groups  # RankNet pairs rows within groups

    def metrics(self, predictions, items, labels, reference=None):
        return ranking_metrics(items.labels.astype(float), predictions.sentence.astype(float), items.groups)
