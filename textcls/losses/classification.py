"""Classification losses: scores (N, C) (or one logit (N, 1) for bce) against class indices (N,);
bce and focal also take multi-label targets, one 0/1 column per label (N, L) against (N, L) logits.

label_counts feed the `balanced` and `auto` weights: class index -> training rows, or for
multi-label (label index, 1 or 0) -> rows with or without the label. torch is imported where the
maths is (see spec.py).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Literal, Union

from pydantic import Field

from textcls.errors import ConfigError
from textcls.losses.spec import LossFn, LossOptions

if TYPE_CHECKING:
    import torch

ClassWeights = Union[Literal["balanced"], list[float], None]  # balanced: n / (C * count_c), as scikit-learn's


def auto_pos_weight(positives: int, negatives: int) -> float:
    """negatives / positives: makes both classes weigh the same in a BCE loss."""
    return negatives / positives if positives else 1.0


def _multilabel(counts: Counter) -> bool:
    return any(isinstance(key, tuple) for key in counts)


def _on(weight: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    return None if weight is None else weight.to(like.device)


def class_weight_tensor(class_weights: ClassWeights, counts: Counter, num_classes: int) -> torch.Tensor | None:
    import torch

    if class_weights is None:
        return None
    if class_weights == "balanced":
        total = sum(counts.values())
        return torch.tensor([total / (num_classes * max(counts.get(c, 0), 1)) for c in range(num_classes)])
    if len(class_weights) != num_classes:
        raise ConfigError(f"loss.class_weights has {len(class_weights)} values for {num_classes} classes")
    return torch.tensor(class_weights, dtype=torch.float32)


class BCE(LossOptions):
    """Binary cross-entropy on one logit per class (multi-label) or one logit for two classes."""

    name: Literal["bce"] = "bce"
    pos_weight: Union[Literal["auto"], float, None] = None  # auto: negatives / positives (per label)
    tasks = ("classification", "multilabel")
    one_logit = True
    plain = {"pos_weight": None}

    def positive_weight(self, counts: Counter, num_classes: int) -> float | list[float] | None:
        """pos_weight as numbers: auto from the training counts (one per label for multi-label)."""
        if self.pos_weight == "auto" and _multilabel(counts):
            return [auto_pos_weight(counts[(label, 1)], counts[(label, 0)]) for label in range(num_classes)]
        if self.pos_weight == "auto":
            return auto_pos_weight(counts.get(1, 0), counts.get(0, 0))
        return None if self.pos_weight is None else float(self.pos_weight)

    def build(self, counts, num_classes):
        import torch
        import torch.nn.functional as F

        positive = self.positive_weight(counts, num_classes)
        weight = None if positive is None else torch.tensor(positive)

        def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logits = logits if y.dim() == 2 else logits.squeeze(-1)  # (N, L) multi-label, or (N,) one logit
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), pos_weight=_on(weight, logits))

        return loss


class CE(LossOptions):
    name: Literal["ce"] = "ce"
    class_weights: ClassWeights = None  # per class, or balanced
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    tasks = ("classification", "tagging")
    plain = {"class_weights": None}

    def build(self, counts, num_classes):
        import torch.nn.functional as F

        weight = class_weight_tensor(self.class_weights, counts, num_classes)
        return lambda logits, y: F.cross_entropy(
            logits, y, weight=_on(weight, logits), label_smoothing=self.label_smoothing
        )


class NLL(LossOptions):
    """NLL over the log-probabilities of a model that ends in log-softmax (chosen with this loss):
    cross-entropy. On raw scores it would reward ever-larger scores without bound, and on
    probabilities it is not a log-likelihood at all."""

    name: Literal["nll"] = "nll"
    class_weights: ClassWeights = None
    tasks = ("classification", "tagging")
    log_softmax = True
    plain = {"class_weights": None}

    def build(self, counts, num_classes):
        import torch.nn.functional as F

        weight = class_weight_tensor(self.class_weights, counts, num_classes)
        return lambda log_probs, y: F.nll_loss(log_probs, y, weight=_on(weight, log_probs))


class Focal(LossOptions):
    """Lin et al. 2017: -alpha_y (1 - p_y)^gamma log p_y, averaged. gamma = 0, no alpha: cross-entropy.
    Multi-label: the same per label with p_y = sigmoid for a present label, 1 - sigmoid for an
    absent one, averaged over rows and labels; alpha weighs each label."""

    name: Literal["focal"] = "focal"
    class_weights: ClassWeights = None
    gamma: float = Field(2.0, ge=0)
    alpha: list[float] | None = None  # per-class weights
    tasks = ("classification", "multilabel", "tagging")
    plain = {"class_weights": None, "alpha": None}

    def build(self, counts, num_classes):
        import torch
        import torch.nn.functional as F

        if _multilabel(counts) and self.class_weights is not None:
            raise ConfigError(
                "loss.class_weights does not apply to multi-label focal (use loss.alpha, one weight per label)"
            )
        alpha = (
            torch.tensor(self.alpha)
            if self.alpha is not None
            else class_weight_tensor(self.class_weights, counts, num_classes)
        )
        if alpha is not None and len(alpha) != num_classes:
            raise ConfigError(f"loss.alpha has {len(alpha)} values for {num_classes} classes")
        gamma = self.gamma

        def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            if y.dim() == 2:  # multi-label: log p_y = logsigmoid of the logit, signed by the target
                log_p = F.logsigmoid(torch.where(y > 0, logits, -logits))
                per = -((-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny) ** gamma) * log_p
                return (per * alpha.to(per.device) if alpha is not None else per).mean()
            if logits.shape[-1] == 1:  # one binary logit: the two classes are (1 - sigmoid, sigmoid)
                logits = torch.cat([torch.zeros_like(logits), logits], dim=-1)
            log_p = F.log_softmax(logits, dim=-1).gather(1, y.unsqueeze(1)).squeeze(1)
            # 1 - p from expm1 and kept above 0: (1 - p)^gamma has an infinite slope at p = 1 when gamma < 1.
            one_minus_p = (-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny)
            per = -(one_minus_p**gamma) * log_p
            if alpha is not None:
                per = per * alpha.to(per.device)[y]
            return per.mean()

        return loss


__all__ = ["BCE", "CE", "NLL", "Focal", "LossFn", "auto_pos_weight"]
