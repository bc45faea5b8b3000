"""Model types by name. A new one is a package here (its config class, a `ModelBase` subclass, in
its `__init__.py`; its network beside it) plus one line in MODEL_TYPES. This module imports no
torch: the config reads MODEL_TYPES, and a network's module is imported when it is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textcls.models.bow import BowConfig
from textcls.models.cnn import CNNConfig
from textcls.models.lstm import LSTMConfig
from textcls.models.spec import ModelBase

if TYPE_CHECKING:
    from textcls.models.base import TextModel
    from textcls.tasks import Task

# model.type -> its config class, which builds its network
MODEL_TYPES: dict[str, type[ModelBase]] = {"bow": BowConfig, "lstm": LSTMConfig, "cnn": CNNConfig}


def build_model(cfg: ModelBase, task: Task, num_features: int, outputs: int, log_softmax: bool = False) -> TextModel:
    """The network `cfg` describes for `task`: a token model (tags per word) or a sentence model."""
    return cfg.build(task.per_token, num_features, outputs, log_softmax)


__all__ = ["MODEL_TYPES", "ModelBase", "build_model"]
