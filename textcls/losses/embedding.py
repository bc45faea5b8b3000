"""Losses that shape sentence embeddings: contrastive over pairs, triplet over triplets or mined ones.

Distances (`loss.distance`): euclidean ||a - b|| (kept differentiable at 0), or cosine 1 - cos(a, b).
contrastive (Hadsell et al. 2006), pairs (B, 2, D) with y = 1 for similar:
    mean of y d^2 + (1 - y) max(0, margin - d)^2   (no 1/2 factor)
triplet, explicit triplets (B, 3, D) as (anchor, positive, negative), or mined from class labels
in the batch, (B, D) with labels (B,): mean of max(0, d(a, p) - d(a, n) + margin) over the
triplets used. Mining (`loss.mining`), for every anchor a and positive p (same class, p != a):
    all       every negative n (another class);
    hard      the negative closest to a;
    semihard  the closest negative farther than p but inside the margin, d(a, p) < d(a, n) < d(a, p) + m
              (FaceNet); where none is, the closest negative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from textcls.losses.spec import LossOptions

if TYPE_CHECKING:
    import torch

Distance = Literal["euclidean", "cosine"]  # between sentence embeddings


def distance(a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """(..., D), (..., D) -> (...)."""
    import torch

    if kind == "cosine":
        return 1 - torch.nn.functional.cosine_similarity(a, b, dim=-1)
    return ((a - b) ** 2).sum(-1).clamp_min(1e-12).sqrt()


def distance_matrix(x: torch.Tensor, kind: str) -> torch.Tensor:
    """(B, D) -> (B, B) distances between every two rows."""
    return distance(x[:, None, :], x[None, :, :], kind)


class Contrastive(LossOptions):
    name: Literal["contrastive"] = "contrastive"
    distance: Distance = "euclidean"
    margin: float = Field(1.0, gt=0)
    tasks = ("embedding",)

    def build(self, counts, num_classes):
        def loss(pairs: torch.Tensor, similar: torch.Tensor) -> torch.Tensor:
            d = distance(pairs[:, 0], pairs[:, 1], self.distance)  # (B,)
            y = similar.to(d.dtype)
            return (y * d**2 + (1 - y) * (self.margin - d).clamp_min(0) ** 2).mean()

        return loss


def mined_triplets(d: torch.Tensor, labels: torch.Tensor, mining: str, margin: float) -> tuple[torch.Tensor, ...]:
    """(a, p, n) index tensors of the triplets `mining` picks, from (B, B) distances and (B,) labels."""
    import torch

    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)  # (B, B) p for each a
    a, p = positive.nonzero(as_tuple=True)
    negative = ~same[a]  # (P, B) negatives of each (a, p)
    if mining == "all":
        pair, n = negative.nonzero(as_tuple=True)
        return a[pair], p[pair], n
    d_an = d[a].masked_fill(~negative, float("inf"))  # (P, B)
    has = torch.isfinite(d_an).any(1)  # an anchor whose class fills the batch has no negative
    n = d_an.argmin(1)  # the hardest negative
    if mining == "semihard":
        d_ap = d[a, p][:, None]
        inside = (d_an > d_ap) & (d_an < d_ap + margin)
        semi = d_an.masked_fill(~inside, float("inf"))
        n = torch.where(inside.any(1), semi.argmin(1), n)
    return a[has], p[has], n[has]


class Triplet(LossOptions):
    name: Literal["triplet"] = "triplet"
    distance: Distance = "euclidean"
    margin: float = Field(1.0, gt=0)
    mining: Literal["all", "hard", "semihard"] = "semihard"  # from class labels: which triplets of a batch count
    tasks = ("embedding",)

    def build(self, counts, num_classes):
        import torch

        def loss(x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            if x.dim() == 3:  # explicit (anchor, positive, negative) triplets
                d_ap, d_an = distance(x[:, 0], x[:, 1], self.distance), distance(x[:, 0], x[:, 2], self.distance)
            else:
                d = distance_matrix(x, self.distance)
                with torch.no_grad():  # choosing the triplets is not differentiated
                    a, p, n = mined_triplets(d, labels, self.mining, self.margin)
                if not len(a):
                    return x.sum() * 0.0  # no triplet in this batch: zero, with the graph kept
                d_ap, d_an = d[a, p], d[a, n]
            return (d_ap - d_an + self.margin).clamp_min(0).mean()

        return loss
