"""The base of every config section, and the small types sections share. It sits below the config
module so that a component (a model type, a loss) can declare its own section beside its code
without importing the whole config.
"""

from __future__ import annotations

import difflib
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)  # (lr: .inf is an error)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value, info: ValidationInfo):
        """`epochs: true` is an error, not 1: a field that takes numbers but not booleans refuses them."""
        if isinstance(value, bool):
            accepted = _scalar_types(cls.model_fields[info.field_name].annotation)
            if accepted & {int, float} and bool not in accepted:
                raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


def _scalar_types(annotation) -> set:
    """The plain types an annotation admits (through Optional, Union, Annotated and tuples' items not)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType, Annotated):
        return set().union(*(_scalar_types(a) for a in get_args(annotation)[: 1 if origin is Annotated else None]))
    return {annotation} if isinstance(annotation, type) else set()


def registered(name: str, names: list[str]) -> str:
    """`name` if it is one of `names` (a registry's), else an error with the closest name."""
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        raise ValueError(f"did you mean '{close[0]}'?" if close else f"choose one of: {', '.join(names)}")
    return name


class LogRange(Section):
    log: tuple[float, float]  # a number drawn log-uniformly between the two (both > 0)

    @model_validator(mode="after")
    def _positive(self) -> "LogRange":
        if not 0 < self.log[0] < self.log[1]:
            raise ValueError("log: [low, high] needs 0 < low < high")
        return self


class Range(Section):
    range: tuple[float, float]  # uniformly between the two; whole numbers when both are

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if not self.range[0] < self.range[1]:
            raise ValueError("range: [low, high] needs low < high")
        return self
