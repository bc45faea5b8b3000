"""CSV -> examples: reading, tokenising, labels and per-word targets, with row numbers for errors.

Rows are numbered from 1 after the header, as a spreadsheet numbers data rows.
"""

from __future__ import annotations

import difflib
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from textcls.config import DataConfig
from textcls.errors import DataError

# Words (keeping inner apostrophes and hyphens: "don't", "well-made"), else single symbols.
_WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|[^\w\s]|_+")


@dataclass(frozen=True)
class Tokenizer:
    """Splits text into tokens. `whitespace` (tagging) keeps the corpus's own tokens aligned with its tags."""

    lowercase: bool = True
    whitespace: bool = False
    max_length: int | None = None

    def words(self, text: str) -> list[str]:
        """All surface tokens, in their original case (shape features need it)."""
        return text.split() if self.whitespace else _WORD_RE.findall(text)

    def split(self, text: str) -> list[str]:
        """The tokens a model sees: `words`, cut at max_length."""
        tokens = self.words(text)
        return tokens[: self.max_length] if self.max_length else tokens

    def normalize(self, token: str) -> str:
        return token.lower() if self.lowercase else token

    def __call__(self, text: str) -> list[str]:
        return [self.normalize(t) for t in self.split(text)]


@dataclass
class Example:
    tokens: list[str]  # surface tokens
    label: str | float | list[str] | None  # class, number, or one tag per token; None when unlabelled
    row: int = 0
    word_targets: dict[int, str] = field(default_factory=dict)  # token position -> class it supports


def read_csv(path: str | Path, columns: list[str]) -> pd.DataFrame:
    """Reads every cell as text (a text like `12345` stays text); checks the columns exist."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read as CSV: {message}") from None
    for column in columns:
        if column not in frame.columns:
            close = difflib.get_close_matches(column, list(frame.columns), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"columns: {', '.join(map(str, frame.columns))}"
            raise DataError(f"{path}: no column '{column}' ({hint})")
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    return frame


def _cell(path, row: int, column: str, value: str, what: str) -> str:
    if not value.strip():
        raise DataError(f"{path}, row {row}, column '{column}': empty {what}")
    return value


def parse_label(task: str, raw: str, n_words: int, where: str) -> str | float | list[str]:
    """A class name, a number, or (tagging) one tag per whitespace-separated word."""
    if task == "classification":
        return raw.strip()
    if task == "regression":
        try:
            value = float(raw)
        except ValueError:
            raise DataError(f"{where}: '{raw}' is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise DataError(f"{where}: '{raw}' is not a finite number")
        return value
    tags = raw.split()
    if len(tags) != n_words:
        raise DataError(f"{where}: {len(tags)} tags for {n_words} tokens")
    return tags


def read_examples(path: str | Path, cfg: DataConfig, task: str, tokenizer: Tokenizer, labelled: bool = True) -> list[Example]:
    """One Example per CSV row. With `labelled=False` (predicting) the label column may be absent."""
    columns = [cfg.text_column] + ([cfg.label_column] if labelled else [])
    if cfg.rationale_column and labelled:
        columns.append(cfg.rationale_column)
    frame = read_csv(path, columns)
    texts = frame[cfg.text_column].tolist()
    labels = frame[cfg.label_column].tolist() if labelled else [None] * len(texts)
    rationales = frame[cfg.rationale_column].tolist() if cfg.rationale_column and labelled else None
    examples = []
    for i, (text, raw_label) in enumerate(zip(texts, labels)):
        row = i + 1
        _cell(path, row, cfg.text_column, text, "text")
        tokens = tokenizer.split(text)
        if not tokens:
            raise DataError(f"{path}, row {row}, column '{cfg.text_column}': no tokens in text")
        label = None
        if raw_label is not None:
            where = f"{path}, row {row}, column '{cfg.label_column}'"
            _cell(path, row, cfg.label_column, raw_label, "label")
            label = parse_label(task, raw_label, len(text.split()), where)
            if task == "tagging":
                label = label[: len(tokens)]  # max_length truncates tags with their words
        example = Example(tokens, label, row)
        if rationales is not None and rationales[i].strip():
            where = f"{path}, row {row}, column '{cfg.rationale_column}'"
            words = [tokenizer.normalize(t) for t in tokenizer.words(text)]
            targets = parse_word_targets(rationales[i], words, where)  # the whole text: max_length may cut a named word
            example.word_targets = {p: t for p, t in targets.items() if p < len(tokens)}
        examples.append(example)
    return examples


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


# --- word-target vocabulary: which class a target names ------------------------------------------

_POSITIVE = {"1", "+1", "pos", "positive", "true"}
_NEGATIVE = {"0", "-1", "neg", "negative", "false"}


def resolve_target(target: str, labels: list[str], where: str) -> int:
    """The index of the class a word supports. Binary tasks also accept 1/0, pos/neg, +1/-1."""
    if target in labels:
        return labels.index(target)
    if len(labels) == 2:
        if target.lower() in _POSITIVE:
            return 1
        if target.lower() in _NEGATIVE:
            return 0
    choices = ", ".join(labels) + (" (or 1/0, pos/neg, +1/-1)" if len(labels) == 2 else "")
    raise DataError(f"{where}: unknown word target '{target}' (expected one of {choices})")


# --- lexicons -----------------------------------------------------------------------------------


def held_out(word: str, share: float) -> bool:
    """A stable, seed-free choice of the lexicon words kept out of training (for honest evaluation)."""
    return zlib.crc32(word.encode("utf-8")) % 10_000 < share * 10_000


def read_lexicon(path: str | Path, threshold: float, lowercase: bool) -> dict[str, str]:
    """CSV `word,label` or `word,score` -> {word: target}. Scores beyond +-threshold give 1 / 0."""
    frame = read_csv(path, ["word"])
    if "label" in frame.columns:
        pairs = zip(frame["word"], frame["label"])
    elif "score" in frame.columns:
        pairs = []
        for i, (word, raw) in enumerate(zip(frame["word"], frame["score"])):
            try:
                score = float(raw)
            except ValueError:
                raise DataError(f"{path}, row {i + 1}, column 'score': '{raw}' is not a number") from None
            if score > 0 and score >= threshold:
                pairs.append((word, "1"))
            elif score < 0 and score <= -threshold:
                pairs.append((word, "0"))
    else:
        raise DataError(f"{path}: a lexicon needs a 'label' or a 'score' column besides 'word'")
    return {(w.lower() if lowercase else w): str(t).strip() for w, t in pairs if w.strip() and str(t).strip()}


def apply_lexicon(examples: list[Example], lexicon: dict[str, str], tokenizer: Tokenizer) -> None:
    """Adds lexicon targets to every row; targets from the row's own rationale column take precedence."""
    for example in examples:
        for i, token in enumerate(example.tokens):
            target = lexicon.get(tokenizer.normalize(token))
            if target is not None and i not in example.word_targets:
                example.word_targets[i] = target
