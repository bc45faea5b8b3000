"""Models by name. A new one is a class taking (cfg, num_features, outputs, log_softmax) plus one line here."""

from __future__ import annotations

from functools import partial

from textcls.config import ModelConfig
from textcls.models.base import ModelOutput, TextModel
from textcls.models.bow import BagOfWords, WindowTagger
from textcls.models.lstm import LSTMModel

# (model.type, task) -> constructor; regression uses the sentence models with one output.
MODELS = {
    ("bow", "classification"): BagOfWords,
    ("bow", "regression"): BagOfWords,
    ("bow", "tagging"): WindowTagger,
    ("lstm", "classification"): LSTMModel,
    ("lstm", "regression"): LSTMModel,
    ("lstm", "tagging"): partial(LSTMModel, tagging=True),
}


def build_model(cfg: ModelConfig, task: str, num_features: int, outputs: int, log_softmax: bool = False) -> TextModel:
    return MODELS[(cfg.type, task)](cfg, num_features, outputs, log_softmax)


__all__ = ["ModelOutput", "TextModel", "build_model", "MODELS"]
