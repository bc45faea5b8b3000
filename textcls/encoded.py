"""A dataset as flat model inputs: every per-token array (word ids, hashed word n-grams, the word's
character n-grams, shapes, word targets, tags) is one flat array over all tokens of all rows, and
`offsets` says where each row starts. `Featurizer` (features.py) makes them; batching.py cuts
batches of tensors from them; numpy alone reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textcls.tokenize import ragged_index
from textcls.vocab import Vocabulary

IGNORE = -100  # target value that losses skip (padding, unlabelled words)


@dataclass
class Ragged:
    """A list of id lists: list i is values[offsets[i]:offsets[i + 1]]."""

    values: np.ndarray  # (S,) int64
    offsets: np.ndarray  # (L + 1,) int64

    def gather(self, index: np.ndarray) -> "Ragged":
        counts = self.offsets[index + 1] - self.offsets[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return Ragged(self.values[ragged_index(self.offsets[index], counts)], offsets)


@dataclass
class EncodedRow:
    """One row of an `Encoded`, as plain arrays: for looking at encodings and building small inputs."""

    ids: np.ndarray  # (T,) word ids
    label: int | float | np.ndarray | None  # class index, value, or (T,) tag ids
    targets: np.ndarray | None = None  # (T,) class a word supports, IGNORE if none
    ngrams: np.ndarray | None = None  # (T, K)
    subwords: list[np.ndarray] | None = None  # per word, its character n-gram ids
    shapes: np.ndarray | None = None  # (T,)


@dataclass
class Encoded:
    """A dataset as model inputs. Row r's tokens are positions offsets[r]:offsets[r + 1] of every
    per-token array below."""

    offsets: np.ndarray  # (R + 1,) int64
    ids: np.ndarray  # (N,) word ids (Vocabulary.unk_id for unknown words)
    labels: np.ndarray | None = None  # (R,) class (IGNORE: none) or float value; tagging: (N,) tag ids
    targets: np.ndarray | None = None  # (N,) class a word supports, IGNORE if none
    ngrams: np.ndarray | None = None  # (N, word_ngrams - 1) hashed n-grams starting at each word, 0 = none
    word_types: np.ndarray | None = None  # (N,) each token's entry in `subwords`
    subwords: Ragged | None = None  # per distinct word, its hashed character n-gram ids
    shapes: np.ndarray | None = None  # (N,) word_shape ids
    lexicon: np.ndarray | None = None  # (N, K) float32 lexicon valences (textcls/lexicon_features.py)
    char_types: np.ndarray | None = None  # (N,) each token's row in `chars`
    chars: np.ndarray | None = None  # (U, L) character ids of each distinct word as written, 0 on padding
    groups: np.ndarray | None = None  # (R,) each row's group (ranking within groups)
    weights: np.ndarray | None = None  # (R,) float32 how much each row's loss counts
    token_labels: bool = False  # labels are per token (tagging)
    trained_words: int | None = None  # word ids from this one on were never seen in training (Vocabulary.trained)
    arity: int = 1  # texts per example (rows k*e .. k*e + k - 1 are example e's)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def unseen(self) -> np.ndarray:
        """(N,) True where the token's word was never seen in training: unknown, or added to the
        vocabulary from pretrained vectors."""
        unknown = self.ids == Vocabulary.unk_id
        return unknown if self.trained_words is None else unknown | (self.ids >= self.trained_words)

    @property
    def row_of(self) -> np.ndarray:
        """(N,) the row of each token."""
        return np.repeat(np.arange(len(self)), self.lengths)

    def __getitem__(self, r: int) -> EncodedRow:
        span = slice(self.offsets[r], self.offsets[r + 1])
        cut = lambda a: None if a is None else a[span]
        label = None if self.labels is None else self.labels[span] if self.token_labels else self.labels[r]
        subwords = None
        if self.subwords is not None:
            subwords = [
                self.subwords.values[self.subwords.offsets[t] : self.subwords.offsets[t + 1]]
                for t in self.word_types[span]
            ]
        return EncodedRow(self.ids[span], label, cut(self.targets), cut(self.ngrams), subwords, cut(self.shapes))

    def __iter__(self):
        return (self[r] for r in range(len(self)))

    @classmethod
    def from_rows(cls, rows: list[EncodedRow], token_labels: bool = False) -> "Encoded":
        """Flat arrays from per-row ones (rows without a label get IGNORE)."""
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r.ids) for r in rows], out=offsets[1:])
        flat = lambda arrays, fill: np.concatenate(
            [np.full(len(r.ids), fill) if a is None else np.asarray(a) for r, a in zip(rows, arrays)]
        )
        encoded = cls(offsets, flat([r.ids for r in rows], 0).astype(np.int64), token_labels=token_labels)
        labels = [r.label for r in rows]
        if any(label is not None for label in labels):
            if token_labels:
                encoded.labels = flat(labels, IGNORE).astype(np.int64)
            elif any(isinstance(label, float) for label in labels):
                encoded.labels = np.array(labels, dtype=np.float32)
            else:
                encoded.labels = np.array([IGNORE if label is None else label for label in labels], dtype=np.int64)
        if any(r.targets is not None for r in rows):
            encoded.targets = flat([r.targets for r in rows], IGNORE).astype(np.int64)
        if rows[0].ngrams is not None:
            encoded.ngrams = np.concatenate([r.ngrams for r in rows]).astype(np.int64)
        if rows[0].shapes is not None:
            encoded.shapes = flat([r.shapes for r in rows], 0).astype(np.int64)
        if rows[0].subwords is not None:
            grams = [g for r in rows for g in r.subwords]
            sub_offsets = np.zeros(len(grams) + 1, dtype=np.int64)
            np.cumsum([len(g) for g in grams], out=sub_offsets[1:])
            encoded.subwords = Ragged(np.concatenate(grams).astype(np.int64), sub_offsets)
            encoded.word_types = np.arange(len(grams))
        return encoded
