"""Losses by name, the rationale loss, regularisers, and the objective that sums them.

Every loss takes scores (N, C) and targets (N,) for the rows or tokens that count; the objective
selects those (padding and unlabelled words never reach a loss).
"""

from textcls.losses.classification import LossFn, auto_pos_weight
from textcls.losses.objective import Objective, build_objective, plain_objective
from textcls.losses.rationale import rationale_loss
from textcls.losses.registry import LOSSES, OPTIONS, check_options, resolve_loss, resolve_loss_name
from textcls.losses.regularizers import REGULARIZERS, ActivationL1, WeightNorm

__all__ = ["LOSSES", "OPTIONS", "REGULARIZERS", "ActivationL1", "LossFn", "Objective", "WeightNorm", "auto_pos_weight",
           "build_objective", "check_options", "plain_objective", "rationale_loss", "resolve_loss", "resolve_loss_name"]
