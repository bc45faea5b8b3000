"""The CNN sentence model's network: convolutions over the word vectors, max over time, a head.

Token scores explain it exactly: each pooled feature's contribution to the logits (its value times
its column of the head) is shared equally by the real tokens of the window that won its max, so a
sentence's token scores add up to its logits minus the bias. They are differentiable, so word
targets (rationale supervision) train the filters through them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from textcls.batching import Batch
from textcls.models.base import ModelOutput, TextModel

if TYPE_CHECKING:
    from textcls.models.cnn import CNNConfig


class CNNModel(TextModel):
    def __init__(self, cfg: CNNConfig, num_features: int, outputs: int, log_softmax: bool = False):
        super().__init__(cfg, num_features, log_softmax)
        self.widths = list(cfg.filter_widths)
        self.convs = nn.ModuleList(nn.Conv1d(self.input_dim, cfg.filters, width) for width in self.widths)
        self.token_head = nn.Linear(cfg.filters * len(self.widths), outputs)

    def scores(self, batch: Batch) -> ModelOutput:
        x = batch.pad(self.embed(batch))  # (B, T, W), zeros on padding
        sentence, tokens, pooled = self.grid_scores(x, batch.lengths.to(x.device))
        return ModelOutput(sentence, batch=batch, flat_tokens=lambda: batch.unpad(tokens()), embedding=pooled)

    def padded_scores(self, x, lengths, mask, inputs):
        sentence, tokens, _ = self.grid_scores(x, lengths)
        return sentence, tokens()

    def grid_scores(self, x: torch.Tensor, lengths: torch.Tensor):
        """x (B, T, W) word vectors, zeros on padding; lengths (B,). Returns the sentence logits
        (B, C), a function giving the token scores (B, T, C; zeros on padding), and the pooled
        features (B, F): the sentence vector the head reads (dropped out while training)."""
        B, T, _ = x.shape
        features, windows = [], []
        for conv, width in zip(self.convs, self.widths):
            # width - 1 zero vectors after every row's end: a row shorter than the filter still has one
            # window (its words, then zeros), and the padding never depends on T (ONNX traces it once).
            grid = F.pad(x, (0, 0, 0, width - 1)).transpose(1, 2)  # (B, W, T + width - 1)
            h = F.relu(conv(grid))  # (B, filters, T): one value per window start
            starts = torch.arange(h.shape[2], device=x.device)
            last_start = (lengths - width).clamp(min=0)  # (B,) windows start at 0 .. L - width
            h = h.masked_fill(starts[None, None, :] > last_start[:, None, None], float("-inf"))
            value, start = h.max(dim=2)  # (B, filters) each filter's strongest window, and where it starts
            features.append(value)
            windows.append((start, width))
        pooled = self.dropout(torch.cat(features, dim=1))  # (B, F)
        sentence = self.token_head(pooled)  # (B, C)

        def token_scores() -> torch.Tensor:
            contribution = pooled.unsqueeze(-1) * self.token_head.weight.T.unsqueeze(0)  # (B, F, C)
            out = contribution.new_zeros(B, T, contribution.shape[2])
            first = 0
            for start, width in windows:
                part = contribution[:, first : first + start.shape[1]]  # (B, filters, C)
                first += start.shape[1]
                position = start.unsqueeze(-1) + torch.arange(width, device=x.device)  # (B, filters, width)
                real = position < lengths.view(B, 1, 1)
                share = real / real.sum(-1, keepdim=True)  # 1 / (real tokens of the window) on each of them
                position = position.clamp(max=T - 1)  # (a short row's padding positions get a share of 0)
                spread = (part.unsqueeze(2) * share.unsqueeze(-1)).reshape(
                    B, -1, part.shape[2]
                )  # (B, filters*width, C)
                index = position.reshape(B, -1, 1).expand(-1, -1, part.shape[2])
                out = out.scatter_add(1, index, spread)
            return out

        return sentence, token_scores, pooled
