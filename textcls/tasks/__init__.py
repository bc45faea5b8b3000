"""Tasks by name. A new task is a module with a `Task` subclass plus one line here.

The task modules import neither torch nor the config module (they read the config sections they
are handed): the config checks task names against `TASKS` from below."""

from __future__ import annotations

from textcls.errors import ConfigError
from textcls.tasks.base import Task
from textcls.tasks.classification import Classification
from textcls.tasks.embedding import Embedding
from textcls.tasks.multilabel import MultiLabel
from textcls.tasks.ranking import Ranking
from textcls.tasks.regression import Regression
from textcls.tasks.tagging import Tagging

TASKS: dict[str, Task] = {
    "classification": Classification(),
    "tagging": Tagging(),
    "regression": Regression(),
    "ranking": Ranking(),
    "embedding": Embedding(),
    "multilabel": MultiLabel(),
}


def get_task(task: Task | str) -> Task:
    """The task named `task` (a Task is returned as it is)."""
    if isinstance(task, Task):
        return task
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task '{task}' (choose one of: {', '.join(TASKS)})") from None


def task_of(config, state: dict | None = None) -> Task:
    """The task a run's config names, bound to the config's settings it reads and to what it tuned
    on validation (`state`, saved in the run's task.json). A setting that only other tasks read
    (e.g. data.group_column for classification) is an error, not a silent no-op. This is where a
    config's task name becomes the object handed down to data, models, losses and the trainer."""
    task = get_task(config.task)
    for other in TASKS.values():
        for key in [k for k in other.reads if k not in task.reads]:  # (in order: the same error every run)
            section, field = key.split(".")
            part = getattr(config, section)
            fields = type(part).model_fields  # (a model type may not have the field at all)
            if field in fields and getattr(part, field) != fields[field].default:
                raise ConfigError(f"{key} is read by task '{other.name}', not by '{task.name}'")
    return task.bind(config, state or {})


__all__ = ["TASKS", "Task", "get_task", "task_of"]
