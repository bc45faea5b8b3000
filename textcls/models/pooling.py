"""Sentence pooling: how a sentence model turns per-token vectors or scores into one per sentence."""

from __future__ import annotations

import torch
from torch import nn


def pooling_weights(states: torch.Tensor, mask: torch.Tensor, attention: nn.Linear | None) -> torch.Tensor:
    """(B, T) weights summing to 1 over each row's real tokens (0 on padding).

    states: (B, T, H); mask: (B, T) True on real tokens. With `attention` (a linear layer H -> 1)
    the weights are a softmax of its scores; without, every token weighs the same (a mean).
    Pooling token scores with these weights equals scoring the pooled states, as the head is linear.
    """
    if attention is not None:
        return attention(states).squeeze(-1).masked_fill(~mask, float("-inf")).softmax(1)
    return mask / mask.sum(1, keepdim=True)


def pool(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B, T, K) values, (B, T) weights -> (B, K) weighted sums."""
    return (weights.unsqueeze(-1) * values).sum(1)
