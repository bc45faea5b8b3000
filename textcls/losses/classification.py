"""Classification losses: scores (N, C) (or one logit (N, 1) for bce) against class indices (N,).

Each factory takes (cfg, label_counts, num_classes) and returns loss(scores, targets) -> mean loss;
label_counts (class index -> training rows) feed the `balanced` and `auto` weights.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import torch
import torch.nn.functional as F

from textcls.config import LossConfig
from textcls.errors import ConfigError

LossFn = Callable[..., torch.Tensor]  # (scores, targets, *what the task adds, e.g. groups) -> mean loss


def _on(weight: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    return None if weight is None else weight.to(like.device)


def _class_weights(cfg: LossConfig, counts: Counter, num_classes: int) -> torch.Tensor | None:
    if cfg.class_weights is None:
        return None
    if cfg.class_weights == "balanced":  # n / (C * count_c), as scikit-learn defines it
        total = sum(counts.values())
        return torch.tensor([total / (num_classes * max(counts.get(c, 0), 1)) for c in range(num_classes)])
    if len(cfg.class_weights) != num_classes:
        raise ConfigError(f"loss.class_weights has {len(cfg.class_weights)} values for {num_classes} classes")
    return torch.tensor(cfg.class_weights, dtype=torch.float32)


def auto_pos_weight(positives: int, negatives: int) -> float:
    """negatives / positives: makes both classes weigh the same in a BCE loss."""
    return negatives / positives if positives else 1.0


def bce(cfg: LossConfig, counts: Counter, num_classes: int) -> LossFn:
    pos_weight = cfg.pos_weight
    if pos_weight == "auto":
        pos_weight = auto_pos_weight(counts.get(1, 0), counts.get(0, 0))
    weight = None if pos_weight is None else torch.tensor(float(pos_weight))
    return lambda logits, y: F.binary_cross_entropy_with_logits(logits.squeeze(-1), y.float(), pos_weight=_on(weight, logits))


def ce(cfg: LossConfig, counts: Counter, num_classes: int) -> LossFn:
    weight = _class_weights(cfg, counts, num_classes)
    return lambda logits, y: F.cross_entropy(logits, y, weight=_on(weight, logits), label_smoothing=cfg.label_smoothing)


def nll(cfg: LossConfig, counts: Counter, num_classes: int) -> LossFn:
    # The model ends in log_softmax when this loss is chosen (see build_model): NLL of
    # log-probabilities is cross-entropy. On raw scores it would reward ever-larger scores
    # without bound, and on probabilities it is not a log-likelihood at all.
    weight = _class_weights(cfg, counts, num_classes)
    return lambda log_probs, y: F.nll_loss(log_probs, y, weight=_on(weight, log_probs))


def focal(cfg: LossConfig, counts: Counter, num_classes: int) -> LossFn:
    """Lin et al. 2017: -alpha_y (1 - p_y)^gamma log p_y, averaged. gamma = 0, no alpha: cross-entropy."""
    alpha = torch.tensor(cfg.alpha) if cfg.alpha is not None else _class_weights(cfg, counts, num_classes)
    if alpha is not None and len(alpha) != num_classes:
        raise ConfigError(f"loss.alpha has {len(alpha)} values for {num_classes} classes")

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if logits.shape[-1] == 1:  # one binary logit: the two classes are (1 - sigmoid, sigmoid)
            logits = torch.cat([torch.zeros_like(logits), logits], dim=-1)
        log_p = F.log_softmax(logits, dim=-1).gather(1, y.unsqueeze(1)).squeeze(1)
        # 1 - p from expm1 and kept above 0: (1 - p)^gamma has an infinite slope at p = 1 when gamma < 1.
        one_minus_p = (-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny)
        per = -(one_minus_p**cfg.gamma) * log_p
        if alpha is not None:
            per = per * alpha.to(per.device)[y]
        return per.mean()

    return loss
