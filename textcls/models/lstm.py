"""A (bi)LSTM over packed sequences; a token head scores every position."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textcls.batching import NUM_SHAPES, Batch
from textcls.config import ModelConfig
from textcls.models.base import ModelOutput, TextModel, embed_words


class LSTMModel(TextModel):
    """Token scores = `token_head` over each hidden state (B, T, C). For sentences they are pooled
    (attention weights from `attention`, or a plain mean) into the sentence logits, so the sentence
    prediction is built from the token scores and word supervision shapes the classifier itself."""

    def __init__(self, cfg: ModelConfig, num_features: int, outputs: int, log_softmax: bool = False, tagging: bool = False):
        super().__init__(log_softmax)
        self.tagging = tagging
        self.embedding = nn.Embedding(num_features, cfg.embedding_dim, padding_idx=0, sparse=cfg.sparse)
        self.shape_embedding = nn.Embedding(NUM_SHAPES, 16, padding_idx=0) if tagging and cfg.shape else None
        width = cfg.embedding_dim + (16 if self.shape_embedding is not None else 0)
        self.dropout = nn.Dropout(cfg.dropout)
        self.word_dropout = cfg.word_dropout
        self.encoder = nn.LSTM(
            width, cfg.hidden_dim, num_layers=cfg.num_layers, bidirectional=cfg.bidirectional,
            batch_first=True, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        states = cfg.hidden_dim * (2 if cfg.bidirectional else 1)
        self.token_head = nn.Linear(states, outputs)
        self.attention = nn.Linear(states, 1) if cfg.pooling == "attention" and not tagging else None

    def scores(self, batch: Batch) -> ModelOutput:
        x = embed_words(self.embedding, batch, self.word_dropout if self.training else 0.0)  # (N, D)
        if self.shape_embedding is not None:
            x = torch.cat([x, self.shape_embedding(batch.shapes)], dim=-1)
        x = batch.pad(x)  # (B, T, W)
        T = x.shape[1]
        packed = pack_padded_sequence(self.dropout(x), batch.lengths, batch_first=True, enforce_sorted=False)
        states, _ = self.encoder(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=T)  # (B, T, H*dirs), zeros on padding
        states = self.dropout(states)
        token_scores = self.token_head(states)  # (B, T, C)
        if self.tagging:
            return ModelOutput(None, token_scores, batch)
        mask = batch.mask
        if self.attention is not None:
            weights = self.attention(states).squeeze(-1).masked_fill(~mask, float("-inf")).softmax(1)
        else:
            weights = mask / mask.sum(1, keepdim=True)
        sentence = (weights.unsqueeze(-1) * token_scores).sum(1)  # (B, C)
        return ModelOutput(sentence, token_scores, batch)
