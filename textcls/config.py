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
from pydantic import BaseModel, Discriminator, Field, Tag, TypeAdapter, ValidationError, create_model, field_validator
from pydantic.fields import FieldInfo

from textcls.errors import ConfigError
from textcls.losses import LOSSES
from textcls.models import MODEL_TYPES, ModelBase
from textcls.models.bow import BowConfig
from textcls.sections import LogRange, Range, Section, registered
from textcls.tasks import TASKS


class DataConfig(Section):
    train: str  # CSV path (plain or .gz)
    valid: Union[str, float] = 0.1  # a CSV path, or a fraction split off train
    test: str | None = None  # evaluated once at the end, if given
    prepare: str | None = None  # the command that makes these files, named when one is missing
    delimiter: str = ","  # between the fields of train, valid and test (one character; a tab: "\t", in double quotes)
    text_column: str = "text"
    label_column: str = (
        "label"  # a class; tagging: space-separated tags; regression, ranking: a number; multilabel: "a|b"
    )
    rationale_column: str | None = None  # "word:target word:target ..." per row
    group_column: str | None = None  # ranking: rows are ranked only against rows of the same group (e.g. a query)
    weight_column: str | None = None  # a number >= 0 per row: how much its loss counts (default 1)
    # text of the target domain without labels, for self-training (train.self_training): a file of
    # one text per line, or a CSV (.csv, .csv.gz) with data.text_column
    unlabeled: str | None = None
    text_pair_column: str | None = None  # embedding: a second text per row; the label says if the two are similar
    similar_label: str = "1"  # embedding pairs: the label value meaning "similar" (any other: dissimilar)
    anchor_column: str | None = None  # embedding triplets: anchor, positive and negative text columns
    positive_column: str | None = None
    negative_column: str | None = None
    label_separator: str = Field(
        "|", min_length=1
    )  # multilabel: between the labels of a cell ("joy|trust"; empty: none)
    tag_scheme: Literal["auto", "none", "io", "bio", "bioes"] = (
        "auto"  # tagging: entity tags (auto: read from the tag set)
    )
    lexicon: str | None = None  # CSV `word,label` or `word,score`
    lexicon_threshold: float = Field(0.0, ge=0)  # with `word,score`: score >= t -> positive, <= -t -> negative
    lexicon_holdout: float = Field(0.0, ge=0, lt=1)  # share of lexicon words withheld from training
    lexicon_examples: bool = False  # also train each lexicon word alone (word target only, no sentence label)
    lowercase: bool = True
    min_freq: int = Field(1, ge=1)
    max_vocab: int | None = Field(None, ge=1)
    max_length: int | None = Field(None, ge=1)  # tokens kept per text
    # where encoded data are kept for the next run (textcls/token_cache.py): auto = $TEXTCLS_CACHE,
    # else .cache/ in output.dir; off; or a folder
    cache: str = "auto"

    @field_validator("cache", mode="before")
    @classmethod
    def _off(cls, cache: Any) -> Any:
        return {False: "off", True: "auto"}.get(cache, cache) if isinstance(cache, bool) else cache  # (YAML's off)

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, delimiter: str) -> str:
        if len(delimiter) != 1:  # (YAML reads a bare | or > as an empty text: quote symbols)
            raise ValueError("one character, quoted in YAML: ';', '|', or \"\\t\" for a tab")
        if delimiter in '"\r\n\0':
            raise ValueError("the quote character, a line break or NUL cannot separate fields")
        return delimiter


def _model_type(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("type", "bow")  # bow when a config leaves the type out
    return getattr(value, "type", None)


def _model_union():
    """The `model` section: one config class per model type, chosen by `type`."""
    return Annotated[
        Union[tuple(Annotated[c, Tag(name)] for name, c in MODEL_TYPES.items())], Discriminator(_model_type)
    ]


ModelConfig = _model_union()
_model_adapter = TypeAdapter(ModelConfig)


def model_config(**fields) -> ModelBase:
    """The model config of `fields["type"]` (default bow), validated as the config file's would be."""
    follow_registries()
    try:
        return _model_adapter.validate_python(fields)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "model config", within=("model",))) from None


def upgrade_saved_config(raw: dict) -> dict:
    """A run's saved config as this version reads it. Runs saved before model configs were per type
    hold every model field; those their type does not read had no effect and are dropped."""
    model = raw.get("model")
    if isinstance(model, dict) and _model_type(model) in MODEL_TYPES:
        fields = MODEL_TYPES[_model_type(model)].model_fields
        raw["model"] = {k: v for k, v in model.items() if k in fields}
    return raw


