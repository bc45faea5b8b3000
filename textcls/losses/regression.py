"""Regression losses: one output (N, 1) against values (N,). Pointwise: they ignore the groups
a ranking task passes along."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from textcls.losses.spec import LossOptions


class MSE(LossOptions):
    name: Literal["mse"] = "mse"
    tasks = ("regression", "ranking")

    def build(self, counts, num_classes):
        import torch.nn.functional as F

        return lambda pred, y, *groups: F.mse_loss(pred.squeeze(-1), y)


class L1(LossOptions):
    name: Literal["l1"] = "l1"
    tasks = ("regression", "ranking")

    def build(self, counts, num_classes):
        import torch.nn.functional as F

        return lambda pred, y, *groups: F.l1_loss(pred.squeeze(-1), y)


class Huber(LossOptions):
    name: Literal["huber"] = "huber"
    beta: float = Field(1.0, gt=0)  # where the loss turns from quadratic to linear
    tasks = ("regression", "ranking")

    def build(self, counts, num_classes):
        import torch.nn.functional as F

        return lambda pred, y, *groups: F.huber_loss(pred.squeeze(-1), y, delta=self.beta)
