"""The loss a run trains with: `loss.name` (or the task's default for `auto`) resolved against the
task, and the `loss` section's options handed to that loss, none of them set for another."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textcls.config import LossBase, LossConfig
from textcls.errors import ConfigError
from textcls.losses import LOSSES
from textcls.losses.spec import LossOptions

if TYPE_CHECKING:
    from textcls.tasks import Task


def readers(option: str) -> list[str]:
    """The losses that read `option`."""
    return [name for name, loss in LOSSES.items() if option in loss.model_fields]


def check_options(cfg: LossConfig, name: str) -> None:
    """A loss option set (to other than its default) for a loss that does not read it is an error, not a no-op."""
    for option in (f for f in type(cfg).model_fields if f not in LossBase.model_fields):
        if getattr(cfg, option) != type(cfg).model_fields[option].default and option not in LOSSES[name].model_fields:
            raise ConfigError(
                f"loss.{option} does not apply to loss '{name}' (it is read by: {', '.join(sorted(readers(option)))})"
            )


def options_of(cfg: LossConfig, name: str) -> LossOptions:
    """Loss `name` with the options the `loss` section gives it."""
    loss = LOSSES[name]
    return loss(**{option: getattr(cfg, option) for option in loss.model_fields if option != "name"})


def resolve_loss_name(name: str, task: Task, num_labels: int) -> str:
    """`auto` -> the task's default loss; any other name is checked against the task."""
    if name == "auto":
        return task.default_loss(num_labels)
    task.check_loss(LOSSES[name], num_labels)
    return name


def resolve_loss(cfg: LossConfig, task: Task, num_labels: int) -> LossOptions:
    """The loss `cfg.name` stands for, checked against the task and against the options set."""
    name = resolve_loss_name(cfg.name, task, num_labels)
    check_options(cfg, name)
    return options_of(cfg, name)
