"""CSV -> rows, held column by column: tokens, labels and per-word targets, with row numbers for errors.

A `Dataset` keeps the tokens of all its rows in one flat array (see `textcls.tokenize.Tokens`);
labels are one array per dataset, tags and word targets are aligned with the flat tokens. Nothing
here loops over rows in Python except the rows that carry a rationale cell. Rows are numbered from
1 after the header, as a spreadsheet numbers data rows.
"""

from __future__ import annotations

import difflib
import re
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from textcls.errors import ConfigError, DataError
from textcls.tokenize import Tokenizer, Tokens, ragged_index, tokenize_column

if TYPE_CHECKING:
    from textcls.config import Config, DataConfig
    from textcls.tasks import Task

NO_TARGET = -1  # in Dataset.targets: the word carries no target


@dataclass
class Example:
    """One row, as a plain object: for building small inputs by hand and for looking at a Dataset."""

    tokens: list[str]  # surface tokens
    label: str | float | list[str] | None  # class, number, or one tag per token; None when unlabelled
    row: int = 0
    word_targets: dict[int, str] = field(default_factory=dict)  # token position -> class it supports


@dataclass
class Dataset:
    """The rows of one source. Row r's tokens are `tokens.row(r)`; its flat positions are
    `tokens.offsets[r]` up to `tokens.offsets[r + 1]`."""

    source: str  # file name for error messages
    tokens: Tokens  # surface tokens (case kept: shape features need it)
    rows: np.ndarray  # (R,) row numbers in the source, from 1
    labels: np.ndarray | Tokens | None = (
        None  # (R,) class names (None: unlabelled) or float values; tagging: tags aligned with `tokens`
    )
    targets: np.ndarray | None = None  # (N,) index into `target_names` per token, NO_TARGET where none
    target_names: list[str] = field(default_factory=list)
    groups: np.ndarray | None = None  # (R,) group of each row (ranking within groups), -1 for none
    arity: int = 1  # texts per example: rows k*e .. k*e + k - 1 are example e's (a pair, a triplet)
    weights: np.ndarray | None = None  # (R,) how much each row's loss counts (data.weight_column), 1 by default

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, r: int) -> Example:
        start, end = self.tokens.offsets[r], self.tokens.offsets[r + 1]
        if isinstance(self.labels, Tokens):
            label = self.labels.row(r)
        else:
            label = None if self.labels is None else self.labels[r]
            label = float(label) if isinstance(label, np.floating) else label
        targets = {}
        if self.targets is not None:
            at = np.flatnonzero(self.targets[start:end] != NO_TARGET)
            targets = {int(p): self.target_names[self.targets[start + p]] for p in at}
        return Example(self.tokens.row(r), label, int(self.rows[r]), targets)

    def __iter__(self):
        return (self[r] for r in range(len(self)))

    def where(self, r: int) -> str:
        return f"{self.source}, row {self.rows[r]}"

    @classmethod
    def from_examples(cls, examples: list[Example], source: str = "input") -> "Dataset":
        tokens = Tokens.from_lists([e.tokens for e in examples])
        labels = None
        given = [e.label for e in examples if e.label is not None]
        if given and isinstance(given[0], list):
            labels = Tokens.from_lists([e.label or [] for e in examples])
        elif given and isinstance(given[0], float):
            labels = np.array([e.label for e in examples], dtype=np.float64)
        elif given:
            labels = np.array([e.label for e in examples], dtype=object)
        dataset = cls(source, tokens, np.array([e.row for e in examples], dtype=np.int64), labels)
        if any(e.word_targets for e in examples):
            names: dict[str, int] = {}
            dataset.targets = np.full(len(tokens.codes), NO_TARGET, dtype=np.int64)
            for r, e in enumerate(examples):
                for p, t in e.word_targets.items():
                    dataset.targets[tokens.offsets[r] + p] = names.setdefault(t, len(names))
            dataset.target_names = list(names)
        return dataset

    @property
    def num_examples(self) -> int:
        return len(self) // self.arity

    def select_examples(self, examples: np.ndarray) -> "Dataset":
        """The given examples (with all their texts), in the given order."""
        examples = np.asarray(examples, dtype=np.int64)
        return self.select((examples[:, None] * self.arity + np.arange(self.arity)).ravel())

    def with_texts(self, others: list[Tokens]) -> "Dataset":
        """Examples of 1 + len(others) texts: each row followed by the same row's text from each of
        `others` (a pair, a triplet), all sharing the row's number and label."""
        k, R = 1 + len(others), len(self)
        tokens = self.tokens
        for other in others:
            tokens = _concat_tokens(tokens, other)  # column c's row r sits at c * R + r
        labels = None if self.labels is None else np.concatenate([self.labels] * k)
        stacked = Dataset(self.source, tokens, np.tile(self.rows, k), labels)
        interleaved = stacked.select((np.arange(k)[None, :] * R + np.arange(R)[:, None]).ravel())
        interleaved.arity = k
        return interleaved

    def select(self, rows: np.ndarray) -> "Dataset":
        """The given rows, in the given order (whole examples, when examples have several texts)."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.tokens.lengths[rows]
        flat = ragged_index(self.tokens.offsets[rows], lengths)
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens = Tokens(self.tokens.codes[flat], offsets, self.tokens.types)
        if isinstance(self.labels, Tokens):
            labels = Tokens(self.labels.codes[flat], offsets, self.labels.types)
        else:
            labels = None if self.labels is None else self.labels[rows]
        targets = None if self.targets is None else self.targets[flat]
        groups = None if self.groups is None else self.groups[rows]
        weights = None if self.weights is None else self.weights[rows]
        return Dataset(
            self.source, tokens, self.rows[rows], labels, targets, self.target_names, groups, self.arity, weights
        )

    @classmethod
    def concat(cls, first: "Dataset", second: "Dataset") -> "Dataset":
        """`first`'s rows, then `second`'s (same kind of labels, or none in `second`)."""
        tokens = _concat_tokens(first.tokens, second.tokens)
        labels = first.labels
        if isinstance(first.labels, Tokens):
            second_tags = (
                second.labels
                if second.labels is not None
                else Tokens(np.zeros(len(second.tokens.codes), np.int64) - 1, second.tokens.offsets, [])
            )
            labels = _concat_tokens(first.labels, second_tags)
        elif first.labels is not None:
            labels = np.concatenate(
                [first.labels, second.labels if second.labels is not None else np.full(len(second), None, dtype=object)]
            )
        index = {t: i for i, t in enumerate(first.target_names)}
        remap = np.array([index.setdefault(t, len(index)) for t in second.target_names] + [NO_TARGET], dtype=np.int64)
        targets = None
        if first.targets is not None or second.targets is not None:
            none = lambda d: np.full(len(d.tokens.codes), NO_TARGET, dtype=np.int64)
            targets = np.concatenate(
                [
                    first.targets if first.targets is not None else none(first),
                    remap[second.targets] if second.targets is not None else none(second),
                ]
            )
        groups = None
        if first.groups is not None or second.groups is not None:  # `second`'s groups are new ones
            no_groups = lambda d: np.full(len(d), -1, dtype=np.int64)
            base = int(first.groups.max(initial=-1)) + 1 if first.groups is not None else 0
            groups = np.concatenate(
                [
                    first.groups if first.groups is not None else no_groups(first),
                    np.where(second.groups >= 0, second.groups + base, -1)
                    if second.groups is not None
                    else no_groups(second),
                ]
            )
        weights = None
        if first.weights is not None or second.weights is not None:  # rows without a weight weigh 1
            ones = lambda d: np.ones(len(d))
            weights = np.concatenate([d.weights if d.weights is not None else ones(d) for d in (first, second)])
        rows = np.concatenate([first.rows, second.rows])
        return cls(first.source, tokens, rows, labels, targets, list(index), groups, weights=weights)


def _concat_tokens(a: Tokens, b: Tokens) -> Tokens:
    """Rows of `a`, then rows of `b`, in one table of types (a code of -1 stays -1)."""
    index = {t: i for i, t in enumerate(a.types)}
    remap = np.array([index.setdefault(t, len(index)) for t in b.types] + [-1], dtype=np.int64)
    offsets = np.concatenate([a.offsets, a.offsets[-1] + b.offsets[1:]])
    return Tokens(np.concatenate([a.codes, remap[b.codes]]), offsets, list(index))


def read_csv(path: str | Path, columns: list[str], delimiter: str = ",", setting: str | None = None):
    """Reads every cell as text (a text like `12345` stays text); checks the columns exist and that
    every row has as many fields as the header. `setting`: the config key that chooses `delimiter`,
    which an error names when the header looks separated by another character (None: the caller
    fixes the delimiter)."""
    return next(read_csv_chunks(path, columns, delimiter, setting))


def read_csv_chunks(
    path: str | Path,
    columns: list[str],
    delimiter: str = ",",
    setting: str | None = None,
    rows: Callable[[], int] | None = None,
):
    """`read_csv`'s frame in pieces, each checked as it is read: of `rows()` rows each (asked before
    each piece), or one piece (None). A frame's index counts rows from 0 across the whole file."""
    import pandas as pd  # only where a CSV is read: `textcls predict` starts faster without it

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a CSV file")
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative paths are read from the current folder, {Path.cwd()})"
        raise DataError(f"{path}: file not found{where}")

    def guarded(step):
        try:
            with warnings.catch_warnings():
                # index_col=False: rows longer than the header are an error, never a silent index column
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return step()
        except Exception as exc:
            raise _read_error(path, exc, delimiter, setting) from None

    reader = guarded(
        lambda: pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            index_col=False,
            chunksize=None if rows is None else 1,  # (a reader: each piece's size is asked of it)
        )
    )

    def pieces():
        while True:
            try:
                yield reader.get_chunk(rows())
            except StopIteration:
                return

    frames = iter([reader]) if rows is None else pieces()
    first, short_rows_checked = True, False
    while (frame := guarded(lambda: next(frames, None))) is not None:
        width = len(frame.columns)
        # pandas fills the fields missing at the end of a short row with "": only then is the file read
        # again, row by row, to tell a short row from an empty last field (`a,b,`).
        if width > 1 and not short_rows_checked and (frame.iloc[:, -1].to_numpy() == "").any():
            short_rows_checked = True  # (once: the scan covers the whole file)
            short = _first_row(path, delimiter, longer=False)
            if short:
                row, saw = short
                raise DataError(f"{path}, row {row}: {saw} field{'s' * (saw != 1)}, but the header has {width} columns")
        if first:
            for column in columns:
                if column not in frame.columns:
                    close = difflib.get_close_matches(column, list(frame.columns), n=1)
                    hint = f"did you mean '{close[0]}'?" if close else f"columns: {', '.join(map(str, frame.columns))}"
                    raise DataError(
                        f"{path}: no column '{column}' ({hint})"
                        f"{_delimiter_hint(path, delimiter, setting, frame.columns)}"
                    )
            if frame.empty:
                raise DataError(f"{path}: no data rows")
        first = False
        yield frame
    if first:
        raise DataError(f"{path}: no data rows")


