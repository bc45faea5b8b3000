"""Losses by name. A new loss is a module here holding its options class (a `spec.LossOptions`
subclass: its options, the tasks it serves, how it is built) plus one line in LOSSES.

Every loss takes scores (N, C) and targets (N,) for the rows or tokens that count; the objective
(objective.py) selects those, and adds the rationale loss (rationale.py) and the regularisers
(regularizers.py). This module and the loss modules import torch only where they compute: the
config reads LOSSES to validate `loss:` without it.
"""

from textcls.losses.classification import BCE, CE, NLL, Focal
from textcls.losses.crf import CRF
from textcls.losses.embedding import Contrastive, Triplet
from textcls.losses.ranking import RankNet
from textcls.losses.regression import L1, MSE, Huber
from textcls.losses.spec import LossOptions

LOSSES: dict[str, type[LossOptions]] = {
    "bce": BCE,
    "ce": CE,
    "nll": NLL,
    "focal": Focal,
    "mse": MSE,
    "l1": L1,
    "huber": Huber,
    "ranknet": RankNet,
    "contrastive": Contrastive,
    "triplet": Triplet,
    "crf": CRF,
}
