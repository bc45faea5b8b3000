"""Pretrained word vectors: read from a file, copied into the rows of the vocabulary's words.

Formats:
- text (`.txt`, `.vec`, either optionally `.gz`): one word and its numbers per line, separated by
  spaces (GloVe); an optional first line `count dimension` (word2vec, fastText `.vec`).
- `.npy`: a (words, dimension) array, with the words one per line in the file of the same name
  ending `.vocab` instead (`glove.npy` + `glove.vocab`); `scripts/prepare_glove.py` writes one.

Words without a vector keep their random (and character n-gram) initialisation. A word is looked
up as the vocabulary holds it, then lower-cased.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textcls.errors import DataError
from textcls.vocab import Vocabulary

MAKE_IT = "python scripts/prepare_glove.py"  # what makes the shipped configs' vectors file


@dataclass
class Coverage:
    found: int  # training vocabulary words given a vector
    words: int  # training vocabulary words (special tokens excluded)
    added: int = 0  # words of the vectors file added to the vocabulary (model.pretrained_words: all)

    def __str__(self) -> str:
        share = self.found / self.words if self.words else 0.0
        added = f"; {self.added:,} more words from the file" if self.added else ""
        return f"pretrained vectors for {self.found:,} of {self.words:,} training vocabulary words ({share:.1%}){added}"


def read_vectors(path: str | Path, dim: int, wanted: set[str] | None = None) -> dict[str, np.ndarray]:
    """word -> (dim,) float32 vector, for the words in `wanted` (all when None)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: pretrained vectors file not found (`{MAKE_IT}` makes the GloVe one)")
    if path.suffix == ".npy":
        return _read_npy(path, dim, wanted)
    return _read_text(path, dim, wanted)


def _read_npy(path: Path, dim: int, wanted: set[str] | None) -> dict[str, np.ndarray]:
    words_path = path.with_suffix(".vocab")
    if not words_path.is_file():
        raise DataError(f"{words_path}: word list of {path.name} not found (one word per line)")
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{path}: not a NumPy array file ({exc})") from None
    words = words_path.read_text(encoding="utf-8").split("\n")
    if words and words[-1] == "":
        words.pop()
    if matrix.ndim != 2 or len(matrix) == 0:
        raise DataError(f"{path}: no vectors (expected a 2-d array, found shape {tuple(matrix.shape)})")
    if matrix.shape[1] != dim:
        raise DataError(f"{path}: vectors have {matrix.shape[1]} dimensions, model.embedding_dim is {dim}")
    if len(words) != len(matrix):
        raise DataError(f"{words_path}: {len(words):,} words for {len(matrix):,} vectors in {path.name}")
    return {w: np.array(matrix[i], dtype=np.float32) for i, w in enumerate(words) if wanted is None or w in wanted}


def _read_text(path: Path, dim: int, wanted: set[str] | None) -> dict[str, np.ndarray]:
    opener = gzip.open if path.suffix == ".gz" else open
    vectors: dict[str, np.ndarray] = {}
    seen = 0
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec header: count dimension
                if len(parts) == 1 and not parts[0]:
                    continue  # blank line
                seen += 1
                if len(parts) != dim + 1:
                    if seen == 1 and len(parts) > 2:
                        raise DataError(
                            f"{path} line {line_no}: vectors have {len(parts) - 1} dimensions, "
                            f"model.embedding_dim is {dim}"
                        )
                    raise DataError(
                        f"{path} line {line_no}: expected a word and {dim} numbers, "
                        f"found {len(parts) - 1} fields after the word"
                    )
                if wanted is not None and parts[0] not in wanted:
                    continue
                try:
                    vectors[parts[0]] = np.array(parts[1:], dtype=np.float32)
                except ValueError:
                    bad = next(p for p in parts[1:] if not _is_number(p))
                    raise DataError(f"{path} line {line_no}: {bad!r} is not a number") from None
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read vectors ({exc})") from None
    if seen == 0:
        raise DataError(f"{path}: no vectors (the file is empty)")
    return vectors


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def vocabulary_words(vocab: Vocabulary) -> set[str]:
    """The words to read vectors for: the vocabulary's, as they are and lower-cased."""
    words = vocab.itos[2:]  # after padding and the unknown word
    return set(words) | {w.lower() for w in words}


def load_pretrained(
    weight: torch.Tensor, vocab: Vocabulary, vectors: dict[str, np.ndarray]
) -> tuple[Coverage, torch.Tensor]:
    """Copy `vectors` into the rows of `vocab`'s words in `weight` (num_features, D), in place.
    Returns the coverage of the training words and the (num_features,) mask of the rows that got a vector."""
    rows = torch.zeros(weight.shape[0], dtype=torch.bool)
    with torch.no_grad():
        for i, word in enumerate(vocab.itos[2:], start=2):
            vector = vectors.get(word)
            if vector is None:
                vector = vectors.get(word.lower())
            if vector is not None:
                weight[i] = torch.from_numpy(vector)
                rows[i] = True
    return Coverage(int(rows[2 : vocab.trained].sum()), vocab.trained - 2, len(vocab) - vocab.trained), rows