def _read_error(path: Path, exc: Exception, delimiter: str, setting: str | None) -> Exception:
    """The one-line DataError for what pandas raised reading `path` (anything else as it is)."""
    import lzma  # (these three: what a file that is not the archive its name says raises)
    import tarfile
    import zipfile

    import pandas as pd

    if isinstance(exc, DataError):
        return exc
    if isinstance(exc, pd.errors.ParserWarning):
        row = _first_row(path, delimiter, longer=True)
        hint = _delimiter_hint(path, delimiter, setting)
        return DataError(f"{path}, row {row[0] if row else 1}: more fields than the header has columns{hint}")
    readable = (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        OSError,
        EOFError,
        ValueError,
        zipfile.BadZipFile,
        tarfile.TarError,
        lzma.LZMAError,
        ImportError,
    )  # (ValueError: a zip file of several files or none; ImportError: .zst without its package)
    if not isinstance(exc, readable):
        return exc
    message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:  # pandas counts lines, blank ones too; rows are counted as the frame counts them
        expected, line, saw = map(int, fields.groups())
        row, saw = _first_row(path, delimiter, longer=True) or (line - 1, saw)
        hint = _delimiter_hint(path, delimiter, setting)
        return DataError(f"{path}, row {row}: {saw} fields, but the header has {expected} columns{hint}")
    if isinstance(exc, UnicodeDecodeError) and (bad := _first_bad_utf8(path)):
        line, offset, byte = bad
        return DataError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{byte:02x} at byte offset {offset}); save the file as UTF-8"
        )
    return DataError(f"{path}: cannot read as CSV: {message}")


