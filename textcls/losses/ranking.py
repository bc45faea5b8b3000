"""RankNet (Burges et al. 2005): pairwise ranking from one score per row.

For rows i, j of the same group whose gold scores differ, P(i above j) = sigmoid(s_i - s_j), and
the loss is the cross-entropy of P against q = 1 when i's gold score is higher, 0 when lower;
pairs with equal gold scores are skipped or trained toward q = 0.5 (`loss.ties`). Pairs are formed
within each batch: all of them, or `loss.pairs_per_item` partners drawn for each row. The loss is
the mean over pairs. Worked example: s = (0.7, 0.3), row 0 ranked higher: P = sigmoid(0.4) = 0.599,
loss = -log 0.599 = 0.513.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from textcls.losses.spec import LossOptions

if TYPE_CHECKING:
    import torch


def ranking_pairs(
    gold: torch.Tensor, groups: torch.Tensor | None = None, ties: str = "skip", per_item: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(i, j, q): the pairs of rows to compare and the target P(i above j) of each.

    gold: (B,) gold scores; groups: (B,) or None (one group). Without `per_item` every unordered
    pair appears once (i < j); with it, each row i draws up to `per_item` distinct partners j
    uniformly (torch's random generator), so a pair may appear once from each side.
    """
    import torch

    B = len(gold)
    valid = ~torch.eye(B, dtype=torch.bool, device=gold.device)  # (B, B) pairs that may be compared
    if groups is not None:
        valid &= groups[:, None] == groups[None, :]
    higher = gold[:, None] - gold[None, :]  # (B, B) > 0 where row i's gold score is higher
    if ties == "skip":
        valid &= higher != 0
    if per_item is None:
        i, j = valid.triu(1).nonzero(as_tuple=True)
    else:
        draw = torch.rand(B, B, device=gold.device).masked_fill(~valid, -1.0)  # partners in random order
        top = draw.topk(min(per_item, max(B - 1, 1)), dim=1)
        drawn = top.values >= 0
        i = torch.arange(B, device=gold.device)[:, None].expand_as(drawn)[drawn]
        j = top.indices[drawn]
    step = higher[i, j]
    q = (step > 0).to(gold.dtype) + 0.5 * (step == 0).to(gold.dtype)
    return i, j, q


class RankNet(LossOptions):
    name: Literal["ranknet"] = "ranknet"
    ties: Literal["skip", "half"] = "skip"  # pairs with equal gold scores skipped, or trained toward P = 0.5
    pairs_per_item: int | None = Field(None, ge=1)  # partners sampled per row (None: every pair in the batch)
    tasks = ("ranking",)
    plain = {"pairs_per_item": None}

    def build(self, counts, num_classes):
        import torch.nn.functional as F

        def loss(scores: torch.Tensor, gold: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
            s = scores.squeeze(-1)  # (B,)
            i, j, q = ranking_pairs(gold, groups, self.ties, self.pairs_per_item)
            if not len(i):
                return s.sum() * 0.0  # no pair to order in this batch: zero, with the graph kept
            return F.binary_cross_entropy_with_logits(s[i] - s[j], q.to(s.dtype))

        return loss
