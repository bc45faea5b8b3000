"""The CRF tagger's loss: the negative log-likelihood of each sentence's gold tags under the
model's CRF layer (textcls.models.crf), summed and divided by the tagged tokens, so that it weighs
alike with the per-token losses.

class_weights make it cost-sensitive (softmax-margin, Gimpel and Smith 2010): a sequence that tags a
token of gold class c as anything else is scored w_c higher in the sum over sequences, so training
must put the gold sequence ahead of it by w_c. With `balanced` weights (those of ce) an entity token
in a sentence of O tokens costs far more to miss than an O token to mislabel: recall on rare tags
rises, where the plain likelihood lets a tagger that says O everywhere look good."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from textcls.encoded import IGNORE
from textcls.losses.classification import ClassWeights, class_weight_tensor
from textcls.losses.spec import LossOptions

if TYPE_CHECKING:
    import torch


class CRF(LossOptions):
    name: Literal["crf"] = "crf"
    tasks = ("tagging",)
    class_weights: ClassWeights = None  # per tag, or balanced: what missing a token of that gold tag costs
    tag_transitions = True
    plain = {"class_weights": None}

    def build(self, counts, num_classes):
        import torch.nn.functional as F

        weight = class_weight_tensor(self.class_weights, counts, num_classes)

        def loss(emissions: torch.Tensor, tags: torch.Tensor, layer) -> torch.Tensor:
            mask = tags != IGNORE  # (B, T): padding (and rows without tags)
            tagged = mask[:, 0]  # a row's tags start at its first token, or it has none
            if not tagged.any():
                return emissions.sum() * 0.0  # nothing to score: zero, with the graph kept
            emissions, tags, mask = emissions[tagged], tags[tagged], mask[tagged]
            cost = None
            if weight is not None:  # (B, T, C): w[gold tag] for every other tag, 0 for the gold one
                gold = tags.clamp_min(0)
                wrong = 1 - F.one_hot(gold, num_classes).to(emissions.dtype)
                cost = weight.to(emissions)[gold][:, :, None] * wrong
            return layer.nll(emissions, tags, mask, cost).sum() / mask.sum()

        return loss
