"""Regression losses: one output (N, 1) against values (N,). Pointwise: they ignore the groups
a ranking task passes along."""

from __future__ import annotations

import torch.nn.functional as F

from textcls.losses.classification import LossFn


def mse(cfg, counts, num_classes) -> LossFn:
    return lambda pred, y, *groups: F.mse_loss(pred.squeeze(-1), y)


def l1(cfg, counts, num_classes) -> LossFn:
    return lambda pred, y, *groups: F.l1_loss(pred.squeeze(-1), y)


def huber(cfg, counts, num_classes) -> LossFn:
    return lambda pred, y, *groups: F.huber_loss(pred.squeeze(-1), y, delta=cfg.beta)
