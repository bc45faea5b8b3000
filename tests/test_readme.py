"""The README's configuration table against the config classes: every field of every section (and
of every model type) is named in its row, and every model type, task and loss name is listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from textcls.config import Config
from textcls.losses import LOSSES
from textcls.models import MODEL_TYPES
from textcls.tasks import TASKS

README = Path(__file__).resolve().parent.parent / "README.md"


def table_rows() -> dict[str, str]:
    """section -> its row of the table under '## Configuration'."""
    text = README.read_text(encoding="utf-8").split("## Configuration", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| (.*) \|$", text, re.M)
    return dict(rows)


def named(row: str) -> set[str]:
    return set(re.findall(r"`([\w.]+)`", row))


@pytest.mark.parametrize("section", [name for name in Config.model_fields if name not in ("task", "model", "tune")])
def test_each_field_of_a_section_is_in_its_row(section):
    fields = set(Config.model_fields[section].annotation.model_fields)
    assert fields <= named(table_rows()[section]), f"{section}: missing {sorted(fields - named(table_rows()[section]))}"


def test_each_model_type_and_its_fields_are_in_the_model_row():
    row = named(table_rows()["model"])
    for name, cls in MODEL_TYPES.items():
        assert name in row, f"model type {name} is not listed"
        assert set(cls.model_fields) <= row, f"{name}: missing {sorted(set(cls.model_fields) - row)}"


def test_every_task_and_loss_is_named():
    rows = table_rows()
    assert set(TASKS) <= named(rows["task"])
    assert set(LOSSES) <= named(rows["loss"])
