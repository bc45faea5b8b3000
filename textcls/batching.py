"""Examples -> tensors, once; then batches padded to their longest sequence.

Feature ids share one table: ids below `len(vocab)` are words, the `buckets` ids above them are
hashed word n-grams and character n-grams (as fastText hashes them).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, fields

import numpy as np
import torch

from textcls.config import ModelConfig
from textcls.data import Example, Tokenizer, resolve_target
from textcls.errors import DataError
from textcls.vocab import Vocabulary

IGNORE = -100  # target value that losses skip (padding, unlabelled words)
_PRIME = 116_049_371
_MOD = 2**31 - 1
NUM_SHAPES = 8  # 0 is padding


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
class Encoded:
    ids: np.ndarray  # (T,) word ids
    label: int | float | np.ndarray | None  # class index, value, or (T,) tag ids
    targets: np.ndarray | None = None  # (T,) class a word supports, IGNORE if none
    ngrams: np.ndarray | None = None  # (T, word_ngrams-1) hashed n-grams starting at each word, 0 = none
    subwords: list[np.ndarray] | None = None  # per word, its hashed character n-grams
    shapes: np.ndarray | None = None  # (T,) word_shape ids


class Featurizer:
    """Turns examples into arrays; owns the vocabulary, labels and hashing that a run saves."""

    def __init__(self, task: str, model: ModelConfig, tokenizer: Tokenizer, vocab: Vocabulary, labels: list[str]):
        self.task, self.model, self.tokenizer, self.vocab, self.labels = task, model, tokenizer, vocab, labels
        self.label_index = {label: i for i, label in enumerate(labels)}
        self._subword_cache: dict[str, np.ndarray] = {}
        self._hash_cache: dict[str, int] = {}

    @property
    def num_features(self) -> int:
        hashed = self.model.word_ngrams > 1 or self.model.char_ngrams is not None
        return len(self.vocab) + (self.model.buckets if hashed else 0)

    def _word_hash(self, word: str) -> int:
        h = self._hash_cache.get(word)
        if h is None:
            h = self._hash_cache[word] = zlib.crc32(word.encode("utf-8"))
        return h

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

    def _ngrams(self, words: list[str]) -> np.ndarray:
        """(T, n_max-1): id of the n-gram of length 2..n_max starting at each word (0 where it runs off the end)."""
        hashes = [self._word_hash(w) for w in words]
        out = np.zeros((len(words), self.model.word_ngrams - 1), dtype=np.int64)
        for start in range(len(words)):
            h = hashes[start]
            for n in range(2, self.model.word_ngrams + 1):
                if start + n > len(words):
                    break
                h = (h * _PRIME + hashes[start + n - 1]) % _MOD
                out[start, n - 2] = len(self.vocab) + h % self.model.buckets
        return out

    def encode(self, example: Example, where: str = "") -> Encoded:
        words = [self.tokenizer.normalize(t) for t in example.tokens]
        encoded = Encoded(np.array(self.vocab.encode(words), dtype=np.int64), self._encode_label(example.label, where))
        if self.model.word_ngrams > 1:
            encoded.ngrams = self._ngrams(words)
        if self.model.char_ngrams is not None:
            encoded.subwords = [self._subwords(w) for w in words]
        if self.task == "tagging" and self.model.shape:
            encoded.shapes = np.array([word_shape(t) for t in example.tokens], dtype=np.int64)
        if example.word_targets:
            targets = np.full(len(words), IGNORE, dtype=np.int64)
            for i, target in example.word_targets.items():
                targets[i] = resolve_target(target, self.labels, where)
            encoded.targets = targets
        return encoded

    def _encode_label(self, label, where: str):
        if label is None or self.task == "regression":
            return label
        names = [label] if self.task == "classification" else label
        unknown = [n for n in names if n not in self.label_index]
        if unknown:
            kind = "label" if self.task == "classification" else "tag"
            raise DataError(f"{where}: {kind} '{unknown[0]}' was never seen in training (known: {', '.join(self.labels)})")
        ids = [self.label_index[n] for n in names]
        return ids[0] if self.task == "classification" else np.array(ids, dtype=np.int64)

    def encode_all(self, examples: list[Example], source: str = "") -> list[Encoded]:
        return [self.encode(e, f"{source}, row {e.row}") for e in examples]


@dataclass
class Batch:
    tokens: torch.Tensor  # (B, T) word ids, 0 = padding
    mask: torch.Tensor  # (B, T) True on real tokens
    lengths: torch.Tensor  # (B,) on CPU (pack_padded_sequence wants it there)
    labels: torch.Tensor | None = None  # (B,) classes or values; (B, T) tags with IGNORE on padding
    targets: torch.Tensor | None = None  # (B, T) word targets, IGNORE where none
    ngrams: torch.Tensor | None = None  # (B, T, K)
    subwords: torch.Tensor | None = None  # (N,) flat character n-gram ids of all B*T positions
    subword_offsets: torch.Tensor | None = None  # (B*T,) where each position's n-grams start in `subwords`
    shapes: torch.Tensor | None = None  # (B, T)

    def to(self, device: torch.device) -> "Batch":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in moved.items():
            if isinstance(value, torch.Tensor) and name != "lengths":
                moved[name] = value.to(device, non_blocking=True)
        return Batch(**moved)

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum())


def _pad(arrays: list[np.ndarray | None], T: int, fill: int = 0) -> torch.Tensor:
    """(B, T, ...) from per-item arrays of length <= T, `fill` elsewhere (and for None items)."""
    first = next(a for a in arrays if a is not None)
    out = np.full((len(arrays), T, *first.shape[1:]), fill, dtype=first.dtype)
    for b, a in enumerate(arrays):
        if a is not None:
            out[b, : len(a)] = a
    return torch.from_numpy(out)


def collate(items: list[Encoded], task: str) -> Batch:
    lengths = torch.tensor([len(x.ids) for x in items])
    T = int(lengths.max())
    batch = Batch(_pad([x.ids for x in items], T), torch.arange(T)[None, :] < lengths[:, None], lengths)
    if any(x.label is not None for x in items):
        if task == "tagging":
            batch.labels = _pad([x.label for x in items], T, IGNORE)
        elif task == "regression":
            batch.labels = torch.tensor([x.label for x in items], dtype=torch.float32)
        else:  # rows without a sentence label (lexicon words trained alone) carry IGNORE
            batch.labels = torch.tensor([IGNORE if x.label is None else x.label for x in items], dtype=torch.long)
    if any(x.targets is not None for x in items):
        batch.targets = _pad([x.targets for x in items], T, IGNORE)
    if items[0].ngrams is not None:
        batch.ngrams = _pad([x.ngrams for x in items], T)
    if items[0].shapes is not None:
        batch.shapes = _pad([x.shapes for x in items], T)
    if items[0].subwords is not None:
        per_position = [sw for x in items for sw in x.subwords + [_EMPTY] * (T - len(x.ids))]
        counts = np.fromiter((len(sw) for sw in per_position), dtype=np.int64, count=len(per_position))
        batch.subword_offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)[:-1]]))
        batch.subwords = torch.from_numpy(np.concatenate(per_position))
    return batch


_EMPTY = np.zeros(0, dtype=np.int64)


def batch_indices(lengths: list[int], batch_size: int, generator: torch.Generator | None, bucket: bool) -> list[list[int]]:
    """Index lists for one epoch. Shuffled when a generator is given; with `bucket`, examples of
    similar length share a batch (little padding, so little wasted work) while the batch order
    stays random."""
    n = len(lengths)
    order = torch.randperm(n, generator=generator).tolist() if generator is not None else list(range(n))
    if bucket:
        chunk = batch_size * 50
        order = [i for s in range(0, n, chunk) for i in sorted(order[s : s + chunk], key=lengths.__getitem__)]
    batches = [order[s : s + batch_size] for s in range(0, n, batch_size)]
    if bucket and generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches
