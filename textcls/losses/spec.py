"""What a loss declares: its options (a config section of its own), the tasks it serves, what it
needs from the model, and how it is built.

A loss module holds its options class (a `LossOptions` subclass) and its maths. The config reads
the options classes to validate `loss:`, so a loss module imports torch inside the functions that
compute, not at its top: loading a config never loads torch.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from textcls.sections import Section

if TYPE_CHECKING:
    import torch

LossFn = Callable[..., "torch.Tensor"]  # (scores, targets, *what the task adds, e.g. groups) -> mean loss


class LossOptions(Section):
    """The base of every loss's options. `name` is fixed by each subclass (a Literal)."""

    name: str
    tasks: ClassVar[tuple[str, ...]] = ()  # the tasks it serves
    log_softmax: ClassVar[bool] = False  # the model ends in log-softmax: the loss reads log-probabilities
    one_logit: ClassVar[bool] = False  # two classes as one logit, the positive class's (needs exactly two)
    tag_transitions: ClassVar[bool] = False  # scores whole tag sequences with the model's CRF layer
    # The options' values for the plain loss that validation and `eval` report, comparable across
    # runs whatever their weighting (class weights off, every pair rather than sampled ones).
    plain: ClassVar[dict[str, Any]] = {}

    def build(self, label_counts: Counter, num_classes: int) -> LossFn:
        """loss(scores, targets, ...) -> mean loss. label_counts: class index -> training rows
        (tokens for tagging; for multi-label, (label, 1 or 0) -> rows with or without it)."""
        raise NotImplementedError

    @classmethod
    def loss_name(cls) -> str:
        return cls.model_fields["name"].default

    def unweighted(self) -> "LossOptions":
        return self.model_copy(update=self.plain)
