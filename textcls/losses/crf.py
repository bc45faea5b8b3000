"""The CRF tagger's loss: the negative log-likelihood of each sentence's gold tags under the
model's CRF layer (textcls.models.crf), summed and divided by the tagged tokens, so that it weighs
alike with the per-token losses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from textcls.encoded import IGNORE
from textcls.losses.spec import LossOptions

if TYPE_CHECKING:
    import torch


class CRF(LossOptions):
    name: Literal["crf"] = "crf"
    tasks = ("tagging",)
    tag_transitions = True

    def build(self, counts, num_classes):
        def loss(emissions: torch.Tensor, tags: torch.Tensor, layer) -> torch.Tensor:
            mask = tags != IGNORE  # (B, T): padding (and rows without tags)
            tagged = mask[:, 0]  # a row's tags start at its first token, or it has none
            if not tagged.any():
                return emissions.sum() * 0.0  # nothing to score: zero, with the graph kept
            return layer.nll(emissions[tagged], tags[tagged], mask[tagged]).sum() / mask.sum()

        return loss
