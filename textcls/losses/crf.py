"""The CRF tagger's loss: the negative log-likelihood of each sentence's gold tags under the
model's CRF layer (textcls.models.crf), summed and divided by the tagged tokens, so that it weighs
alike with the per-token losses."""

from __future__ import annotations

import torch

from textcls.batching import IGNORE
from textcls.config import LossConfig
from textcls.losses.classification import LossFn


def crf(cfg: LossConfig, counts, num_classes) -> LossFn:
    def loss(emissions: torch.Tensor, tags: torch.Tensor, layer) -> torch.Tensor:
        mask = tags != IGNORE  # (B, T): padding
        return layer.nll(emissions, tags, mask).sum() / mask.sum()

    return loss
