"""The window tagger: a bag-of-words model for tagging."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from textcls.batching import Batch
from textcls.models.base import ModelOutput, TextModel

if TYPE_CHECKING:
    from textcls.models.bow import BowConfig


class WindowTagger(TextModel):
    """Tags each token from the vectors of itself and `window` neighbours on each side (plus word
    shapes), through one hidden layer. Fast, and padding cannot reach a real token."""

    def __init__(self, cfg: BowConfig, num_features: int, outputs: int, log_softmax: bool = False):
        super().__init__(cfg, num_features, log_softmax, shapes=cfg.shape)
        self.window = cfg.window
        self.encoder = nn.Sequential(nn.Linear((2 * cfg.window + 1) * self.input_dim, cfg.hidden_dim), nn.ReLU())
        self.token_head = nn.Linear(cfg.hidden_dim, outputs)

    def scores(self, batch: Batch) -> ModelOutput:
        x = batch.pad(self.dropout(self.embed(batch)))  # (B, T, W), zeros on padding
        return ModelOutput(None, self.tag_scores(x), batch)

    def tag_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, W) token vectors, zeros on padding -> (B, T, C) tag scores."""
        k = self.window
        padded = F.pad(x, (0, 0, k, k))  # zeros beyond both ends, like padding
        windows = torch.cat([padded[:, i : i + x.shape[1]] for i in range(2 * k + 1)], dim=-1)  # (B, T, (2k+1)W)
        return self.token_head(self.dropout(self.encoder(windows)))

    def padded_scores(self, x, lengths, mask, inputs):
        return None, self.tag_scores(x)
