"""Property-based fuzzing of everything that reads user input: CSV files, texts, rationale cells,
lexicons, config files and `--set` overrides. Whatever the input, the result is a value or a
TextclsError (which the CLI prints as one line), never another exception.

The examples are derandomised (the same ones every run) and few, so the file runs in seconds; a
bug found here gets a plain regression test beside the code it is about.
"""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textcls.config import Config, DataConfig, apply_overrides, config_from_dict, load_config, parse_override
from textcls.data import parse_word_targets, read_csv, read_examples, read_lexicon
from textcls.errors import TextclsError
from textcls.tasks import TASKS, get_task
from textcls.tokenize import Tokenizer, tokenize_column

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Text made mostly of the characters that matter to a CSV reader and a tokenizer, and a few others.
CSV_CHARS = st.sampled_from(list("ab ,;|\t\"\n\r:'-_.é’\u00a0\x00\x0c") + ["word", "12", "  "])
csv_text = st.lists(CSV_CHARS, max_size=60).map("".join)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def outcome(call):
    """What `call()` gives, or the TextclsError it raises; any other exception fails the test."""
    try:
        return call()
    except TextclsError as exc:
        assert "\n" not in str(exc), f"an error is one line: {exc!r}"
        return exc


# --- CSV files ------------------------------------------------------------------------------------


@st.composite
def csv_files(draw) -> bytes:
    """A header that names the columns (most of the time), then rows of fuzzed cells."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    header = draw(st.sampled_from([["text", "label"], ["text", "label", "note"], ["text"], ["label", "text"]]))
    first = delimiter.join(header) if draw(st.booleans()) else draw(csv_text)
    rows = draw(st.lists(st.lists(csv_text, min_size=0, max_size=4).map(delimiter.join), max_size=6))
    ending = draw(st.sampled_from(["\n", "\r\n", ""]))
    return "\n".join([first, *rows]).encode("utf-8") + ending.encode()


def compressed(content: bytes, suffix: str, really: bool) -> bytes:
    """`content` as a file named `suffix` holds it (or, when not `really`, left as it is: a bad archive)."""
    import bz2
    import gzip
    import io
    import lzma
    import zipfile

    if not really or suffix == ".csv":
        return content
    if suffix == ".zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("data.csv", content)
        return buffer.getvalue()
    return {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix](content)


@FUZZ
@given(
    content=st.one_of(csv_files(), st.binary(max_size=80)),
    delimiter=st.sampled_from([",", ";", "\t"]),
    task=st.sampled_from(["classification", "regression", "multilabel", "tagging", "ranking"]),
    suffix=st.sampled_from([".csv", ".gz", ".bz2", ".xz", ".zip"]),
    really=st.booleans(),
    rationale=st.sampled_from([None, "note", "label"]),
)
def test_any_csv_file_reads_or_is_a_data_error(folder, content, delimiter, task, suffix, really, rationale):
    path = folder / ("data.csv" + ("" if suffix == ".csv" else suffix))
    path.write_bytes(compressed(content, suffix, really))
    data = DataConfig(
        train=str(path), delimiter=delimiter, rationale_column=rationale if task == "classification" else None
    )
    outcome(lambda: read_examples(path, data, TASKS[task], Tokenizer(whitespace=task == "tagging")))
    outcome(lambda: read_examples(path, data, get_task(task), Tokenizer(), labelled=False))


@FUZZ
@given(rows=st.lists(st.lists(st.text(max_size=8), min_size=1, max_size=4), min_size=1, max_size=6))
def test_a_csv_the_csv_module_writes_reads_back_or_names_its_short_or_long_row(folder, rows):
    """Rows of any width, written by the csv module: read back cell for cell when every row has the
    header's width, else an error naming the first row that does not."""
    import csv

    path = folder / "written.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    result = outcome(lambda: read_csv(path, []))
    if isinstance(result, TextclsError) or list(result.columns) != rows[0]:
        return  # (pandas renames empty and repeated column names)
    kept = [
        r for r in rows[1:] if r and not (len(r) == 1 and r[0] and not r[0].strip(" \t"))
    ]  # pandas skips blank lines
    assert all(len(r) == len(rows[0]) for r in kept), "a row of another width was read silently"
    assert result.values.tolist() == kept


# --- tokenizer ------------------------------------------------------------------------------------


