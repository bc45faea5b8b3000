"""The run configuration: one typed, validated object built from YAML plus `--set` overrides.

Every section is a pydantic model with `extra="forbid"`, so a misspelt key is an error
that names the key and suggests the closest valid one. Below this module, code receives
its own typed section, never a raw dict.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from textcls.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    train: str  # CSV path (plain or .gz)
    valid: Union[str, float] = 0.1  # a CSV path, or a fraction split off train
    test: str | None = None  # evaluated once at the end, if given
    text_column: str = "text"
    label_column: str = "label"  # classification: a class; tagging: space-separated tags; regression: a number
    rationale_column: str | None = None  # "word:target word:target ..." per row
    lexicon: str | None = None  # CSV `word,label` or `word,score`
    lexicon_threshold: float = Field(0.0, ge=0)  # with `word,score`: score >= t -> positive, <= -t -> negative
    lexicon_holdout: float = Field(0.0, ge=0, lt=1)  # share of lexicon words withheld from training
    lexicon_examples: bool = False  # also train each lexicon word alone (word target only, no sentence label)
    lowercase: bool = True
    min_freq: int = Field(1, ge=1)
    max_vocab: int | None = Field(None, ge=1)
    max_length: int | None = Field(None, ge=1)  # tokens kept per text


class ModelConfig(Section):
    type: Literal["bow", "lstm"] = "bow"
    embedding_dim: int = Field(100, ge=1)
    hidden_dim: int = Field(128, ge=1)  # LSTM state size per direction; window tagger hidden layer
    num_layers: int = Field(1, ge=1)
    bidirectional: bool = True
    dropout: float = Field(0.0, ge=0, lt=1)
    word_dropout: float = Field(0.0, ge=0, lt=1)  # training: share of words read as unknown (their n-grams kept)
    pooling: Literal["attention", "mean"] = "attention"  # LSTM: how token scores become the sentence score
    word_ngrams: int = Field(1, ge=1, le=5)  # 2 adds hashed bigrams, as fastText's -wordNgrams
    char_ngrams: tuple[int, int] | None = None  # (min, max) hashed character n-grams of each word
    buckets: int = Field(200_000, ge=1)  # hash buckets shared by word and character n-grams
    sparse: bool = True  # sparse embedding gradients (SparseAdam): a step touches only the rows a batch uses
    window: int = Field(2, ge=0)  # bow tagger: neighbours on each side
    shape: bool = True  # tagging: a small embedding of each word's shape (case, digits, punctuation)

    @model_validator(mode="after")
    def _check_ngrams(self) -> "ModelConfig":
        if self.char_ngrams is not None and not 1 <= self.char_ngrams[0] <= self.char_ngrams[1]:
            raise ValueError("char_ngrams must be [min, max] with 1 <= min <= max")
        return self


class RationaleConfig(Section):
    weight: float = Field(0.0, ge=0)  # lambda in total = sentence_loss + lambda * rationale_loss
    pos_weight: Union[Literal["auto"], float] = "auto"  # auto = negatives / positives among training targets
    normalize: Literal["sentence", "token"] = "sentence"


class RegularizerConfig(Section):
    name: Literal["activation_l1", "weight_l1", "weight_l2"]
    weight: float = Field(ge=0)
    targets: list[str]  # module names (activation_l1) or parameter names (weight_*), globs allowed


class LossConfig(Section):
    name: Literal["auto", "bce", "ce", "nll", "focal", "mse", "l1", "huber"] = "auto"
    pos_weight: Union[Literal["auto"], float, None] = None  # bce
    class_weights: Union[Literal["balanced"], list[float], None] = None  # ce, nll, focal
    label_smoothing: float = Field(0.0, ge=0, lt=1)  # ce
    gamma: float = Field(2.0, ge=0)  # focal
    alpha: list[float] | None = None  # focal: per-class weights
    beta: float = Field(1.0, gt=0)  # huber: where the loss turns from quadratic to linear
    rationale: RationaleConfig = RationaleConfig()
    regularizers: list[RegularizerConfig] = []


class OptimConfig(Section):
    name: Literal["adamw", "adam", "sgd", "sgd_linear"] = "adamw"  # sgd_linear: fastText's plain SGD, linear decay
    lr: float = Field(1e-3, gt=0)  # sgd_linear: per example (fastText's -lr); a batch steps lr * batch_size
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float | None = Field(None, gt=0)  # max global gradient norm
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)


class TrainConfig(Section):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(512, ge=1)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: Union[Literal["auto"], Annotated[int, Field(ge=1)]] = "auto"  # torch CPU threads; auto = the cores this process may use
    faithfulness: bool = False  # final evaluation also measures comprehensiveness/sufficiency (11 extra passes)
    hogwild: bool = False  # CPU, optim sgd_linear: one process per thread sharing the weights, lock-free (not reproducible)
    patience: int | None = Field(None, ge=1)  # epochs without improvement before stopping
    monitor: str = "auto"  # e.g. accuracy, macro_f1, loss, r2; auto = accuracy (or r2 for regression)


def resolve_threads(threads: int | str) -> int:
    """`auto`: the cores this process may run on (its CPU affinity), so threads never outnumber them."""
    if threads != "auto":
        return int(threads)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


class OutputConfig(Section):
    dir: str = "runs"  # parent of run folders named <config name>-<timestamp>
    save_last: bool = True


class Config(Section):
    task: str = "classification"  # a name in textcls.tasks.TASKS
    data: DataConfig
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    output: OutputConfig = OutputConfig()

    @field_validator("task")
    @classmethod
    def _known_task(cls, name: str) -> str:
        from textcls.tasks import TASKS  # here, not above: the tasks read their config sections from this module

        if name not in TASKS:
            close = difflib.get_close_matches(name, list(TASKS), n=1)
            raise ValueError(f"did you mean '{close[0]}'?" if close else f"choose one of: {', '.join(TASKS)}")
        return name

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


# --- loading -----------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.epochs=3` -> (["train", "epochs"], 3); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE (e.g. train.epochs=3), got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"--set {text}: the value is not valid YAML") from None
    return key.strip().split("."), value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: '{part}' is not a section")
            node = child
        node[path[-1]] = value
    return raw


def _fields_at(loc: tuple) -> list[str]:
    """The valid keys of the section that `loc` (a pydantic error location) points into."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an index into a list of sections
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        sub = [c for c in candidates if isinstance(c, type) and not hasattr(c, "__origin__") and issubclass(c, BaseModel)]
        if not sub:
            return []
        model = sub[0]
    return list(model.model_fields)


