"""A (bi)LSTM over packed sequences; a token head scores every position."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textcls.batching import Batch
from textcls.models.base import ModelOutput, TextModel
from textcls.models.crf import CRF
from textcls.models.padded_lstm import PaddedLSTM
from textcls.models.pooling import pool, pooling_weights

if TYPE_CHECKING:
    from textcls.models.lstm import LSTMConfig


class LSTMModel(TextModel):
    """Token scores = `token_head` over each hidden state (B, T, C). For sentences they are pooled
    (attention weights from `attention`, or a plain mean) into the sentence logits, so the sentence
    prediction is built from the token scores and word supervision shapes the classifier itself."""

    def __init__(
        self, cfg: LSTMConfig, num_features: int, outputs: int, log_softmax: bool = False, tagging: bool = False
    ):
        super().__init__(cfg, num_features, log_softmax, shapes=tagging and cfg.shape)
        self.tagging = tagging
        self.encoder = nn.LSTM(
            self.input_dim,
            cfg.hidden_dim,
            num_layers=cfg.num_layers,
            bidirectional=cfg.bidirectional,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        states = cfg.hidden_dim * (2 if cfg.bidirectional else 1)
        self.token_head = nn.Linear(states, outputs)
        self.attention = nn.Linear(states, 1) if cfg.pooling == "attention" and not tagging else None
        self.crf = CRF(outputs) if tagging and cfg.crf else None

    def scores(self, batch: Batch) -> ModelOutput:
        x = batch.pad(self.embed(batch))  # (B, T, W)
        T = x.shape[1]
        packed = pack_padded_sequence(self.dropout(x), batch.lengths, batch_first=True, enforce_sorted=False)
        states, _ = self.encoder(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=T)  # (B, T, H*dirs), zeros on padding
        sentence, token_scores, embedding = self.heads(self.dropout(states), batch.mask)
        if self.tagging:
            return ModelOutput(None, token_scores, batch, crf=self.crf)
        return ModelOutput(sentence, token_scores, batch, embedding=embedding)

    def heads(self, states: torch.Tensor, mask: torch.Tensor):
        """(B, T, H*dirs) states, (B, T) mask -> the sentence logits (B, C) (None when tagging), the
        token scores (B, T, C), and a function giving the pooled sentence vector."""
        token_scores = self.token_head(states)  # (B, T, C)
        if self.tagging:
            return None, token_scores, None
        weights = pooling_weights(states, mask, self.attention)  # (B, T)
        return pool(token_scores, weights), token_scores, lambda: pool(states, weights)

    def padded_scores(self, x, lengths, mask, inputs):
        states, _ = PaddedLSTM(self.encoder)(x, lengths)  # (the same parameters, run on the padded grid)
        sentence, tokens, _ = self.heads(states, mask)
        return sentence, tokens
