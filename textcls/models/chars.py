"""The character encoder: a vector for each word from its characters, so that words never seen in
training still get one from their spelling (suffixes, capitals, digits, hyphens)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from textcls.batching import Batch
from textcls.features import CHAR_BUCKETS
from textcls.models.padded_lstm import PaddedLSTM
from textcls.models.spec import ModelBase

CNN_WIDTH = 3  # characters each filter reads: trigrams, as in Ma and Hovy (2016)


class CharEncoder(nn.Module):
    """(U, L) character ids of distinct words -> (U, char_hidden) word vectors.

    cnn:  filters over character windows, max-pooled over the word's real positions.
    lstm: a BiLSTM over the characters; the last state of each direction, concatenated.
    A word's vector depends on its characters alone, not on the batch it is in.
    """

    def __init__(self, cfg: ModelBase):
        super().__init__()
        self.kind = cfg.char_encoder
        self.embedding = nn.Embedding(CHAR_BUCKETS, cfg.char_dim, padding_idx=0)
        if self.kind == "cnn":
            self.cnn = nn.Conv1d(cfg.char_dim, cfg.char_hidden, CNN_WIDTH, padding=CNN_WIDTH // 2)
        else:
            self.lstm = nn.LSTM(cfg.char_dim, cfg.char_hidden // 2, batch_first=True, bidirectional=True)

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding(chars)  # (U, L, char_dim), zeros on padding
        if self.kind == "cnn":
            h = self.cnn(x.transpose(1, 2)).transpose(1, 2)  # (U, L, H); windows past the end read zeros
            real = chars != 0
            return (
                h.masked_fill(~real.unsqueeze(-1), float("-inf")).amax(1).masked_fill(~real.any(1, keepdim=True), 0.0)
            )
        packed = pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: (2, U, H / 2), the last state of each direction
        return torch.cat([h[0], h[1]], dim=-1)  # (U, H)

    def padded(self, chars: torch.Tensor) -> torch.Tensor:
        """(B, T, L) character ids of each token of a padded grid -> (B, T, char_hidden), for the
        export; 0 on padding."""
        B, T, L = chars.shape
        flat = chars.reshape(B * T, L)
        if self.kind == "cnn":
            out = self(flat, None)
        else:  # the LSTM on padded characters, as the export cannot pack them
            lengths = (flat != 0).sum(1).clamp(min=1)
            _, out = PaddedLSTM(self.lstm)(self.embedding(flat), lengths)
            out = out * (flat != 0).any(1, keepdim=True)
        return out.reshape(B, T, -1)

    def words(self, batch: Batch) -> torch.Tensor:
        """(N, char_hidden): each token's vector, each distinct word of the batch encoded once."""
        # index_select, not `[batch.char_index]`: the backward of indexing is index_put_ with
        # accumulate, which on CPU with more than one thread (and a gradient of 32768 values or
        # more) adds each word's repeats with parallel atomic float adds, in an order that changes
        # from run to run, so training was not reproducible. index_select's backward (index_add_)
        # adds them in token order, and is no slower.
        return torch.index_select(self(batch.chars, batch.char_lengths), 0, batch.char_index)
