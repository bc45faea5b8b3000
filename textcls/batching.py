"""Dataset -> flat model inputs, once; then batches cut from them by row, with no Python per row.

`Featurizer.encode` turns a Dataset into an `Encoded`: every per-token array (word ids, hashed
word n-grams, the word's character n-grams, shapes, word targets, tags) is one flat array over all
tokens of all rows, and `offsets` says where each row starts. Feature ids share one table: ids
below `len(vocab)` are words, the `buckets` ids above them are hashed word n-grams and character
n-grams (as fastText hashes them). Work per word (lower-casing, vocabulary look-up, hashing,
character n-grams) is done once per distinct word, not per occurrence.

`Encoded.batch(rows)` gathers those rows into a `Batch`: flat tensors plus the offsets of each row,
as `EmbeddingBag` wants them; models that need a (B, T) grid get it from `Batch.pad`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import torch

from textcls.config import ModelConfig
from textcls.data import Dataset, Example, resolve_target
from textcls.tokenize import Tokenizer, ragged_index
from textcls.vocab import Vocabulary

if TYPE_CHECKING:
    from textcls.tasks import Task

IGNORE = -100  # target value that losses skip (padding, unlabelled words)
_PRIME = 116_049_371
_MOD = 2**31 - 1
NUM_SHAPES = 8  # 0 is padding
CHAR_BUCKETS = 1024  # character ids: 1 + code point mod 1023 (distinct below 1023: Latin and Greek letters); 0 is padding


def char_ids(word: str, max_length: int) -> list[int]:
    """A word's character ids as written (case kept). A word longer than `max_length` keeps its
    first and last halves: prefixes and suffixes are what tell unknown words apart."""
    if len(word) > max_length:
        word = word[: max_length // 2] + word[len(word) - (max_length - max_length // 2):]
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
    char_types: np.ndarray | None = None  # (N,) each token's row in `chars`
    chars: np.ndarray | None = None  # (U, L) character ids of each distinct word as written, 0 on padding
    groups: np.ndarray | None = None  # (R,) each row's group (ranking within groups)
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
            subwords = [self.subwords.values[self.subwords.offsets[t] : self.subwords.offsets[t + 1]] for t in self.word_types[span]]
        return EncodedRow(self.ids[span], label, cut(self.targets), cut(self.ngrams), subwords, cut(self.shapes))

    def __iter__(self):
        return (self[r] for r in range(len(self)))

    @classmethod
    def from_rows(cls, rows: list[EncodedRow], token_labels: bool = False) -> "Encoded":
        """Flat arrays from per-row ones (rows without a label get IGNORE)."""
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r.ids) for r in rows], out=offsets[1:])
        flat = lambda arrays, fill: np.concatenate([np.full(len(r.ids), fill) if a is None else np.asarray(a) for r, a in zip(rows, arrays)])
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

    def batch(self, rows: np.ndarray | None = None) -> "Batch":
        """The given rows (default: all) as one batch, in that order."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        lengths = self.offsets[rows + 1] - self.offsets[rows]
        flat = ragged_index(self.offsets[rows], lengths)  # (N_b,) positions in the flat arrays
        starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        row_of = np.repeat(np.arange(len(rows)), lengths)
        position = np.arange(len(flat)) - starts[row_of]
        T = int(lengths.max(initial=0))

        def grid(values: np.ndarray, fill: int) -> torch.Tensor:  # (N_b,) -> (B, T)
            out = np.full((len(rows), T), fill, dtype=values.dtype)
            out[row_of, position] = values
            return torch.from_numpy(out)

        batch = Batch(torch.from_numpy(self.ids[flat]), torch.from_numpy(starts[:-1]), torch.from_numpy(lengths),
                      torch.from_numpy(row_of), torch.from_numpy(position), index=flat, arity=self.arity)
        if self.labels is not None:
            if self.token_labels:
                batch.labels = grid(self.labels[flat], IGNORE)
            else:
                batch.labels = torch.from_numpy(self.labels[rows])
        if self.targets is not None:
            batch.targets = grid(self.targets[flat], IGNORE)
        if self.groups is not None:
            batch.groups = torch.from_numpy(self.groups[rows])
        if self.ngrams is not None:
            grams = self.ngrams[flat]
            present = grams != 0
            batch.ngrams = torch.from_numpy(grams)
            # The same n-grams as bags, one per row, without the zeros (row after row, as `flat` is).
            counts = np.bincount(row_of, weights=present.sum(1), minlength=len(rows)).astype(np.int64)
            gram_starts = np.zeros(len(rows), dtype=np.int64)
            np.cumsum(counts[:-1], out=gram_starts[1:])
            batch.ngram_bags, batch.ngram_offsets = torch.from_numpy(grams[present]), torch.from_numpy(gram_starts)
            batch.ngram_counts = torch.from_numpy(counts)
        if self.shapes is not None:
            batch.shapes = torch.from_numpy(self.shapes[flat])
        if self.subwords is not None:
            grams = self.subwords.gather(self.word_types[flat])
            batch.subwords, batch.subword_offsets = torch.from_numpy(grams.values), torch.from_numpy(grams.offsets[:-1])
        if self.chars is not None:  # each distinct word of the batch once; tokens point at theirs
            words, index = np.unique(self.char_types[flat], return_inverse=True)
            chars = self.chars[words]
            lengths = (chars != 0).sum(1)
            batch.chars = torch.from_numpy(chars[:, : max(int(lengths.max(initial=1)), 1)])
            batch.char_lengths, batch.char_index = torch.from_numpy(lengths), torch.from_numpy(index.reshape(-1))
        return batch


