"""Models by name. A new one is a `TextModel` subclass taking (cfg, num_features, outputs, log_softmax)
in its own module, plus its config class in `textcls.config.MODEL_TYPES` and one line here."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textcls.config import ModelConfig
from textcls.models.base import ModelOutput, TextModel
from textcls.models.bow import BagOfWords
from textcls.models.lstm import LSTMModel
from textcls.models.window import WindowTagger

if TYPE_CHECKING:
    from textcls.tasks import Task

# (model.type, per token) -> constructor: a sentence model gives sentence outputs (and token
# scores on demand), a token model gives only token outputs.
MODELS = {
    ("bow", False): BagOfWords,
    ("bow", True): WindowTagger,
    ("lstm", False): LSTMModel,
    ("lstm", True): partial(LSTMModel, tagging=True),
}


def build_model(cfg: ModelConfig, task: Task, num_features: int, outputs: int, log_softmax: bool = False) -> TextModel:
    return MODELS[(cfg.type, task.per_token)](cfg, num_features, outputs, log_softmax)


__all__ = ["ModelOutput", "TextModel", "build_model", "MODELS"]
