"""Reading CSVs, tokenising, the vocabulary, the label set, and the errors bad data gives."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from conftest import read_rows, write_csv
from textcls.config import DataConfig, config_from_dict, model_config
from textcls.data import Example, Tokenizer, load_datasets, read_examples
from textcls.errors import DataError
from textcls.features import Featurizer
from textcls.tasks import TASKS, task_of
from textcls.vocab import Vocabulary, build_labels


def datasets_of(config):
    return load_datasets(config, task_of(config))


def data_config(path, **kw) -> DataConfig:
    return DataConfig(train=str(path), **kw)


# --- tokenizer ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("Hello, World!", ["hello", ",", "world", "!"]),
        ("I don't like it.", ["i", "don't", "like", "it", "."]),
        ("It’s a well-made film", ["it’s", "a", "well-made", "film"]),
        ("  spaced   out\twords\n", ["spaced", "out", "words"]),
        ("(great)...", ["(", "great", ")", ".", ".", "."]),
        ("12345", ["12345"]),
        ("007 and 3.5", ["007", "and", "3", ".", "5"]),
    ],
)
def test_tokenizer_splits_punctuation_and_lowercases(text, tokens):
    assert Tokenizer()(text) == tokens


def test_tokenizer_keeps_case_when_asked_and_split_keeps_surface_form():
    assert Tokenizer(lowercase=False)("Don't STOP") == ["Don't", "STOP"]
    assert Tokenizer(lowercase=True).split("Don't STOP") == ["Don't", "STOP"]  # surface tokens


def test_tokenizer_whitespace_and_max_length():
    assert Tokenizer(whitespace=True)("The dog , runs .") == ["the", "dog", ",", "runs", "."]
    assert Tokenizer(whitespace=True)("don't-stop now!") == ["don't-stop", "now!"]
    assert Tokenizer(max_length=3)("one two three four five") == ["one", "two", "three"]


# --- reading CSVs --------------------------------------------------------------------------------


def test_read_examples_matches_the_csv_module(sentiment_csvs):
    path = sentiment_csvs["train"]
    examples = read_examples(path, data_config(path), TASKS["classification"], Tokenizer())
    rows = read_rows(path)
    assert len(examples) == len(rows) == 200
    for i, (example, row) in enumerate(zip(examples, rows)):
        assert example.row == i + 1  # rows counted from 1 after the header
        assert example.tokens == row["text"].split()  # texts are space-separated words
        assert example.label == row["label"]


def test_numeric_looking_text_stays_text(tmp_path):
    path = write_csv(
        tmp_path / "numbers.csv",
        ["text", "label"],
        [["12345", "pos"], ["007", "neg"], ["NA", "pos"], ["null", "neg"], ["1e5", "pos"]],
    )
    examples = read_examples(path, data_config(path), TASKS["classification"], Tokenizer())
    assert [e.tokens for e in examples] == [["12345"], ["007"], ["NA"], ["null"], ["1e5"]]
    assert [e.label for e in examples] == ["pos", "neg", "pos", "neg", "pos"]


def test_numeric_labels_stay_strings(tmp_path):
    path = write_csv(tmp_path / "stars.csv", ["text", "label"], [["fine", "01"], ["bad", "2"], ["good", "10"]])
    examples = read_examples(path, data_config(path), TASKS["classification"], Tokenizer())
    assert [e.label for e in examples] == ["01", "2", "10"]


def test_gzip_csv_reads_like_plain(tmp_path, sentiment_csvs):
    plain = sentiment_csvs["valid"]
    packed = tmp_path / "valid.csv.gz"
    with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    a = read_examples(plain, data_config(plain), TASKS["classification"], Tokenizer())
    b = read_examples(packed, data_config(packed), TASKS["classification"], Tokenizer())
    assert [(e.tokens, e.label, e.row) for e in a] == [(e.tokens, e.label, e.row) for e in b]


def test_custom_columns(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["id", "sentence", "y"], [["1", "good film", "pos"], ["2", "bad", "neg"]])
    examples = read_examples(
        path, data_config(path, text_column="sentence", label_column="y"), TASKS["classification"], Tokenizer()
    )
    assert [(e.tokens, e.label) for e in examples] == [(["good", "film"], "pos"), (["bad"], "neg")]


def test_unlabelled_reading_needs_no_label_column(tmp_path):
    path = write_csv(tmp_path / "texts.csv", ["text"], [["good film"], ["bad film"]])
    examples = read_examples(path, data_config(path), TASKS["classification"], Tokenizer(), labelled=False)
    assert [e.label for e in examples] == [None, None]


def test_tagging_labels_are_one_tag_per_token(tagging_csvs):
    path = tagging_csvs["train"]
    examples = read_examples(path, data_config(path, label_column="tags"), TASKS["tagging"], Tokenizer(whitespace=True))
    for example, row in zip(examples, read_rows(path)):
        assert example.tokens == row["text"].split()
        assert example.label == row["tags"].split()


def test_tagging_truncation_keeps_words_and_tags_aligned(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["text", "tags"], [["the dog runs .", "DET NOUN VERB ."]])
    (example,) = read_examples(
        path, data_config(path, label_column="tags"), TASKS["tagging"], Tokenizer(whitespace=True, max_length=2)
    )
    assert example.tokens == ["the", "dog"] and example.label == ["DET", "NOUN"]


# --- reading errors ------------------------------------------------------------------------------


def data_error(path, task="classification", tokenizer=None, **kw) -> str:
    with pytest.raises(DataError) as info:
        read_examples(path, data_config(path, **kw), TASKS[task], tokenizer or Tokenizer())
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    message = data_error(tmp_path / "absent.csv")
    assert "absent.csv" in message and "not found" in message


def test_missing_column_suggests_the_closest(tmp_path):
    path = write_csv(tmp_path / "cols.csv", ["txt", "label"], [["good", "pos"]])
    message = data_error(path)
    assert str(path) in message and "'text'" in message and "did you mean 'txt'" in message


def test_missing_column_without_close_match_lists_columns(tmp_path):
    path = write_csv(tmp_path / "cols.csv", ["sentence", "label"], [["good", "pos"]])
    message = data_error(path, text_column="review")
    assert "'review'" in message and "sentence" in message and "label" in message


@pytest.mark.parametrize("empty", ["", "   "])
def test_empty_text_cell_names_file_row_and_column(tmp_path, empty):
    path = write_csv(tmp_path / "holes.csv", ["text", "label"], [["good", "pos"], ["bad", "neg"], [empty, "pos"]])
    message = data_error(path)
    assert str(path) in message and "row 3" in message and "column 'text'" in message


def test_empty_label_cell_names_file_row_and_column(tmp_path):
    path = write_csv(tmp_path / "holes.csv", ["text", "label"], [["good", "pos"], ["bad", ""]])
    message = data_error(path)
    assert str(path) in message and "row 2" in message and "column 'label'" in message


def test_text_of_unicode_spaces_only_is_empty(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [["good", "pos"], ["\u00a0\u2003", "neg"]])
    message = data_error(path)
    assert str(path) in message and "row 2" in message and "column 'text'" in message


def test_header_only_is_an_empty_data_set(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("text,label\n")
    message = data_error(path)
    assert str(path) in message and "no data rows" in message


def test_empty_file_is_a_data_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert str(path) in data_error(path)


def test_ragged_csv_is_a_data_error(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("text,label\ngood,pos\nbad,neg,extra,fields\n")
    message = data_error(path)
    assert str(path) in message and "row 2: 4 fields, but the header has 2 columns" in message


def test_tag_count_mismatch_names_row(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["text", "tags"], [["the dog runs", "DET NOUN VERB"], ["the cat", "DET"]])
    message = data_error(path, task="tagging", tokenizer=Tokenizer(whitespace=True), label_column="tags")
    assert "row 2" in message and "column 'tags'" in message and "1 tags for 2 tokens" in message


def test_regression_label_must_be_a_number(tmp_path):
    path = write_csv(tmp_path / "r.csv", ["text", "label"], [["good", "1.5"], ["bad", "lots"]])
    message = data_error(path, task="regression")
    assert "row 2" in message and "'lots'" in message


# --- vocabulary ----------------------------------------------------------------------------------

TEXTS = [["b", "a", "c", "a"], ["c", "d", "b", "a"], ["e", "c"]]  # a:3 c:3 b:2 d:1 e:1


def test_vocabulary_reserves_pad_and_unk_and_orders_by_frequency_then_alphabet():
    vocab = Vocabulary.build(TEXTS)
    assert vocab.itos == ["<pad>", "<unk>", "a", "c", "b", "d", "e"]
    assert vocab.pad_id == 0 and vocab.unk_id == 1
    assert vocab.stoi["<pad>"] == 0 and vocab.stoi["<unk>"] == 1
    assert len(vocab) == 7
    assert vocab.encode(["c", "zzz", "a"]) == [3, 1, 2]
    assert "a" in vocab and "zzz" not in vocab


def test_vocabulary_min_freq_and_max_vocab():
    assert Vocabulary.build(TEXTS, min_freq=2).itos[2:] == ["a", "c", "b"]
    assert Vocabulary.build(TEXTS, min_freq=3).itos[2:] == ["a", "c"]
    assert Vocabulary.build(TEXTS, max_size=2).itos[2:] == ["a", "c"]
    assert Vocabulary.build(TEXTS, min_freq=2, max_size=1).itos[2:] == ["a"]
    assert Vocabulary.build(TEXTS, min_freq=2).encode(["d", "e", "b"]) == [1, 1, 4]


def test_vocabulary_json_round_trip():
    vocab = Vocabulary.build(TEXTS)
    loaded = Vocabulary.from_json(json.loads(json.dumps(vocab.to_json())))
    assert loaded.itos == vocab.itos
    assert loaded.encode(["e", "a", "?"]) == vocab.encode(["e", "a", "?"]) == [6, 2, 1]


# --- labels ----------------------------------------------------------------------------------------


def test_build_labels_sorted_and_unique():
    assert build_labels(["pos", "neg", "pos", "neu"]) == ["neg", "neu", "pos"]


def test_build_labels_natural_number_order():
    assert build_labels(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert build_labels(["class10", "class2", "class1"]) == ["class1", "class2", "class10"]


def test_build_labels_accepts_superscript_digits():
    assert build_labels(["²", "1"]) == ["1", "²"]


# --- encoding: unseen labels -------------------------------------------------------------------


def test_unseen_label_at_encode_time_names_row_and_label():
    featurizer = Featurizer(
        TASKS["classification"], model_config(), Tokenizer(), Vocabulary.build([["good"]]), ["neg", "pos"]
    )
    examples = [Example(["good"], "pos", 1), Example(["meh"], "meh", 2)]
    with pytest.raises(DataError) as info:
        featurizer.encode_all(examples, "eval.csv")
    message = str(info.value)
    assert "eval.csv, row 2" in message and "'meh'" in message and "neg" in message and "pos" in message


def test_unseen_tag_at_encode_time_names_row():
    featurizer = Featurizer(
        TASKS["tagging"], model_config(), Tokenizer(whitespace=True), Vocabulary.build([["the"]]), ["DET", "NOUN"]
    )
    with pytest.raises(DataError, match=r"t\.csv, row 4: tag 'VERB'"):
        featurizer.encode_all([Example(["the", "runs"], ["DET", "VERB"], 4)], "t.csv")


def test_encode_maps_words_and_labels_to_ids():
    vocab = Vocabulary.build([["good", "film", "good"]])  # good:2 film:1
    featurizer = Featurizer(TASKS["classification"], model_config(), Tokenizer(), vocab, ["neg", "pos"])
    (item,) = featurizer.encode_all([Example(["Good", "FILM", "unknown"], "pos", 1)], "x.csv")
    assert item.ids.tolist() == [2, 3, 1]  # normalised to lower case; unknown -> unk
    assert item.label == 1


# --- validation split --------------------------------------------------------------------------------


def test_validation_fraction_partitions_the_training_rows(tmp_path, sentiment_csvs):
    config = config_from_dict({"data": {"train": str(sentiment_csvs["train"]), "valid": 0.25}})
    datasets = datasets_of(config)
    assert len(datasets.valid) == 50 and len(datasets.train) == 150
    rows = [e.row for e in datasets.train] + [e.row for e in datasets.valid]
    assert sorted(rows) == list(range(1, 201))  # a partition: nothing lost, nothing shared
    again = datasets_of(config)
    assert [e.row for e in again.valid] == [e.row for e in datasets.valid]  # seeded


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            "text,label\ngood movie,pos,x\nbad movie,neg,y\n",
            "row 1: more fields than the header has columns",
        ),  # every row one more
        ("text,label\ngood movie,pos\nbad movie,neg,y\nfine,pos\n", "row 2: 3 fields, but the header has 2 columns"),
    ],
)
def test_rows_longer_than_the_header_are_errors_naming_the_row(tmp_path, content, expected):
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=expected) as info:
        read_examples(path, DataConfig(train=str(path)), TASKS["classification"], Tokenizer())
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("text,label,note\ngood,pos,x\nbad,neg\nfine,pos,y\n", "row 2: 2 fields, but the header has 3 columns"),
        ("text,label\ngood,pos\nbad\n", "row 2: 1 field, but the header has 2 columns"),
        ("text,label\ngood,pos\n\n  \nbad\n", "row 2: 1 field"),  # blank lines are no rows, as in every other message
        ('text,label,note\n"a long,\nquoted text",pos,x\nbad,neg\n', "row 2: 2 fields"),  # a record, not a line
    ],
)
def test_rows_shorter_than_the_header_are_errors_naming_the_row(tmp_path, content, expected):
    path = tmp_path / "x.csv"
    path.write_text(content)
    message = data_error(path)
    assert str(path) in message and expected in message


def test_empty_last_field_is_not_a_short_row(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("text,label,note\ngood,pos,\nbad,neg,x\n")
    examples = read_examples(path, data_config(path), TASKS["classification"], Tokenizer())
    assert [e.label for e in examples] == ["pos", "neg"]


def test_short_row_is_found_in_compressed_files_and_beside_very_long_texts(tmp_path):
    long_text = "word " * 40_000  # 200 KB: more than the csv module reads in one field by default
    path = tmp_path / "x.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        f.write(f"text,label,note\n{long_text},pos,\nbad,neg\n")
    assert "row 2: 2 fields, but the header has 3 columns" in data_error(path)


# --- delimiter -----------------------------------------------------------------------------------


def test_semicolon_file_fails_with_a_hint_then_reads_with_its_delimiter(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("text;label\ngood film;pos\nbad film;neg\n")
    assert "(the header looks ';'-separated: set data.delimiter: ';')" in data_error(path)
    examples = read_examples(path, data_config(path, delimiter=";"), TASKS["classification"], Tokenizer())
    assert [(e.tokens, e.label) for e in examples] == [(["good", "film"], "pos"), (["bad", "film"], "neg")]


def test_semicolon_file_with_commas_in_its_texts_gets_the_hint_too(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("text;label\ngood, really;pos\nbad;neg\n")
    message = data_error(path)
    assert "row 1: more fields than the header has columns" in message and "set data.delimiter: ';'" in message


def test_tab_separated_file_reads_with_a_tab_from_yaml(tmp_path):
    path = tmp_path / "tab.tsv"
    path.write_text("text\tlabel\ngood, really\tpos\nbad\tneg\n")
    assert 'the header looks tab-separated: set data.delimiter: "\\t"' in data_error(path)
    config_path = tmp_path / "c.yaml"
    config_path.write_text(f'data:\n  train: {path}\n  delimiter: "\\t"\n')
    from textcls.config import load_config

    config = load_config(config_path)
    assert config.data.delimiter == "\t"
    examples = read_examples(path, config.data, TASKS["classification"], Tokenizer())
    assert [e.tokens for e in examples] == [["good", ",", "really"], ["bad"]]


def test_lexicon_stays_comma_separated_and_says_so(tmp_path):
    from textcls.data import read_lexicon

    path = tmp_path / "lexicon.csv"
    path.write_text("word;label\ngood;1\n")
    with pytest.raises(DataError, match=r"looks ';'-separated, but it is read as ','-separated"):
        read_lexicon(path, 0.0, True)


def test_train_through_the_cli_with_a_delimiter_set(tmp_path):
    from typer.testing import CliRunner

    from conftest import NEGATIVE, POSITIVE, synthetic_rows
    from textcls.cli import app

    rows = synthetic_rows(40, 1, {"neg": NEGATIVE, "pos": POSITIVE})
    path = tmp_path / "semi.csv"
    path.write_text("text;label\n" + "".join(f"{text};{label}\n" for text, label in rows))
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  train: {path}\ntrain:\n  epochs: 1\n  device: cpu\n  threads: 1\n")
    runner = CliRunner()
    failed = runner.invoke(app, ["train", "-c", str(config), "-o", str(tmp_path / "run"), "-q"])
    assert failed.exit_code == 1 and "set data.delimiter: ';'" in failed.output and "Traceback" not in failed.output
    result = runner.invoke(
        app, ["train", "-c", str(config), "--set", "data.delimiter=;", "-o", str(tmp_path / "run"), "-q"]
    )
    assert result.exit_code == 0, result.output
    import yaml

    assert (
        yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["data"]["delimiter"] == ";"
    )  # the run reloads alike
    # eval reads a held-out file as the run read its training data, row predictions included
    scored = runner.invoke(
        app, ["eval", str(tmp_path / "run"), str(path), "-f", "json", "--predictions", str(tmp_path / "p.csv")]
    )
    assert scored.exit_code == 0, scored.output
    import csv

    with open(tmp_path / "p.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert [(r["text"], r["gold"]) for r in written] == [tuple(row) for row in rows]
    assert json.loads(scored.stdout)["accuracy"] == sum(r["label"] == r["gold"] for r in written) / len(rows)


# --- stratified validation split ------------------------------------------------------------------


def test_stratified_split_keeps_a_rare_class_in_training_for_every_seed():
    from textcls.data import validation_split

    labels = ["a"] * 30 + ["b"] * 8 + ["rare"] * 2 + ["once"]
    for seed in range(50):
        valid, train = validation_split(labels, 0.5, seed)
        assert sorted(valid.tolist() + train.tolist()) == list(range(len(labels)))  # a partition
        in_train = [labels[r] for r in train]
        assert in_train.count("rare") == 1 and in_train.count("once") == 1  # round(2 * 0.5) = 1 validates


def test_stratified_split_proportions_match_a_hand_computation():
    from textcls.data import validation_split

    labels = ["a"] * 40 + ["b"] * 15 + ["c"] * 4 + ["d"] * 2
    valid, train = validation_split(labels, 0.2, seed=3)
    counts = {c: [labels[r] for r in valid].count(c) for c in "abcd"}
    assert counts == {"a": 8, "b": 3, "c": 1, "d": 0}  # round(8.0), round(3.0), round(0.8), round(0.4)
    assert valid.tolist() == sorted(valid.tolist()) and train.tolist() == sorted(train.tolist())
    high = validation_split(labels, 0.9, seed=3)[0]
    assert {c: [labels[r] for r in high].count(c) for c in "abcd"} == {
        "a": 36,
        "b": 14,
        "c": 3,
        "d": 1,
    }  # each keeps one


def test_stratified_split_is_seeded():
    from textcls.data import validation_split

    labels = [str(i % 3) for i in range(60)]
    first, again, other = (validation_split(labels, 0.25, seed)[0] for seed in (7, 7, 8))
    assert first.tolist() == again.tolist() and first.tolist() != other.tolist()


def test_tiny_stratified_split_still_validates_one_row():
    from textcls.data import validation_split

    valid, train = validation_split(["a", "a", "b", "b", "b"], 0.1, seed=0)  # every class rounds to 0
    assert len(valid) == 1 and len(train) == 4
    assert len(validation_split(["a", "b", "c"], 0.5, seed=0)[0]) == 0  # nothing to give: load_datasets says so


def test_classification_splits_by_class_and_other_tasks_keep_the_random_split(tmp_path):
    import numpy as np

    rows = [[f"word{i}", "rare" if i < 2 else "common"] for i in range(40)]
    path = write_csv(tmp_path / "t.csv", ["text", "label"], rows)
    classification = datasets_of(config_from_dict({"data": {"train": str(path), "valid": 0.5}}))
    assert [e.label for e in classification.train].count("rare") == 1
    assert len(classification.valid) == 20  # round(38 / 2) + round(2 / 2)
    numbers = write_csv(tmp_path / "r.csv", ["text", "label"], [[f"word{i}", str(i)] for i in range(40)])
    regression = datasets_of(config_from_dict({"task": "regression", "data": {"train": str(numbers), "valid": 0.25}}))
    order = np.random.RandomState(0).permutation(40)
    assert [e.row for e in regression.valid] == sorted((order[:10] + 1).tolist())  # in file order


def test_classes_of_one_row_each_cannot_be_split(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [["good", "a"], ["bad", "b"], ["fine", "c"]])
    with pytest.raises(DataError, match="too few rows"):
        datasets_of(config_from_dict({"data": {"train": str(path), "valid": 0.5}}))


# --- found by tests/test_fuzz.py ------------------------------------------------------------------


def test_a_column_name_with_a_line_break_gives_a_one_line_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('"a\nb",label\ngood,pos\n')
    assert "columns: a\\nb, label" in data_error(path)  # (data_error checks the message is one line)


@pytest.mark.parametrize(
    "name, content",
    [
        ("x.csv.zip", b"text,label\ngood,pos\n"),  # a plain CSV named as an archive
        ("x.csv.xz", b"\xfd7zXZ\x00 broken"),
        ("x.csv.tar", b"text,label\ngood,pos\n"),
    ],
)
def test_a_file_that_is_not_the_archive_its_name_says_is_a_data_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert f"{path}: cannot read as CSV" in data_error(path)


def test_a_zip_file_of_two_files_is_a_data_error_and_a_zipped_csv_is_checked_for_short_rows(tmp_path):
    import zipfile

    two = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "text,label\ngood,pos\n")
        archive.writestr("b.csv", "text,label\nbad,neg\n")
    assert "cannot read as CSV" in data_error(two)
    short = tmp_path / "short.csv.zip"
    with zipfile.ZipFile(short, "w") as archive:
        archive.writestr("a.csv", "text,label,note\ngood,pos,x\nbad,neg\n")
    assert "row 2: 2 fields, but the header has 3 columns" in data_error(short)


def test_a_folder_given_as_a_csv_says_so(tmp_path):
    from textcls.data import read_csv

    with pytest.raises(DataError, match="is a folder, not a CSV file"):
        read_csv(tmp_path, ["text"])


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_csv_that_is_not_utf8_names_the_line_and_byte(tmp_path, suffix):
    import gzip

    from textcls.data import read_csv

    content = "text,label\ngood film,pos\n".encode() + "café noir,neg\n".encode("latin-1")
    path = tmp_path / f"t{suffix}"
    path.write_bytes(gzip.compress(content) if suffix.endswith(".gz") else content)
    offset = content.index(b"\xe9")  # counted by hand: the header, the first row, then "caf"
    with pytest.raises(DataError, match=rf", line 3: not UTF-8 text \(byte 0xe9 at byte offset {offset}\)"):
        read_csv(path, ["text"])