_TYPE_TAGS = {"str", "float", "int", "bool", "list", "dict", "tuple", "none"}


def _user_loc(loc: tuple) -> tuple:
    """Drop the union-member tags pydantic adds to a location (e.g. 'float', "literal['auto']")."""
    return tuple(p for p in loc if isinstance(p, int) or (p.isidentifier() and p not in _TYPE_TAGS))


def describe_validation_error(error: ValidationError, source: str) -> str:
    """One line naming the first bad key, what is wrong, and the closest valid key."""
    # A misspelt key also makes its correct spelling "missing": report the misspelling.
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    loc = _user_loc(errors[0]["loc"][:-1]) + errors[0]["loc"][-1:] if errors[0]["type"] == "extra_forbidden" else _user_loc(errors[0]["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if errors[0]["type"] == "extra_forbidden":
        valid = _fields_at(loc)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        parent = ".".join(str(p) for p in loc[:-1])
        hint = f"did you mean '{parent + '.' if parent else ''}{close[0]}'?" if close else f"valid keys: {', '.join(valid)}"
        return f"{source}: unknown key '{key}' ({hint})"
    if errors[0]["type"] == "missing":
        return f"{source}: missing required key '{key}'"
    # A union (e.g. 'auto' or a number) reports one error per member: join them.
    messages = dict.fromkeys(e["msg"].removeprefix("Value error, ") for e in errors if _user_loc(e["loc"]) == loc)
    return f"{source}: invalid value {errors[0].get('input')!r} for '{key}': {' or '.join(messages)}"


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return config_from_dict(apply_overrides(raw, overrides or []), source=str(path))


def config_from_dict(raw: dict, source: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None

