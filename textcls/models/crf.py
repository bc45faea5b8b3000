"""A linear-chain CRF output layer for taggers: tag-to-tag transition scores, and the sentence's
negative log-likelihood of its gold tags under them (Lafferty et al. 2001).

score(y) = start[y_1] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_T]
NLL(y) = log sum over all tag sequences of exp(score) - score(y)   (the forward algorithm)
"""

from __future__ import annotations

import torch
from torch import nn


class CRF(nn.Module):
    def __init__(self, num_tags: int):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def nll(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, cost: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B,) each sentence's negative log-likelihood. emissions: (B, T, C); tags: (B, T);
        mask: (B, T) True on real tokens, which come first in each row. cost: (B, T, C), what tagging
        token t as class c costs (0 for its gold tag): added to every sequence's score in the sum over
        sequences, so the gold sequence must beat each other one by its cost (softmax-margin,
        Gimpel and Smith 2010); None: the plain likelihood."""
        B, T, _ = emissions.shape
        tags = tags.masked_fill(~mask, 0)
        rows = torch.arange(B, device=emissions.device)
        # the gold sequence's score
        gold = self.start[tags[:, 0]] + emissions[rows, 0, tags[:, 0]]
        for t in range(1, T):
            step = self.transitions[tags[:, t - 1], tags[:, t]] + emissions[rows, t, tags[:, t]]
            gold = gold + step * mask[:, t]
        last = tags[rows, mask.sum(1) - 1]
        gold = gold + self.end[last]
        # log of the sum over every sequence: the forward algorithm
        if cost is not None:
            emissions = emissions + cost
        alpha = self.start + emissions[:, 0]  # (B, C)
        for t in range(1, T):
            nxt = torch.logsumexp(alpha[:, :, None] + self.transitions[None], dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end, dim=1)
        return log_z - gold

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(transitions (C, C), start (C,), end (C,)) for decoding."""
        return self.transitions, self.start, self.end
