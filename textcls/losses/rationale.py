"""Rationale supervision: a per-word loss between token scores and the words' targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from textcls.encoded import IGNORE


def rationale_loss(
    token_scores: torch.Tensor, targets: torch.Tensor, pos_weight: float | None = None, normalize: str = "sentence"
) -> torch.Tensor:
    """Per-word loss between token scores and word targets, averaged over the labelled words.

    token_scores: (B, T, C) logits; targets: (B, T) class a word supports, IGNORE where unlabelled
    or padding. C = 1: BCE-with-logits against 0/1 (pos_weight scales the positive words);
    C > 1: cross-entropy over the word's class scores.
    normalize: "sentence" = mean per sentence, then over sentences with any labelled word;
               "token" = mean over all labelled words in the batch.
    """
    labelled = targets != IGNORE  # (B, T)
    if not labelled.any():
        return token_scores.sum() * 0.0  # keeps the graph (and device) without changing gradients
    safe = targets.clamp(min=0)
    if token_scores.shape[-1] == 1:
        weight = None if pos_weight is None else token_scores.new_tensor(pos_weight)
        per_word = F.binary_cross_entropy_with_logits(
            token_scores[..., 0], safe.to(token_scores.dtype), pos_weight=weight, reduction="none"
        )
    else:
        per_word = F.cross_entropy(token_scores.transpose(1, 2), safe, reduction="none")  # (B, T)
    per_word = per_word * labelled
    if normalize == "token":
        return per_word.sum() / labelled.sum()
    counts = labelled.sum(1)
    rows = counts > 0
    return (per_word.sum(1)[rows] / counts[rows]).mean()
