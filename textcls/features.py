"""Dataset -> flat model inputs (an `Encoded`), once: no Python per row.

Feature ids share one table: ids below `len(vocab)` are words, the `buckets` ids above them are
hashed word n-grams and character n-grams (as fastText hashes them). Work per word (lower-casing,
vocabulary look-up, hashing, character n-grams) is done once per distinct word, not per occurrence.
"""

from __future__ import annotations

import zlib
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from textcls.data import Dataset, Example, resolve_target
from textcls.encoded import IGNORE, Encoded, Ragged
from textcls.lexicon_features import Lexicon, lexicon_features
from textcls.tokenize import Tokenizer, Tokens
from textcls.vocab import Vocabulary

if TYPE_CHECKING:
    from textcls.config import ModelConfig
    from textcls.tasks import Task

_PRIME = 116_049_371
_MOD = 2**31 - 1
NUM_SHAPES = 8  # 0 is padding
CHAR_BUCKETS = (
    1024  # character ids: 1 + code point mod 1023 (distinct below 1023: Latin and Greek letters); 0 is padding
)


def char_ids(word: str, max_length: int) -> list[int]:
    """A word's character ids as written (case kept). A word longer than `max_length` keeps its
    first and last halves: prefixes and suffixes are what tell unknown words apart."""
    if len(word) > max_length:
        word = word[: max_length // 2] + word[len(word) - (max_length - max_length // 2) :]
    return [1 + ord(c) % (CHAR_BUCKETS - 1) for c in word]


def word_shape(token: str) -> int:
    """A coarse shape class, computed on the surface form: what unknown words still tell us."""
    if token.isalpha():
        if token.islower():
            return 1
        if token.isupper():
            return 2 if len(token) > 1 else 3
        return 3 if token[0].isupper() else 4
    if any(c.isdigit() for c in token):
        return 5 if all(c.isdigit() or c in ",.:-/" for c in token) else 6
    return 7 if not any(c.isalnum() for c in token) else 4


def count_words(tokens: Tokens, tokenizer: Tokenizer, counts: Counter) -> None:
    """Adds each normalised word's number of occurrences in `tokens` to `counts` (the vocabulary's input)."""
    words = tokens.map_types([tokenizer.normalize(t) for t in tokens.types])  # equal normalised words merged
    for word, n in zip(words.types, np.bincount(words.codes, minlength=len(words.types)).tolist()):
        counts[word] += n


class Featurizer:
    """Turns datasets into model inputs; owns the vocabulary, labels and hashing that a run saves."""

    def __init__(
        self,
        task: Task,
        model: ModelConfig,
        tokenizer: Tokenizer,
        vocab: Vocabulary,
        labels: list[str],
        lexicons: list[Lexicon] = (),
    ):
        self.task, self.model, self.tokenizer, self.vocab, self.labels = task, model, tokenizer, vocab, labels
        self.lexicons = list(lexicons)  # model.lexicon_features, read (a run folder keeps them)
        self.label_index = {label: i for i, label in enumerate(labels)}
        self._subword_cache: dict[str, np.ndarray] = {}
        self._char_cache: dict[str, list[int]] = {}
        self._word_cache: dict[str, tuple[int, int]] = {}

    @property
    def num_features(self) -> int:
        hashed = self.model.hashed_word_ngrams() > 1 or self.model.char_ngrams is not None
        return len(self.vocab) + (self.model.buckets if hashed else 0)

    def _word(self, word: str) -> tuple[int, int]:
        """(vocabulary id, crc32 for n-gram hashing) of a normalised word, cached across calls
        (predicting streams many chunks that share most of their words)."""
        found = self._word_cache.get(word)
        if found is None:
            found = self._word_cache[word] = (
                self.vocab.stoi.get(word, Vocabulary.unk_id),
                zlib.crc32(word.encode("utf-8")),
            )
        return found

    def _subwords(self, word: str) -> np.ndarray:
        ids = self._subword_cache.get(word)
        if ids is None:
            lo, hi = self.model.char_ngrams
            marked = f"<{word}>"
            grams = {marked[i : i + n] for n in range(lo, hi + 1) for i in range(len(marked) - n + 1)}
            offset = len(self.vocab)
            ids = np.array(
                sorted(offset + zlib.crc32(g.encode("utf-8")) % self.model.buckets for g in grams), dtype=np.int64
            )
            self._subword_cache[word] = ids
        return ids

    def _chars(self, words: list[str]) -> np.ndarray:
        """(U, L) character ids of each word (as written), 0 on padding."""
        L = self.model.char_max_length
        table = np.zeros((len(words), L), dtype=np.int64)
        for u, word in enumerate(words):
            ids = self._char_cache.get(word)
            if ids is None:
                ids = self._char_cache[word] = char_ids(word, L)
            table[u, : len(ids)] = ids
        return table

    def _ngrams(self, word_hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(N, n_max - 1): id of the n-gram of length 2..n_max starting at each word (0 where it runs
        past the end of its row). h(w1..wn) = (h(w1..wn-1) * PRIME + crc32(wn)) mod (2^31 - 1)."""
        N, K = len(word_hashes), self.model.hashed_word_ngrams() - 1
        row_end = np.repeat(offsets[1:], np.diff(offsets))  # (N,) end of each token's row
        out = np.zeros((N, K), dtype=np.int64)
        h = word_hashes.copy()
        start = np.arange(N)
        for n in range(2, K + 2):
            fits = start + n <= row_end
            nxt = word_hashes[np.minimum(start + n - 1, N - 1)]
            h = (h * _PRIME + nxt) % _MOD
            out[:, n - 2] = np.where(fits, len(self.vocab) + h % self.model.buckets, 0)
        return out

    def encode(self, dataset: Dataset) -> Encoded:
        tokens = dataset.tokens
        words = tokens.map_types([self.tokenizer.normalize(t) for t in tokens.types])  # normalised, equal ones merged
        looked_up = [self._word(w) for w in words.types]
        encoded = Encoded(
            tokens.offsets,
            np.array([i for i, _ in looked_up], dtype=np.int64)[words.codes],
            trained_words=self.vocab.trained,
        )
        if self.model.hashed_word_ngrams() > 1:
            hashes = np.array([h for _, h in looked_up], dtype=np.int64)
            encoded.ngrams = self._ngrams(hashes[words.codes], tokens.offsets)
        if self.model.char_ngrams is not None:
            grams = [self._subwords(w) for w in words.types]
            offsets = np.zeros(len(grams) + 1, dtype=np.int64)
            np.cumsum([len(g) for g in grams], out=offsets[1:])
            values = np.concatenate(grams) if grams else np.zeros(0, dtype=np.int64)
            encoded.word_types, encoded.subwords = words.codes, Ragged(values, offsets)
        if self.model.char_encoder != "none":
            encoded.char_types, encoded.chars = tokens.codes, self._chars(tokens.types)
        if self.lexicons:  # (from the words as written: capitals are one of the rules)
            encoded.lexicon = lexicon_features(tokens, self.lexicons)
        if self.task.per_token and self.model.shape:  # what unknown words still tell a tagger
            shapes = np.array([word_shape(t) for t in tokens.types], dtype=np.int64)
            encoded.shapes = shapes[tokens.codes]
        if dataset.labels is not None:
            encoded.labels = self.task.encode_labels(dataset, self.label_index)
            encoded.token_labels = self.task.per_token
        encoded.groups, encoded.arity = dataset.groups, dataset.arity
        if dataset.weights is not None:
            encoded.weights = dataset.weights.astype(np.float32)
        if dataset.targets is not None:
            classes = np.array(
                [self._target_class(dataset, i) for i in range(len(dataset.target_names))] + [IGNORE], dtype=np.int64
            )
            encoded.targets = classes[dataset.targets]  # NO_TARGET (-1) picks the last entry: IGNORE
        return encoded

    def _target_class(self, dataset: Dataset, name: int) -> int:
        """The class word target `name` supports; an unknown one names the first row that uses it."""
        first = np.flatnonzero(dataset.targets == name)
        row = int(np.searchsorted(dataset.tokens.offsets, first[0], side="right") - 1) if len(first) else 0
        return resolve_target(dataset.target_names[name], self.labels, dataset.where(row))

    def encode_all(self, examples: Dataset | list[Example], source: str = "input") -> Encoded:
        if not isinstance(examples, Dataset):
            examples = Dataset.from_examples(examples, source)
        return self.encode(examples)
