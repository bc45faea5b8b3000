"""The objective: total = main loss + rationale.weight * rationale_loss + weighted regularisers.

It returns `(total, parts)`: one total for one `backward()`, and each part detached for logging.
Which model output feeds the main loss, and what the loss is a mean over, the task says.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import torch
from torch import nn

from textcls.batching import Batch
from textcls.config import LossConfig, RationaleConfig
from textcls.losses.classification import auto_pos_weight
from textcls.losses.rationale import rationale_loss
from textcls.losses.regularizers import REGULARIZERS, ActivationL1
from textcls.losses.spec import LossFn, LossOptions
from textcls.models.base import ModelOutput

if TYPE_CHECKING:
    from textcls.tasks import Task


class Objective:
    """total = main loss + rationale.weight * rationale_loss + sum of weighted regularisers."""

    def __init__(
        self,
        task: Task,
        main_loss: LossFn,
        rationale: RationaleConfig,
        rationale_pos_weight: float | None,
        regularizers: list[tuple[str, float, object]],
    ):
        self.task, self.main_loss = task, main_loss
        self.rationale, self.rationale_pos_weight = rationale, rationale_pos_weight
        self.regularizers = regularizers
        self.main_name = self.task.main_loss_part

    def main(self, output: ModelOutput, batch: Batch) -> torch.Tensor:
        scores, targets, *extra = self.task.loss_inputs(output, batch)  # extra: e.g. the rows' groups
        if targets is not None and not len(targets):  # (None: the loss needs no targets, as for triplets)
            return scores.sum() * 0.0  # nothing to score: zero, with the graph kept
        if batch.weights is None:
            return self.main_loss(scores, targets, *extra)
        # Row weights (classification, regression: loss_inputs keeps the labelled rows, in order): the
        # mean loss of the rows of each weight, weighed by weight x rows. Self-training gives two weights.
        weights = batch.weights.to(scores.device)[self.task.loss_rows(batch).to(scores.device)]
        total, mass = scores.sum() * 0.0, 0.0
        for weight in torch.unique(weights).tolist():
            rows = weights == weight
            share = weight * int(rows.sum())
            if share > 0:
                total = total + share * self.main_loss(scores[rows], targets[rows], *extra)
                mass += share
        return total / mass if mass > 0 else total

    def weight(self, batch: Batch) -> int | torch.Tensor:
        """What the main loss of `batch` is a mean over (rows, or tagged tokens): batch losses
        weighted by it add up to the mean over an epoch."""
        return self.task.loss_weight(batch)

    def __call__(self, output: ModelOutput, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        total = self.main(output, batch)
        parts = {self.main_name: total.detach()}
        if self.rationale.weight > 0 and batch.targets is not None:
            r = rationale_loss(output.tokens, batch.targets, self.rationale_pos_weight, self.rationale.normalize)
            total = total + self.rationale.weight * r
            parts["rationale_loss"] = r.detach()
        if any(isinstance(reg, ActivationL1) for _, _, reg in self.regularizers):
            output.flat_tokens  # token scores computed on demand run the modules the hooks watch
        for i, (name, weight, reg) in enumerate(self.regularizers):
            value = reg.value()
            total = total + weight * value
            parts[name if name not in parts else f"{name}_{i}"] = value.detach()  # each one logged on its own
        parts["loss"] = total.detach()
        return total, parts

    def attach(self) -> None:
        for _, _, reg in self.regularizers:
            reg.attach()

    def clear(self) -> None:
        for _, _, reg in self.regularizers:
            reg.clear()

    def detach(self) -> None:
        for _, _, reg in self.regularizers:
            reg.detach()


def plain_objective(loss: LossOptions, task: Task, num_classes: int) -> Objective:
    """The main loss without class weights, pos_weight, rationale or regularisers, and over every
    pair rather than sampled ones: the plain mean loss that validation and `eval` report,
    comparable across runs whatever their weighting."""
    return Objective(task, loss.unweighted().build(Counter(), num_classes), RationaleConfig(), None, [])


def build_objective(
    cfg: LossConfig,
    task: Task,
    loss: LossOptions,
    num_classes: int,
    label_counts: Counter,
    target_counts: Counter,
    model: nn.Module,
) -> Objective:
    """`loss` (resolved from `cfg`, which gives the rationale loss and regularisers) as the main loss.
    label_counts: class index -> training rows (tokens for tagging); target_counts: word targets."""
    main = loss.build(label_counts, num_classes)
    pos_weight = cfg.rationale.pos_weight
    if pos_weight == "auto":
        pos_weight = auto_pos_weight(target_counts.get(1, 0), target_counts.get(0, 0)) if target_counts else None
    regularizers = [(r.name, r.weight, REGULARIZERS[r.name](r, model)) for r in cfg.regularizers]
    return Objective(task, main, cfg.rationale, pos_weight, regularizers)