def _open_bytes(path: Path):
    """The file's bytes, decompressed as pandas decompresses it (.gz, .bz2, .xz, .zip of one file)."""
    import bz2
    import gzip
    import lzma
    import zipfile

    if path.suffix == ".zip":
        archive = zipfile.ZipFile(path)
        return archive.open(archive.namelist()[0])
    return {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix, open)(path, "rb")


def _open_text(path: Path):
    import io

    return io.TextIOWrapper(_open_bytes(path), encoding="utf-8", newline="")


def _first_bad_utf8(path: Path) -> tuple[int, int, int] | None:
    """(line from 1, byte offset from 0, the byte) of the first byte that is not UTF-8 text."""
    offset = 0
    try:
        with _open_bytes(path) as f:
            for number, line in enumerate(f, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return number, offset + exc.start, line[exc.start]
                offset += len(line)
    except (OSError, EOFError, ValueError):
        return None
    return None


def _records(path: Path, delimiter: str):
    """The CSV's records as the csv module reads them, without the blank lines pandas skips."""
    import csv

    with _open_text(path) as f:
        for fields in csv.reader(f, delimiter=delimiter):
            if fields and not (len(fields) == 1 and fields[0] and not fields[0].strip(" \t")):
                yield fields


def _first_row(path: Path, delimiter: str, longer: bool) -> tuple[int, int] | None:
    """(row, fields) of the first data row (from 1, after the header) with more fields than the
    header (`longer`), or fewer; None when there is none or the file cannot be read this way."""
    import csv

    limit = csv.field_size_limit(2**31 - 1)  # texts longer than the csv module's 128 KB default
    try:
        records = _records(path, delimiter)
        width = len(next(records, []))
        for r, fields in enumerate(records, start=1):
            if (len(fields) > width) if longer else (len(fields) < width):
                return r, len(fields)
    except Exception:  # a file pandas read but the csv module cannot (e.g. a .zst): no row to name
        pass
    finally:
        csv.field_size_limit(limit)
    return None


_SHOWN = {",": "','", ";": "';'", "|": "'|'", "\t": '"\\t"'}  # candidate delimiters, as YAML writes them


def _delimiter_hint(path: Path, delimiter: str, setting: str | None, header=None) -> str:
    """' (the header looks ';'-separated: ...)' when the header is one column holding another
    common delimiter; else ''."""
    if header is None:
        try:
            header = next(_records(path, delimiter), [])
        except Exception:  # (only a hint: an unreadable header gives none)
            return ""
    if len(header) != 1:
        return ""
    found = next((d for d in _SHOWN if d != delimiter and d in str(header[0])), None)
    if found is None:
        return ""
    name = "tab" if found == "\t" else _SHOWN[found]
    advice = (
        f": set {setting}: {_SHOWN[found]}"
        if setting
        else f", but it is read as {_SHOWN.get(delimiter, repr(delimiter))}-separated"
    )
    return f" (the header looks {name}-separated{advice})"


def _first_bad(bad: np.ndarray) -> int | None:
    hits = np.flatnonzero(bad)
    return int(hits[0]) if len(hits) else None


def make_tokenizer(cfg: DataConfig, task: Task) -> Tokenizer:
    """The config's tokenizer. Token-labelled text comes tokenised: one label per space-separated word."""
    return Tokenizer(cfg.lowercase, whitespace=task.per_token, max_length=cfg.max_length)


def read_examples(
    path: str | Path, cfg: DataConfig, task: Task, tokenizer: Tokenizer, labelled: bool = True, weighted: bool = False
) -> Dataset:
    """The rows of a CSV as a Dataset, with the text columns and labels `task` reads (a pair or a
    triplet of texts per row makes examples of two or three texts). With `labelled=False`
    (predicting) only the text column is read; with `weighted` (the training file) also the row
    weights of data.weight_column."""
    return next(read_example_chunks(path, cfg, task, tokenizer, labelled, weighted=weighted))


def read_example_chunks(
    path: str | Path,
    cfg: DataConfig,
    task: Task,
    tokenizer: Tokenizer,
    labelled: bool = True,
    tokens: int | None = None,
    weighted: bool = False,
):
    """`read_examples` in Datasets of about `tokens` tokens each (None: one Dataset), rows numbered
    as in the whole file; every bad cell is found in the chunk that holds it. A chunk's rows are
    counted from the tokens per row so far (50 are guessed for the first)."""
    text_columns, label_column = task.columns(cfg) if labelled else ([cfg.text_column], None)
    weight_column = cfg.weight_column if weighted and labelled else None
    read = (label_column, cfg.rationale_column, cfg.group_column, weight_column)
    columns = text_columns + [c for c in read if c and labelled]
    group_index: dict[str, int] = {}  # (groups are numbered across the whole file)
    seen = [0, 0]  # rows, tokens

    def rows() -> int:
        per_row = seen[1] / seen[0] if seen[1] else 50
        return max(1, int(tokens / max(per_row, 1)))

    for frame in read_csv_chunks(path, columns, cfg.delimiter, "data.delimiter", rows if tokens else None):
        chunk = _examples(frame, path, cfg, task, tokenizer, text_columns, label_column, labelled, group_index)
        if weight_column:
            first = int(frame.index[0]) + 1 if len(frame) else 1
            chunk.weights = _read_weights(frame[weight_column], path, weight_column, first)
        seen[0], seen[1] = seen[0] + len(chunk), seen[1] + len(chunk.tokens.codes)
        yield chunk


def _examples(frame, path, cfg, task, tokenizer, text_columns, label_column, labelled, group_index) -> Dataset:
    """One frame's rows as a Dataset (`read_example_chunks`)."""
    first = int(frame.index[0]) + 1 if len(frame) else 1  # the frame's first row, numbered from 1
    per_column = [_read_texts(frame[column], path, column, tokenizer, first) for column in text_columns]
    texts, tokens = per_column[0]
    dataset = Dataset(str(path), tokens, np.arange(first, first + len(texts), dtype=np.int64))
    if label_column:
        where = lambda i: f"{path}, row {first + i}, column '{label_column}'"
        empty = _first_bad(~frame[label_column].str.strip().astype(bool).to_numpy())
        if empty is not None and not task.empty_label:
            raise DataError(f"{where(empty)}: empty label")
        dataset.labels = task.read_labels(frame[label_column].tolist(), texts, tokens, tokenizer, where, cfg)
    if cfg.rationale_column and labelled:
        _read_rationales(dataset, frame[cfg.rationale_column].tolist(), texts, tokenizer, cfg.rationale_column)
    if cfg.group_column and labelled:
        cells = frame[cfg.group_column].str.strip()
        empty = _first_bad(~cells.astype(bool).to_numpy())
        if empty is not None:
            raise DataError(f"{path}, row {first + empty}, column '{cfg.group_column}': empty group")
        dataset.groups = np.fromiter(
            (group_index.setdefault(g, len(group_index)) for g in cells.tolist()), dtype=np.int64, count=len(cells)
        )
    if len(per_column) > 1:
        dataset = dataset.with_texts([t for _, t in per_column[1:]])
    return dataset


def _read_weights(cells, path, column: str, first: int) -> np.ndarray:
    """(R,) float64 row weights: numbers >= 0, finite; a bad cell is one line naming it."""
    import pandas as pd

    values = pd.to_numeric(cells.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = _first_bad(~(np.isfinite(values) & (values >= 0)))
    if bad is not None:
        cell = cells.iloc[bad]
        raise DataError(f"{path}, row {first + bad}, column '{column}': '{cell}' is not a weight (a number >= 0)")
    return values


def _read_texts(cells, path, column: str, tokenizer: Tokenizer, first: int = 1) -> tuple[list[str], Tokens]:
    """A text column (a pandas Series), tokenised; an empty text, or one without tokens, is an error
    (rows numbered from `first`)."""
    texts = cells.tolist()
    empty = _first_bad(~cells.str.strip().astype(bool).to_numpy())
    if empty is not None:
        raise DataError(f"{path}, row {first + empty}, column '{column}': empty text")
    tokens = tokenize_column(texts, tokenizer)
    no_tokens = _first_bad(tokens.lengths == 0)
    if no_tokens is not None:
        raise DataError(f"{path}, row {first + no_tokens}, column '{column}': no tokens in text")
    return texts, tokens


def _read_rationales(dataset: Dataset, cells: list[str], texts: list[str], tokenizer: Tokenizer, column: str) -> None:
    """Word targets from the rationale column (only the rows that have a cell are visited)."""
    names: dict[str, int] = {}
    targets = np.full(len(dataset.tokens.codes), NO_TARGET, dtype=np.int64)
    for r, cell in enumerate(cells):
        if not cell.strip():
            continue
        where = f"{dataset.source}, row {dataset.rows[r]}, column '{column}'"
        words = [tokenizer.normalize(t) for t in tokenizer.words(texts[r])]
        length = dataset.tokens.offsets[r + 1] - dataset.tokens.offsets[r]
        for p, t in parse_word_targets(cell, words, where).items():  # the whole text: max_length may cut a named word
            if p < length:
                targets[dataset.tokens.offsets[r] + p] = names.setdefault(t, len(names))
    if names:
        dataset.targets, dataset.target_names = targets, list(names)


def parse_word_targets(cell: str, tokens: list[str], where: str) -> dict[int, str]:
    """`cute:1 uncomfortable:0` -> {position: target} for every occurrence of each word in the row."""
    targets: dict[int, str] = {}
    for pair in cell.split():
        word, sep, target = pair.rpartition(":")
        if not sep or not word or not target:
            raise DataError(f"{where}: malformed pair '{pair}' (expected word:target)")
        positions = [i for i, t in enumerate(tokens) if t == word or t == word.lower()]
        if not positions:
            raise DataError(f"{where}: word '{word}' is not among the row's tokens")
        for i in positions:
            targets[i] = target
    return targets


# --- validation split ----------------------------------------------------------------------------


def validation_split(labels, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation rows, training rows), both in row order, stratified by label: of each class's
    rows, in a seeded shuffle, the first round(n * fraction) validate (rounded as Python's round),
    but a class always keeps a row in training, so a class of one row never validates. When no
    class gives a row that way, the largest one gives one (if it has two)."""
    index: dict = {}
    codes = np.fromiter((index.setdefault(label, len(index)) for label in labels), dtype=np.int64)
    counts = np.bincount(codes, minlength=len(index))
    take = np.minimum(np.rint(counts * fraction).astype(np.int64), counts - 1)
    if len(counts) and take.sum() == 0 and counts.max() > 1:
        take[np.argmax(counts)] = 1
    order = np.random.RandomState(seed).permutation(len(codes))
    order = order[np.argsort(codes[order], kind="stable")]  # grouped by class, shuffled within each
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(order)) - starts[codes[order]]  # each row's place in its class's shuffle
    chosen = rank < take[codes[order]]
    return np.sort(order[chosen]), np.sort(order[~chosen])


def split_examples(config: Config, task: Task, labels, examples: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation examples, training examples) of the training file when data.valid is a fraction:
    stratified by `labels` (one per example) where the task splits so, else a seeded draw."""
    fraction = config.data.valid
    if not 0 < fraction < 1:
        raise ConfigError(f"data.valid: a fraction must lie between 0 and 1, got {fraction}")
    if task.stratified_split:  # every class in proportion, and none left out of training
        valid, train = validation_split(labels, fraction, config.train.seed)
    else:
        order = np.random.RandomState(config.train.seed).permutation(examples)
        cut = max(1, int(round(examples * fraction)))
        valid, train = np.sort(order[:cut]), np.sort(order[cut:])
    if not len(valid) or not len(train):
        raise DataError(f"{config.data.train}: too few rows ({examples}) to split off a validation set")
    return valid, train


# --- word-target vocabulary: which class a target names ------------------------------------------

_POSITIVE = {"1", "+1", "pos", "positive", "true"}
_NEGATIVE = {"0", "-1", "neg", "negative", "false"}


def resolve_target(target: str, labels: list[str], where: str) -> int:
    """The index of the class a word supports. Binary tasks also accept 1/0, pos/neg, +1/-1."""
    if target in labels:
        return labels.index(target)
    if len(labels) == 2:
        if (side := polarity(target)) is not None:
            return side
    choices = ", ".join(labels) + (" (or 1/0, pos/neg, +1/-1)" if len(labels) == 2 else "")
    raise DataError(f"{where}: unknown word target '{target}' (expected one of {choices})")


# --- lexicons -----------------------------------------------------------------------------------


def held_out(word: str, share: float) -> bool:
    """A stable, seed-free choice of the lexicon words kept out of training (for honest evaluation)."""
    return zlib.crc32(word.encode("utf-8")) % 10_000 < share * 10_000


def lexicon_part(lexicon: dict[str, str], share: float, part: str = "train") -> dict[str, str]:
    """The entries training may use (`part="train"`), or those it withheld (`"heldout"`)."""
    return {w: t for w, t in lexicon.items() if held_out(w, share) == (part == "heldout")}


def lexicon_scores(path: str | Path, frame) -> list[tuple[str, float]]:
    """A `word,score` lexicon's rows, the scores as numbers; a cell that is not one names its row."""
    pairs = []
    for i, (word, raw) in enumerate(zip(frame["word"], frame["score"])):
        try:
            pairs.append((word, float(raw)))
        except ValueError:
            raise DataError(f"{path}, row {i + 1}, column 'score': '{raw}' is not a number") from None
    return pairs


def polarity(label: str) -> int | None:
    """1 for a positive label (pos, positive, 1, +1, true), 0 for a negative one, else None."""
    label = label.strip().lower()
    return 1 if label in _POSITIVE else 0 if label in _NEGATIVE else None


def read_lexicon(path: str | Path, threshold: float, lowercase: bool) -> dict[str, str]:
    """CSV `word,label` or `word,score` -> {word: target}. Scores beyond +-threshold give 1 / 0."""
    # Always comma-separated, whatever data.delimiter says: a lexicon has its own documented format
    # and is often shared between data sets, while data.delimiter says how one data set was exported.
    frame = read_csv(path, ["word"])
    if "label" in frame.columns:
        pairs = zip(frame["word"], frame["label"])
    elif "score" in frame.columns:
        pairs = []
        for word, score in lexicon_scores(path, frame):
            if score > 0 and score >= threshold:
                pairs.append((word, "1"))
            elif score < 0 and score <= -threshold:
                pairs.append((word, "0"))
    else:
        raise DataError(f"{path}: a lexicon needs a 'label' or a 'score' column besides 'word'")
    return {(w.lower() if lowercase else w): str(t).strip() for w, t in pairs if w.strip() and str(t).strip()}


def apply_lexicon(dataset: Dataset, lexicon: dict[str, str], tokenizer: Tokenizer) -> None:
    """Adds lexicon targets to every row; targets from the row's own rationale column take precedence."""
    if not lexicon:
        return
    names = {t: i for i, t in enumerate(dataset.target_names)}
    per_type = np.array(
        [
            names.setdefault(lexicon[w], len(names)) if (w := tokenizer.normalize(t)) in lexicon else NO_TARGET
            for t in dataset.tokens.types
        ]
        + [NO_TARGET],
        dtype=np.int64,
    )
    from_lexicon = per_type[dataset.tokens.codes]
    if dataset.targets is None:
        dataset.targets = from_lexicon
    else:
        dataset.targets = np.where(dataset.targets == NO_TARGET, from_lexicon, dataset.targets)
    dataset.target_names = list(names)


@dataclass
class Datasets:
    train: Dataset
    valid: Dataset
    test: Dataset | None
    valid_source: str
    lexicon: dict[str, str] | None = None


def label_cover(dataset: Dataset) -> Dataset:
    """The first examples of `dataset` that between them hold every label it has (each class, each
    tag, each label of a multi-label row; one example for numbers): what its label set needs of it."""
    labels = dataset.labels
    if isinstance(labels, Tokens):  # the row of each tag's first token
        tagged = np.flatnonzero(labels.codes >= 0)
        first = tagged[np.unique(labels.codes[tagged], return_index=True)[1]]
        rows = np.searchsorted(labels.offsets, first, side="right") - 1
    elif labels is None or labels.dtype != object:
        rows = np.arange(min(1, len(dataset)))
    else:
        seen: dict = {}
        for r, label in enumerate(labels.tolist()):
            for one in label if isinstance(label, tuple) else (label,):
                seen.setdefault(one, r)
        rows = np.fromiter(seen.values(), dtype=np.int64, count=len(seen))
    return dataset.select_examples(np.unique(rows // dataset.arity))


def lexicon_examples(lexicon: dict[str, str], tokenizer: Tokenizer, source) -> Dataset | None:
    """Each lexicon word alone, as a row with its word target and no label (None without one)."""
    words = [
        Example(tokens, None, 0, {0: target})
        for word, target in lexicon.items()
        if len(tokens := tokenizer.split(word)) == 1
    ]  # entries the tokenizer splits can never match a token
    return Dataset.from_examples(words, str(source)) if words else None


WEIGHTED_TASKS = ("classification", "regression")  # a loss that is a mean over independent rows


def check_inputs(config: Config, task: Task) -> None:
    """The settings' errors that reading the data would meet only later (word targets for a task without them)."""
    data = config.data
    if data.prepare:  # prepared files (too large or not ours to ship): say how to make a missing one
        for path in (data.train, data.valid, data.test):
            if isinstance(path, str) and not Path(path).exists():
                raise DataError(f"{path}: file not found; make it with `{data.prepare}`")
    if config.train.faithfulness and not task.explains:
        raise ConfigError(
            f"train.faithfulness measures word scores as evidence for a class; task '{task.name}' has none "
            "(classification has)"
        )
    if data.weight_column and task.name not in WEIGHTED_TASKS:
        raise ConfigError(
            f"data.weight_column: row weights scale each row's loss; task '{task.name}' scores rows together "
            f"({', '.join(WEIGHTED_TASKS)} take them)"
        )
    if (data.lexicon or data.rationale_column) and not task.explains:
        key = "data.lexicon" if data.lexicon else "data.rationale_column"
        raise ConfigError(
            f"{key}: word targets name the class a word supports; task '{task.name}' has no such scores "
            "(classification has)"
        )


def load_datasets(config: Config, task: Task) -> Datasets:
    """Reads every CSV named by the config, for `task` (the config's), so that any bad input fails
    before training starts."""
    check_inputs(config, task)
    data = config.data
    tokenizer = make_tokenizer(data, task)
    train = read_examples(data.train, data, task, tokenizer, weighted=True)
    if isinstance(data.valid, str):
        valid, source = read_examples(data.valid, data, task, tokenizer), data.valid
    else:
        labels = train.labels if task.stratified_split else None
        valid_rows, train_rows = split_examples(config, task, labels, train.num_examples)
        valid, train = train.select_examples(valid_rows), train.select_examples(train_rows)
        valid.source = source = f"{data.train} (validation split)"
    test = read_examples(data.test, data, task, tokenizer) if data.test else None
    if data.lexicon:
        lexicon = read_lexicon(data.lexicon, data.lexicon_threshold, data.lowercase)
        training_lexicon = lexicon_part(lexicon, data.lexicon_holdout)
        apply_lexicon(train, training_lexicon, tokenizer)
        if data.lexicon_examples:
            # Each lexicon word alone, with its word target and no sentence label: words that the
            # training sentences never use still learn their polarity (and join the vocabulary).
            if (words := lexicon_examples(training_lexicon, tokenizer, data.lexicon)) is not None:
                train = Dataset.concat(train, words)
        for examples in (valid, test):
            if examples is not None:
                apply_lexicon(examples, lexicon, tokenizer)  # evaluation sees every lexicon word
    return Datasets(train, valid, test, source, lexicon if data.lexicon else None)