@dataclass
class Batch:
    """B rows, N tokens in all. Per-token tensors are flat, row after row; `pad` makes a (B, T) grid."""

    ids: torch.Tensor  # (N,) word ids
    offsets: torch.Tensor  # (B,) where each row starts in `ids`
    lengths: torch.Tensor  # (B,) tokens per row, on the CPU (pack_padded_sequence wants it there)
    row_of: torch.Tensor  # (N,) the row of each token
    position: torch.Tensor  # (N,) its position in that row
    labels: torch.Tensor | None = None  # (B,) classes or values; (B, T) tags with IGNORE on padding
    targets: torch.Tensor | None = None  # (B, T) word targets, IGNORE where none
    ngrams: torch.Tensor | None = None  # (N, K) hashed n-grams starting at each token, 0 = none
    ngram_bags: torch.Tensor | None = None  # (G,) the n-grams present, row after row
    ngram_offsets: torch.Tensor | None = None  # (B,) where each row's n-grams start in `ngram_bags`
    ngram_counts: torch.Tensor | None = None  # (B,) how many there are
    subwords: torch.Tensor | None = None  # (S,) character n-gram ids of all N tokens
    subword_offsets: torch.Tensor | None = None  # (N,) where each token's n-grams start in `subwords`
    shapes: torch.Tensor | None = None  # (N,)
    chars: torch.Tensor | None = None  # (U, L) character ids of the batch's distinct words, 0 on padding
    char_lengths: torch.Tensor | None = None  # (U,) their lengths, on the CPU (for packing)
    char_index: torch.Tensor | None = None  # (N,) each token's row in `chars`
    groups: torch.Tensor | None = None  # (B,) each row's group
    index: np.ndarray | None = None  # (N,) where these tokens sit in the Encoded they came from
    arity: int = 1  # texts per example: rows k*e .. k*e + k - 1 (of the rows batched in that order) are one example

    def to(self, device: torch.device) -> "Batch":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in moved.items():
            if isinstance(value, torch.Tensor) and name not in ("lengths", "char_lengths"):
                moved[name] = value.to(device, non_blocking=True)
        return Batch(**moved)

    @property
    def size(self) -> int:
        return len(self.lengths)

    @property
    def num_tokens(self) -> int:
        return len(self.ids)

    @property
    def max_length(self) -> int:
        return int(self.lengths.max()) if len(self.lengths) else 0

    def pad(self, flat: torch.Tensor, fill: float = 0) -> torch.Tensor:
        """(N, ...) per-token values -> (B, T, ...), `fill` on padding."""
        out = flat.new_full((self.size, self.max_length, *flat.shape[1:]), fill)
        out[self.row_of, self.position] = flat
        return out

    def unpad(self, grid: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...): the real tokens only."""
        return grid[self.row_of, self.position]

    @property
    def tokens(self) -> torch.Tensor:
        """(B, T) word ids, 0 on padding."""
        return self.pad(self.ids)

    @property
    def mask(self) -> torch.Tensor:
        """(B, T) True on real tokens."""
        return torch.arange(self.max_length, device=self.ids.device)[None, :] < self.lengths.to(self.ids.device)[:, None]


class Featurizer:
    """Turns datasets into model inputs; owns the vocabulary, labels and hashing that a run saves."""

    def __init__(self, task: Task | str, model: ModelConfig, tokenizer: Tokenizer, vocab: Vocabulary, labels: list[str]):
        from textcls.tasks import get_task  # here, not above: the task modules import this one

        self.task, self.model, self.tokenizer, self.vocab, self.labels = get_task(task), model, tokenizer, vocab, labels
        self.label_index = {label: i for i, label in enumerate(labels)}
        self._subword_cache: dict[str, np.ndarray] = {}
        self._char_cache: dict[str, list[int]] = {}
        self._word_cache: dict[str, tuple[int, int]] = {}

    @property
    def num_features(self) -> int:
        hashed = self.model.word_ngrams > 1 or self.model.char_ngrams is not None
        return len(self.vocab) + (self.model.buckets if hashed else 0)

    def _word(self, word: str) -> tuple[int, int]:
        """(vocabulary id, crc32 for n-gram hashing) of a normalised word, cached across calls
        (predicting streams many chunks that share most of their words)."""
        found = self._word_cache.get(word)
        if found is None:
            found = self._word_cache[word] = (self.vocab.stoi.get(word, Vocabulary.unk_id), zlib.crc32(word.encode("utf-8")))
        return found

    def _subwords(self, word: str) -> np.ndarray:
        ids = self._subword_cache.get(word)
        if ids is None:
            lo, hi = self.model.char_ngrams
            marked = f"<{word}>"
            grams = {marked[i : i + n] for n in range(lo, hi + 1) for i in range(len(marked) - n + 1)}
            offset = len(self.vocab)
            ids = np.array(sorted(offset + zlib.crc32(g.encode("utf-8")) % self.model.buckets for g in grams), dtype=np.int64)
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
        N, K = len(word_hashes), self.model.word_ngrams - 1
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
        encoded = Encoded(tokens.offsets, np.array([i for i, _ in looked_up], dtype=np.int64)[words.codes],
                          trained_words=self.vocab.trained)
        if self.model.word_ngrams > 1:
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
        if self.task.per_token and self.model.shape:  # what unknown words still tell a tagger
            shapes = np.array([word_shape(t) for t in tokens.types], dtype=np.int64)
            encoded.shapes = shapes[tokens.codes]
        if dataset.labels is not None:
            encoded.labels = self.task.encode_labels(dataset, self.label_index)
            encoded.token_labels = self.task.per_token
        encoded.groups, encoded.arity = dataset.groups, dataset.arity
        if dataset.targets is not None:
            classes = np.array([self._target_class(dataset, i) for i in range(len(dataset.target_names))] + [IGNORE], dtype=np.int64)
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


def batch_order(lengths: np.ndarray, batch_size: int, generator: torch.Generator | None, bucket: bool,
                arity: int = 1) -> list[np.ndarray]:
    """Row indices of each batch for one epoch. Shuffled when a generator is given; with `bucket`,
    rows of similar length share a batch (little padding, so little wasted work) while the batch
    order stays random. With `arity` k > 1, `batch_size` examples of k consecutive rows each are
    batched whole, their rows in order."""
    if arity > 1:
        examples = batch_order(lengths.reshape(-1, arity).sum(1), batch_size, generator, bucket)
        return [(b[:, None] * arity + np.arange(arity)).ravel() for b in examples]
    n = len(lengths)
    order = torch.randperm(n, generator=generator).numpy() if generator is not None else np.arange(n)
    if bucket:
        chunk = np.arange(n) // (batch_size * 50)
        order = order[np.lexsort((lengths[order], chunk))]  # stable: by length within each chunk
    batches = [order[s : s + batch_size] for s in range(0, n, batch_size)]
    if bucket and generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches
