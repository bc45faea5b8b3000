"""The bag of words: fastText's averaged vectors for sentences (bag.py); for tagging, a window of
neighbours through one hidden layer (window.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from textcls.models.spec import ModelBase
from textcls.sections import LogRange


class BowConfig(ModelBase):
    type: Literal["bow"] = "bow"
    word_ngrams: int = Field(1, ge=1, le=5)  # 2 adds hashed bigrams, as fastText's -wordNgrams
    window: int = Field(2, ge=0)  # tagging: neighbours on each side
    hidden_dim: int = Field(128, ge=1)  # tagging: the window's hidden layer

    tune_space = {
        "optim.lr": LogRange(log=(1e-3, 3e-2)),
        "model.embedding_dim": [50, 100, 200],
        "model.word_ngrams": [1, 2, 3],
        "model.dropout": [0.0, 0.25, 0.5],
        "train.epochs": [5, 10, 20],
    }

    def hashed_word_ngrams(self) -> int:
        return self.word_ngrams

    def build(self, per_token, num_features, outputs, log_softmax):
        if per_token:
            from textcls.models.bow.window import WindowTagger

            return WindowTagger(self, num_features, outputs, log_softmax)
        from textcls.models.bow.bag import BagOfWords

        return BagOfWords(self, num_features, outputs, log_softmax)