class RationaleConfig(Section):
    weight: float = Field(0.0, ge=0)  # lambda in total = sentence_loss + lambda * rationale_loss
    pos_weight: Union[Literal["auto"], float] = "auto"  # auto = negatives / positives among training targets
    normalize: Literal["sentence", "token"] = "sentence"


class RegularizerConfig(Section):
    name: Literal["activation_l1", "weight_l1", "weight_l2"]
    weight: float = Field(ge=0)
    targets: list[str]  # module names (activation_l1) or parameter names (weight_*), globs allowed


class LossBase(Section):
    """The `loss` section's own fields; the options of every loss are added from its class (below)."""

    name: str = "auto"  # a name in textcls.losses.LOSSES, or auto: the task's default
    threshold: Union[Literal["global", "per_label"], Annotated[float, Field(gt=0, lt=1)]] = (
        "global"  # multilabel decisions: tuned on validation, or fixed
    )
    rationale: RationaleConfig = RationaleConfig()
    regularizers: list[RegularizerConfig] = []

    @field_validator("name")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        return registered(name, ["auto", *LOSSES])


def _loss_options() -> dict[str, tuple]:
    """Each loss's options (declared by its class in textcls.losses), as fields of the `loss` section.
    An option that two losses read (class_weights, distance, margin) must be declared alike."""
    fields: dict[str, tuple] = {}
    for loss in LOSSES.values():
        for option, field in loss.model_fields.items():
            if option == "name":
                continue
            if option in fields and (fields[option][0], fields[option][1].default) != (field.annotation, field.default):
                raise TypeError(f"loss option '{option}' is declared differently by two losses")
            fields.setdefault(option, (field.annotation, field))
    return fields


# The `loss` section: its own fields and every loss's options; which loss reads an option is
# checked once the loss is resolved (losses.registry.check_options).
LossConfig = create_model("LossConfig", __base__=LossBase, __module__=__name__, **_loss_options())


class OptimConfig(Section):
    # sgd_linear: fastText's plain SGD, linear decay; adagrad (train.engine compiled): per example,
    # a rate per row of the word table (its mean squared gradient so far) and per element of the head
    name: Literal["adamw", "adam", "sgd", "sgd_linear", "adagrad"] = "adamw"
    lr: float = Field(1e-3, gt=0)  # sgd_linear: per example (fastText's -lr); a batch steps lr * batch_size
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float | None = Field(None, gt=0)  # max global gradient norm
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)


class SelfTrainingConfig(Section):
    """Self-training on `data.unlabeled` (textcls/self_training.py): a model trained on the labelled
    rows labels the unlabelled ones; the confident ones join the next model's training rows."""

    # who labels the unlabelled texts: the model of the round before, or (two classes) in the first round the
    # lexicon of model.lexicon_features / data.lexicon read as VADER reads its own (a text's label the sign of
    # its sum), in later rounds the model before
    teacher: Literal["model", "lexicon"] = "model"
    rounds: int = Field(1, ge=1)  # teacher-student rounds after the first model (each trains a new one)
    # texts kept: the model's top class probability, or the lexicon's |compound| (in [0, 1]), at least this
    threshold: float = Field(0.9, ge=0, le=1)
    weight: float = Field(0.5, gt=0)  # how much a pseudo-labelled row's loss counts against a labelled row's
    balance: bool = True  # as many rows of each class (the most confident ones): a teacher's lean is not learnt


class TrainConfig(Section):
    epochs: int = Field(10, ge=1)
    min_steps: int | None = Field(None, ge=1)  # more epochs while fewer steps than this: small data sets still train
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(512, ge=1)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = (
        "fp32"  # forward passes under autocast; fp16 (CUDA only) with loss scaling
    )
    # torch CPU threads, auto = the cores this process may use; the compiled engine's threads, auto = 1
    threads: Union[Literal["auto"], Annotated[int, Field(ge=1)]] = "auto"
    faithfulness: bool = False  # final evaluation also measures comprehensiveness/sufficiency (11 extra passes)
    # threads (compiled engine) or processes (PyTorch, sgd_linear) sharing the weights, lock-free:
    # faster, not reproducible
    hogwild: bool = False
    classes_per_batch: int | None = Field(None, ge=2)  # embedding with class labels: P classes per batch ...
    per_class: int | None = Field(None, ge=2)  # ... and K sentences of each (replaces batch_size and length buckets)
    patience: int | None = Field(None, ge=1)  # epochs without improvement before stopping
    # compiled: the bag of words trained by a compiled kernel, one update per example (textcls/engine);
    # auto: the kernel wherever it can train the config, else torch
    engine: Literal["auto", "torch", "compiled"] = "auto"
    # under torchrun, the compiled engine: examples each process trains between averagings of the
    # processes' weights (an all-reduce of the table, the head and AdaGrad's sums; also at each epoch's end)
    average_every: int = Field(100_000, ge=1)
    checkpoint_every: int | None = Field(
        None, ge=1
    )  # also save `last` every this many steps (long epochs: a resume loses fewer)
    monitor: str = "auto"  # a metric of the task (accuracy, r2, kendall_tau, ...); auto = the task's first
    self_training: SelfTrainingConfig = SelfTrainingConfig()  # with data.unlabeled


