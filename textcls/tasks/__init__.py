"""Tasks by name. A new task is a module with a `Task` subclass plus one line here."""

from __future__ import annotations

from textcls.tasks.base import Task
from textcls.tasks.classification import Classification
from textcls.tasks.ranking import Ranking
from textcls.tasks.regression import Regression
from textcls.tasks.tagging import Tagging

TASKS: dict[str, Task] = {
    "classification": Classification(),
    "tagging": Tagging(),
    "regression": Regression(),
    "ranking": Ranking(),
}


def get_task(task: Task | str) -> Task:
    """The task named `task` (a Task is returned as it is)."""
    if isinstance(task, Task):
        return task
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task '{task}' (choose one of: {', '.join(TASKS)})") from None


__all__ = ["TASKS", "Task", "get_task"]
