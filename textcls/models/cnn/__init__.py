"""A convolutional sentence model (Kim, 2014; network.py): filters of several widths slide over the
words, each filter's strongest window is kept (max over time), and a linear head reads them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from textcls.errors import ConfigError
from textcls.models.spec import ModelBase
from textcls.sections import LogRange


class CNNConfig(ModelBase):
    type: Literal["cnn"] = "cnn"
    filter_widths: list[int] = [3, 4, 5]  # words each filter reads; one group of `filters` filters per width
    filters: int = Field(100, ge=1)  # filters per width: the sentence vector has len(filter_widths) * filters
    dropout: float = Field(0.5, ge=0, lt=1)  # on the pooled features, before the head (Kim's 0.5)

    tune_space = {
        "optim.lr": LogRange(log=(3e-4, 1e-2)),
        "model.filters": [50, 100, 200],
        "model.dropout": [0.0, 0.25, 0.5],
        "model.embedding_dim": [50, 100, 200],
    }

    @field_validator("filter_widths")
    @classmethod
    def _widths(cls, widths: list[int]) -> list[int]:
        if not widths or any(w < 1 for w in widths):
            raise ValueError("a list of one or more widths, each at least 1 (e.g. [3, 4, 5])")
        return widths

    def build(self, per_token, num_features, outputs, log_softmax):
        if per_token:
            raise ConfigError("model.type 'cnn' scores sentences and does not tag words: use bow or lstm for tagging")
        from textcls.models.cnn.network import CNNModel

        return CNNModel(self, num_features, outputs, log_softmax)