def resolve_threads(threads: int | str) -> int:
    """`auto`: the cores this process may run on (its CPU affinity), so threads never outnumber them."""
    if threads != "auto":
        return int(threads)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


class CalibrationConfig(Section):
    temperature: bool = (
        True  # classification, multilabel: fit a temperature on validation (after training) and apply it
    )


class OutputConfig(Section):
    dir: str = "runs"  # parent of run folders named <config name>-<timestamp>
    save_last: bool = True


# `textcls tune`'s search space: a config field (dotted, as --set names it) -> its choices (a list),
# {log: [low, high]} or {range: [low, high]}.
TuneSpace = dict[str, Union[list[Any], LogRange, Range]]


class Config(Section):
    task: str = "classification"  # a name in textcls.tasks.TASKS
    data: DataConfig
    model: ModelConfig = BowConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    output: OutputConfig = OutputConfig()
    tune: TuneSpace = {}  # textcls tune: the search space (empty: a default one per model type)

    @field_validator("tune", mode="before")
    @classmethod
    def _search_space(cls, space):
        """Each entry as the form it has (a list, `log` or `range`), so that an error names the
        field and what is wrong with it, not every form it failed to be."""
        if not isinstance(space, dict):
            return space
        parsed = {}
        for field, choice in space.items():
            forms = {"log": LogRange, "range": Range}
            key = next(iter(choice)) if isinstance(choice, dict) and len(choice) == 1 else None
            if isinstance(choice, list):
                parsed[field] = choice
            elif key in forms:
                try:
                    parsed[field] = forms[key].model_validate(choice)
                except ValidationError as exc:
                    raise ValueError(f"'{field}': {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
            else:
                raise ValueError(
                    f"'{field}': expected a list of choices, {{log: [low, high]}} or {{range: [low, high]}}, "
                    f"got {choice!r}"
                )
        return parsed

    @field_validator("task")
    @classmethod
    def _known_task(cls, name: str) -> str:
        return registered(name, list(TASKS))

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def with_absolute_paths(self) -> "Config":
        """This config with its file paths (read from the current folder) made absolute, as a run
        folder saves it: the run can then be resumed or reported on from any folder."""
        absolute = lambda path: path if path is None or isinstance(path, float) else str(Path(path).absolute())
        data = self.data.model_copy(
            update={k: absolute(getattr(self.data, k)) for k in ("train", "valid", "test", "lexicon")}
        )
        model = self.model.model_copy(update={"pretrained": absolute(self.model.pretrained)})
        return self.model_copy(update={"data": data, "model": model})


# --- loading -----------------------------------------------------------------------------------


class _UnreadableValue(yaml.YAMLError):
    pass


def read_yaml(text: str) -> Any:
    """yaml.safe_load, whose constructors raise other errors than YAMLError for a few values (a date
    like 2020-02-30, `!!int x`, `!!bool x`) and for nesting deeper than Python recurses: a YAMLError
    for those too."""
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise _UnreadableValue("nested too deeply") from None
    except ValueError as exc:
        raise _UnreadableValue(f"a value it cannot read: {exc}") from None
    except (TypeError, LookupError, AttributeError):
        raise _UnreadableValue("a tagged value it cannot read") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.epochs=3` -> (["train", "epochs"], 3); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE (e.g. train.epochs=3), got {text!r}")
    try:
        value = read_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        detail = f" ({exc})" if isinstance(exc, _UnreadableValue) else ""
        raise ConfigError(f"--set {text}: the value is not valid YAML{detail}") from None
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


def _is_model_tag(loc: tuple, i: int) -> bool:
    """Whether loc[i] is the model type pydantic puts after 'model' (e.g. model.lstm.hidden_dim)."""
    return i > 0 and loc[i - 1] == "model" and loc[i] in MODEL_TYPES


def _fields_at(loc: tuple) -> list[str]:
    """The valid keys of the section that `loc` (a pydantic error location) points into."""
    model: type[BaseModel] = Config
    for i, part in enumerate(loc[:-1]):
        if isinstance(part, int):
            continue  # an index into a list of sections
        if _is_model_tag(loc, i):
            model = MODEL_TYPES[part]
            continue
        if _is_model_tag(loc, i + 1):
            continue  # 'model': its class is the type that follows
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        sub = [
            c for c in candidates if isinstance(c, type) and not hasattr(c, "__origin__") and issubclass(c, BaseModel)
        ]
        if not sub:
            return []
        model = sub[0]
    return list(model.model_fields)


_TYPE_TAGS = {"str", "float", "int", "bool", "list", "dict", "tuple", "none"}


def _user_loc(loc: tuple) -> tuple:
    """Drop the union-member tags pydantic adds to a location (e.g. 'float', "literal['auto']", the model type)."""
    return tuple(
        p
        for i, p in enumerate(loc)
        if isinstance(p, int) or (p.isidentifier() and p not in _TYPE_TAGS and not _is_model_tag(loc, i))
    )


def describe_validation_error(error: ValidationError, source: str, within: tuple = ()) -> str:
    """One line naming the first bad key, what is wrong, and the closest valid key. `within`: the
    location of the validated section in a whole config (e.g. ("model",))."""
    # A misspelt key also makes its correct spelling "missing": report the misspelling.
    errors = [{**e, "loc": within + tuple(e["loc"])} for e in error.errors()]
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    raw_loc = first["loc"]
    loc = _user_loc(raw_loc[:-1]) + raw_loc[-1:] if first["type"] == "extra_forbidden" else _user_loc(raw_loc)
    key = ".".join(str(p) for p in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        valid = _fields_at(raw_loc)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        parent = ".".join(str(p) for p in loc[:-1])
        model_type = next((p for i, p in enumerate(raw_loc) if _is_model_tag(raw_loc, i)), None)
        read_by_a_model = model_type is not None and any(loc[-1] in c.model_fields for c in MODEL_TYPES.values())
        if close and not read_by_a_model:
            return f"{source}: unknown key '{key}' (did you mean '{parent + '.' if parent else ''}{close[0]}'?)"
        if model_type is not None:
            return f"{source}: model type '{model_type}' does not read '{key}' (it reads: {', '.join(valid)})"
        return f"{source}: unknown key '{key}' (valid keys: {', '.join(valid)})"
    if first["type"] == "missing":
        return f"{source}: missing required key '{key}'"
    if first["type"] == "union_tag_not_found":  # the model section is not a mapping
        return f"{source}: invalid value {first.get('input')!r} for '{key}': a mapping of model fields (e.g. type: bow)"
    if first["type"] == "union_tag_invalid":  # an unknown model type
        return (
            f"{source}: invalid value {first['ctx']['tag']!r} for '{key}.type': choose one of: {', '.join(MODEL_TYPES)}"
        )
    # A union (e.g. 'auto' or a number) reports one error per member: join them.
    messages = dict.fromkeys(e["msg"].removeprefix("Value error, ") for e in errors if _user_loc(e["loc"]) == loc)
    return f"{source}: invalid value {first.get('input')!r} for '{key}': {' or '.join(messages)}"


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        content = path.read_bytes()
        raw = read_yaml(content.decode("utf-8")) or {}
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}, line {line}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        where = f" ({exc})" if isinstance(exc, _UnreadableValue) else where
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return config_from_dict(apply_overrides(raw, overrides or []), source=str(path))


def config_from_dict(raw: dict, source: str = "config") -> Config:
    follow_registries()
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None


_registries_read = (tuple(MODEL_TYPES.items()), tuple(LOSSES.items()))


def follow_registries() -> None:
    """The `model` and `loss` sections as MODEL_TYPES and LOSSES are now: a model type or loss
    registered after this module was imported (one defined outside the package) is read like the
    others. Cheap when nothing changed: the config is rebuilt only after a registration."""
    global _registries_read, _model_adapter, LossConfig
    now = (tuple(MODEL_TYPES.items()), tuple(LOSSES.items()))
    if now == _registries_read:
        return
    union = _model_union()
    _model_adapter = TypeAdapter(union)
    LossConfig = create_model("LossConfig", __base__=LossBase, __module__=__name__, **_loss_options())
    Config.model_fields["model"] = FieldInfo.from_annotated_attribute(union, BowConfig())
    Config.model_fields["loss"] = FieldInfo.from_annotated_attribute(LossConfig, LossConfig())
    Config.model_rebuild(force=True)
    _registries_read = now
