"""Losses by name. A new loss is a factory (cfg, label_counts, num_classes) -> loss(scores, targets)
in its own module, plus one line in LOSSES and one in textcls.losses.LOSS_OPTIONS (the options
it reads); each task lists the names it accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from textcls.config import LossConfig
from textcls.errors import ConfigError
from textcls.losses import LOSS_OPTIONS
from textcls.losses.classification import LossFn, bce, ce, focal, nll
from textcls.losses.crf import crf
from textcls.losses.embedding import contrastive, triplet
from textcls.losses.ranking import ranknet
from textcls.losses.regression import huber, l1, mse

if TYPE_CHECKING:
    from textcls.tasks import Task

# name -> factory(cfg, label_counts, num_classes); each task lists the names it accepts.
LOSSES: dict[str, Callable[..., LossFn]] = {
    "bce": bce,
    "ce": ce,
    "nll": nll,
    "focal": focal,
    "mse": mse,
    "l1": l1,
    "huber": huber,
    "ranknet": ranknet,
    "contrastive": contrastive,
    "triplet": triplet,
    "crf": crf,
}


# option -> the losses that read it
OPTIONS = {option: {name for name, options in LOSS_OPTIONS.items() if option in options}
           for option in dict.fromkeys(o for options in LOSS_OPTIONS.values() for o in options)}


def check_options(cfg: LossConfig, name: str) -> None:
    for option, readers in OPTIONS.items():
        if getattr(cfg, option) != LossConfig.model_fields[option].default and name not in readers:
            raise ConfigError(f"loss.{option} does not apply to loss '{name}' (it is read by: {', '.join(sorted(OPTIONS[option]))})")


def resolve_loss_name(name: str, task: Task, num_labels: int) -> str:
    """`auto` -> the task's default loss; any other name is checked against the task."""
    if name == "auto":
        return task.default_loss(num_labels)
    task.check_loss(name, num_labels)
    return name


def resolve_loss(cfg: LossConfig, task: Task, num_labels: int) -> str:
    """The loss `cfg.name` stands for, checked against the task and against the options set."""
    name = resolve_loss_name(cfg.name, task, num_labels)
    check_options(cfg, name)
    return name
