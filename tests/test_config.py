"""The config: unknown keys with suggestions, wrong types, ranges, `--set` overrides, bad YAML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from textcls.config import Config, config_from_dict, load_config
from textcls.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def minimal(**sections) -> dict:
    return {"data": {"train": "train.csv"}, **sections}


def config_error(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    message = str(info.value)
    assert "\n" not in message, "a config error is one line"
    return message


def write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_minimal_config_fills_documented_defaults():
    config = config_from_dict(minimal())
    assert isinstance(config, Config)
    assert config.task == "classification"
    assert config.data.train == "train.csv"
    assert config.data.valid == 0.1
    assert (config.data.text_column, config.data.label_column) == ("text", "label")
    assert config.model.type == "bow"
    assert config.loss.name == "auto"
    assert config.train.epochs == 10


@pytest.mark.parametrize(
    "raw, key, suggestion",
    [
        (minimal(trian={"epochs": 3}), "'trian'", "'train'"),
        ({"dtaa": {"train": "train.csv"}}, "'dtaa'", "'data'"),
        (minimal(train={"epoch": 3}), "'train.epoch'", "'train.epochs'"),
        (minimal(model={"embeding_dim": 8}), "'model.embeding_dim'", "'model.embedding_dim'"),
        (minimal(loss={"rationale": {"wieght": 1.0}}), "'loss.rationale.wieght'", "'loss.rationale.weight'"),
        ({"data": {"train": "t.csv", "text_colum": "x"}}, "'data.text_colum'", "'data.text_column'"),
    ],
)
def test_misspelt_key_is_named_with_a_suggestion(raw, key, suggestion):
    message = config_error(raw)
    assert "unknown key" in message
    assert key in message
    assert f"did you mean {suggestion}" in message


def test_unknown_key_without_close_match_lists_valid_keys():
    message = config_error(minimal(optim={"zzzzzz": 1}))
    assert "'optim.zzzzzz'" in message
    for valid in ["lr", "weight_decay", "schedule"]:
        assert valid in message


def test_hyphenated_key_is_named_with_a_suggestion():
    message = config_error(minimal(train={"batch-size": 8}))
    assert "'train.batch-size'" in message
    assert "did you mean 'train.batch_size'" in message


def test_missing_required_key():
    message = config_error({"data": {"valid": "v.csv"}})
    assert "missing" in message and "'data.train'" in message


@pytest.mark.parametrize(
    "raw, key, words",
    [
        (minimal(train={"epochs": "three"}), "'train.epochs'", ["integer"]),
        (minimal(model={"type": "transformer"}), "'model.type'", ["bow", "lstm", "cnn"]),
        (minimal(model={"type": "lstm", "bidirectional": "sometimes"}), "'model.bidirectional'", ["bool"]),
        (minimal(loss={"pos_weight": "heavy"}), "'loss.pos_weight'", ["auto", "number"]),
        (minimal(train="fast"), "'train'", []),
    ],
)
def test_wrong_type_names_key_and_value(raw, key, words):
    message = config_error(raw)
    assert "invalid value" in message and key in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "raw, key, bound",
    [
        (minimal(train={"epochs": 0}), "'train.epochs'", "greater than or equal to 1"),
        (minimal(train={"batch_size": -4}), "'train.batch_size'", "greater than or equal to 1"),
        (minimal(model={"dropout": 1.0}), "'model.dropout'", "less than 1"),
        (minimal(optim={"lr": 0}), "'optim.lr'", "greater than 0"),
        (minimal(model={"word_ngrams": 6}), "'model.word_ngrams'", "less than or equal to 5"),
    ],
)
def test_out_of_range_value(raw, key, bound):
    message = config_error(raw)
    assert key in message and bound in message


def test_char_ngrams_must_be_ordered():
    message = config_error(minimal(model={"char_ngrams": [5, 3]}))
    assert "char_ngrams" in message and "min <= max" in message


def test_load_config_names_the_file(tmp_path):
    path = write_yaml(tmp_path / "bad.yaml", minimal(train={"epoch": 3}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "'train.epochs'" in str(info.value)


def test_set_overrides_replace_and_create_fields(tmp_path):
    path = write_yaml(
        tmp_path / "c.yaml",
        {"data": {"train": "train.csv", "valid": "valid.csv"}, "train": {"epochs": 10, "batch_size": 7}},
    )
    config = load_config(
        path,
        [
            "train.epochs=3",
            "data.train=other.csv",
            "loss.rationale.weight=0.5",
            "model.char_ngrams=[2, 4]",
            "data.max_vocab=null",
        ],
    )
    assert config.train.epochs == 3 and isinstance(config.train.epochs, int)
    assert config.data.train == "other.csv"
    assert config.loss.rationale.weight == 0.5  # a section the file did not have
    assert config.model.char_ngrams == (2, 4)  # the value is read as YAML
    assert config.data.max_vocab is None
    # untouched fields keep the file's values
    assert config.train.batch_size == 7 and config.data.valid == "valid.csv"
    # the file itself is not modified
    assert yaml.safe_load(path.read_text())["train"]["epochs"] == 10


def test_set_override_of_unknown_key_is_a_config_error(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", minimal())
    with pytest.raises(ConfigError, match=r"did you mean 'train\.epochs'"):
        load_config(path, ["train.epoch=3"])


@pytest.mark.parametrize(
    "override, words",
    [
        ("train.epochs", ["KEY=VALUE"]),
        ("=3", ["KEY=VALUE"]),
        ("data.train.path=x.csv", ["'train' is not a section"]),
        ("train.epochs=[1, 2", ["not valid YAML"]),
    ],
)
def test_malformed_set_override(tmp_path, override, words):
    path = write_yaml(tmp_path / "c.yaml", minimal())
    with pytest.raises(ConfigError) as info:
        load_config(path, [override])
    for word in words:
        assert word in str(info.value)


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("data:\n  train: train.csv\ntrain:\n  epochs: [1, 2\n  batch_size: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "not valid YAML" in message and "line" in message


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- data\n- train\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_saved_config_loads_back_equal(tmp_path):
    config = config_from_dict(
        minimal(
            model={"char_ngrams": [2, 3], "type": "lstm"},
            train={"epochs": 2},
            loss={"regularizers": [{"name": "weight_l2", "weight": 0.1, "targets": ["*"]}]},
        )
    )
    (tmp_path / "saved.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))  # as a run folder holds it
    assert load_config(tmp_path / "saved.yaml") == config


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_shipped_configs_are_valid_and_name_existing_data(name):
    path = REPO / "configs" / name
    if not path.is_file():
        pytest.skip(f"configs/{name} is not in this checkout")
    config = load_config(path)
    if config.data.prepare:  # made by a script, not shipped: the command names a script that is there
        scripts = re.findall(r"python (scripts/\S+\.py)", config.data.prepare)
        assert scripts and all((REPO / s).is_file() for s in scripts), config.data.prepare
        return
    named = [config.data.train, config.data.valid, config.data.test, config.data.unlabeled, config.data.lexicon]
    for path in [*named, *(config.model.lexicon_features or [])]:
        if isinstance(path, str):
            assert (REPO / path).is_file(), path


# --- the model section: one config class per model type ------------------------------------------------


@pytest.mark.parametrize(
    "model, field",
    [
        ({"type": "lstm", "word_ngrams": 2}, "word_ngrams"),  # a bag-of-words field
        ({"type": "lstm", "window": 3}, "window"),
        ({"type": "bow", "pooling": "mean"}, "pooling"),  # LSTM fields
        ({"num_layers": 2}, "num_layers"),  # no type: a bag of words
    ],
)
def test_model_field_its_type_does_not_read_is_a_one_line_error(model, field):
    model_type = model.get("type", "bow")
    message = config_error(minimal(model=model))
    assert f"model type '{model_type}' does not read 'model.{field}'" in message
    # the message lists what the type does read (and the field is not among them)
    read = message.split("it reads: ")[1].rstrip(")").split(", ")
    expected = {
        "bow": ["word_ngrams", "window", "hidden_dim"],
        "lstm": ["hidden_dim", "num_layers", "bidirectional", "pooling"],
    }
    assert set(expected[model_type]) <= set(read) and field not in read and "embedding_dim" in read


def test_model_type_fixes_which_fields_exist_and_their_defaults():
    lstm = config_from_dict(minimal(model={"type": "lstm", "pooling": "mean"})).model
    assert (lstm.type, lstm.pooling, lstm.num_layers, lstm.hidden_dim) == ("lstm", "mean", 1, 128)
    bow = config_from_dict(minimal(model={"window": 1})).model
    assert (bow.type, bow.window, bow.word_ngrams) == ("bow", 1, 1)
    saved = config_from_dict(minimal(model={"type": "lstm"})).to_dict()["model"]
    assert "window" not in saved and "word_ngrams" not in saved and list(saved)[0] == "type"


def test_set_override_of_a_field_the_model_does_not_read(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", minimal(model={"type": "lstm"}))
    with pytest.raises(ConfigError, match=r"model type 'lstm' does not read 'model.window'"):
        load_config(path, ["model.window=4"])


def test_model_config_from_python_checks_fields_alike():
    from textcls.config import model_config

    assert model_config(type="lstm", hidden_dim=4).hidden_dim == 4
    with pytest.raises(ConfigError, match=r"model type 'lstm' does not read 'model.window'"):
        model_config(type="lstm", window=2)
    with pytest.raises(ConfigError, match=r"'model.type': choose one of: bow, lstm, cnn"):
        model_config(type="transformer")


def test_saved_config_of_an_earlier_version_is_upgraded():
    """Runs saved before per-type model configs hold every model field: those the type does not read
    are dropped when the run is loaded, the rest kept."""
    from textcls.config import upgrade_saved_config

    old_model = {
        "type": "lstm",
        "embedding_dim": 64,
        "hidden_dim": 32,
        "num_layers": 1,
        "bidirectional": True,
        "dropout": 0.2,
        "word_dropout": 0.0,
        "pooling": "mean",
        "word_ngrams": 1,
        "char_ngrams": None,
        "buckets": 1000,
        "sparse": True,
        "window": 2,
        "shape": True,
    }
    config = config_from_dict(upgrade_saved_config(minimal(model=dict(old_model))))
    kept = {k: v for k, v in old_model.items() if k not in ("word_ngrams", "window")}
    dumped = config.model.model_dump()
    assert {k: dumped[k] for k in kept} == kept and "word_ngrams" not in dumped and "window" not in dumped
    with pytest.raises(ConfigError):  # users' configs stay strict
        config_from_dict(minimal(model=dict(old_model)))


def test_model_section_that_is_not_a_mapping():
    message = config_error(minimal(model="bow"))
    assert "'model'" in message and "a mapping of model fields" in message and "_model_type" not in message


@pytest.mark.parametrize(
    "section, key", [("train", "epochs"), ("optim", "lr"), ("train", "threads"), ("data", "valid")]
)
def test_booleans_are_not_numbers(section, key):
    raw = minimal()
    raw.setdefault(section, {})[key] = True
    message = config_error(raw)
    assert f"'{section}.{key}'" in message and "expected a number, got true" in message


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_infinite_and_nan_numbers_are_errors(value):
    from textcls.config import apply_overrides

    message = config_error(apply_overrides(minimal(), [f"optim.lr={value}"]))
    assert "'optim.lr'" in message and "\n" not in message


def test_numbers_as_yaml_reads_them_still_work():
    from textcls.config import apply_overrides

    config = config_from_dict(
        apply_overrides(minimal(), ["optim.lr=1e-3", "train.epochs=3"])
    )  # YAML reads 1e-3 as a string
    assert config.optim.lr == 0.001 and config.train.epochs == 3


def test_delimiter_is_a_comma_by_default_and_any_one_character_through_set(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", minimal())
    assert load_config(path).data.delimiter == ","
    assert load_config(path, ["data.delimiter=;"]).data.delimiter == ";"
    assert load_config(path, ['data.delimiter="\\t"']).data.delimiter == "\t"  # YAML's double quotes read \t as a tab
    assert load_config(path, ["data.delimiter='|'"]).data.delimiter == "|"


@pytest.mark.parametrize(
    "value, words",
    [
        ("", "one character, quoted in YAML"),  # what YAML makes of a bare `|`
        (";;", "one character"),
        ('"', "the quote character"),
        ("\n", "a line break"),
    ],
)
def test_delimiter_must_be_one_character_that_can_separate_fields(value, words):
    message = config_error(minimal(data={"train": "t.csv", "delimiter": value}))
    assert "'data.delimiter'" in message and words in message


# --- found by tests/test_fuzz.py ------------------------------------------------------------------


def test_a_key_with_a_line_break_gives_a_one_line_error():
    assert "unknown key 'a\\nb'" in config_error(minimal(**{"a\nb": 1}))


def test_a_config_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("data:\n  train: caf\u00e9.csv\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml, line 2: not UTF-8 text"):
        load_config(path)


@pytest.mark.parametrize(
    "value, words",
    [
        ("2020-02-30", "day is out of range for month"),  # YAML reads it as a date, which does not exist
        ("!!int x", "invalid literal for int()"),
        ("!!float x", "could not convert string to float"),
        ("!!bool x", "a tagged value it cannot read"),
        ("!!timestamp x", "a tagged value it cannot read"),
        ("[" * 1000 + "]" * 1000, "nested too deeply"),
    ],
)
def test_yaml_values_its_constructors_refuse_are_config_errors(tmp_path, value, words):
    path = tmp_path / "c.yaml"
    path.write_text(f"data:\n  train: {value}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: not valid YAML") as info:
        load_config(path)
    assert words in str(info.value)
    with pytest.raises(ConfigError, match=r"the value is not valid YAML") as info:
        load_config(write_yaml(tmp_path / "ok.yaml", minimal()), [f"data.train={value}"])
    assert words in str(info.value)


@pytest.mark.parametrize(
    "entry, fragments",
    [
        ({"range": [1, 0]}, ["'model.dropout'", "needs low < high"]),
        ({"log": [0, 1]}, ["'model.dropout'", "needs 0 < low < high"]),
        ({"lg": [0.1, 0.2]}, ["'model.dropout'", "expected a list of choices"]),
        ("abc", ["'model.dropout'", "expected a list of choices"]),
    ],
)
def test_a_bad_search_space_entry_names_its_field_and_what_is_wrong(entry, fragments):
    message = config_error(minimal(tune={"model.dropout": entry}))
    for fragment in fragments:
        assert fragment in message, message
    assert "unknown key" not in message