@FUZZ
@given(
    texts=st.lists(st.one_of(csv_text, st.text(max_size=30)), min_size=1, max_size=5),
    whitespace=st.booleans(),
    max_length=st.sampled_from([None, 1, 3]),
)
def test_tokenize_column_matches_the_tokenizer_row_by_row(texts, whitespace, max_length):
    tokenizer = Tokenizer(whitespace=whitespace, max_length=max_length)
    tokens = tokenize_column(texts, tokenizer)
    assert [tokens.row(r) for r in range(len(texts))] == [tokenizer.split(t) for t in texts]
    for text in texts:
        assert tokenizer(text) == [tokenizer.normalize(t) for t in tokenizer.split(text)]


# --- rationale cells and lexicons -----------------------------------------------------------------


@FUZZ
@given(
    cell=st.one_of(csv_text, st.text(max_size=30)),
    tokens=st.lists(st.sampled_from(["a", "b", "word", ":", "a:b", "É"]), max_size=5),
)
def test_any_rationale_cell_gives_targets_or_a_data_error(cell, tokens):
    result = outcome(lambda: parse_word_targets(cell, tokens, "x.csv, row 1, column 'rationale'"))
    if isinstance(result, dict):
        assert all(0 <= p < len(tokens) for p in result)


@FUZZ
@given(
    header=st.sampled_from(["word,label", "word,score", "word", "label,word", "word;label"]),
    rows=st.lists(csv_text, max_size=6),
    threshold=st.sampled_from([0.0, 1.0]),
    lowercase=st.booleans(),
)
def test_any_lexicon_file_reads_or_is_a_data_error(folder, header, rows, threshold, lowercase):
    path = folder / "lexicon.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = outcome(lambda: read_lexicon(path, threshold, lowercase))
    if isinstance(result, dict):
        assert all(isinstance(w, str) and isinstance(t, str) and t for w, t in result.items())


# --- config files and --set -----------------------------------------------------------------------

KEYS = sorted(
    {
        "data",
        "model",
        "train",
        "loss",
        "optim",
        "task",
        "tune",
        "type",
        "rationale",
        "regularizers",
        *(k for section in Config.model_fields.values() for k in getattr(section.annotation, "model_fields", {})),
        *DataConfig.model_fields,
        "lstm",
        "bow",
        "log",
        "range",
    }
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.sampled_from(["auto", "bow", "lstm", "ce", "train.csv", ";", "\t", "classification"]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=5), st.integers(-2, 2), st.none(), st.booleans(), st.floats())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12,
)
configs = st.dictionaries(st.sampled_from(KEYS), values, max_size=5).map(
    lambda raw: {"data": {"train": "train.csv"}, **raw}
)


@FUZZ
@given(raw=st.one_of(configs, st.dictionaries(keys, values, max_size=4)))
def test_any_config_dict_is_a_config_or_a_config_error(raw):
    outcome(lambda: config_from_dict(raw))


# YAML made of the pieces that reach its less common paths: tags, dates, anchors, deep nesting.
YAML_PIECES = [
    "data:",
    "train:",
    " ",
    "\n",
    "  ",
    "- ",
    ": ",
    "x",
    "1",
    "2020-02-30",
    "2020-01-01",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp ",
    "!!binary ",
    "!!set ",
    "!!str ",
    "&a ",
    "*a",
    "<<: ",
    "? ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    '"',
    "#",
    "~",
    ".nan",
    "\t",
    "é",
    "\ufeff",
]
yaml_text = st.one_of(
    st.lists(st.sampled_from(YAML_PIECES), max_size=25).map("".join),
    # (deeper than Python recurses, found here, is slow to reach: test_config has that case)
    st.sampled_from([2, 300]).map(lambda depth: "data: " + "[" * depth + "]" * depth),
)


@FUZZ
@given(
    text=st.one_of(st.text(max_size=60), yaml_text, st.builds(yaml.safe_dump, configs)),
    raw_bytes=st.binary(max_size=20),
)
def test_any_config_file_is_a_config_or_a_config_error(folder, text, raw_bytes):
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    outcome(lambda: load_config(path))
    path.write_bytes(raw_bytes)
    outcome(lambda: load_config(path))


overrides = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda k, v: f"{k}={v}",
        st.lists(st.sampled_from(KEYS + ["", " "]), min_size=1, max_size=3).map(".".join),
        st.one_of(st.text(alphabet=string.printable, max_size=12), st.builds(yaml.safe_dump, values), yaml_text),
    ),
)


@FUZZ
@given(texts=st.lists(overrides, min_size=1, max_size=3))
def test_any_set_override_is_a_config_or_a_config_error(texts):
    for text in texts:
        outcome(lambda: parse_override(text))
    outcome(lambda: config_from_dict(apply_overrides({"data": {"train": "train.csv"}}, texts)))
