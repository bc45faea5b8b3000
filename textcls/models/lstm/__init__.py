"""A (bi)LSTM over the words (network.py): tag scores per word, or token scores pooled into a
sentence's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from textcls.models.spec import ModelBase
from textcls.sections import LogRange


class LSTMConfig(ModelBase):
    type: Literal["lstm"] = "lstm"
    hidden_dim: int = Field(128, ge=1)  # state size per direction
    num_layers: int = Field(1, ge=1)
    bidirectional: bool = True
    pooling: Literal["attention", "mean"] = "attention"  # how token scores become the sentence score
    crf: bool = False  # tagging: a CRF output layer (tag transition scores), trained with loss crf

    tune_space = {
        "optim.lr": LogRange(log=(3e-4, 1e-2)),
        "model.hidden_dim": [64, 128, 256],
        "model.dropout": [0.0, 0.25, 0.5],
        "model.embedding_dim": [50, 100, 200],
    }

    def build(self, per_token, num_features, outputs, log_softmax):
        from textcls.models.lstm.network import LSTMModel

        return LSTMModel(self, num_features, outputs, log_softmax, tagging=per_token)
