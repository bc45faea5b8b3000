"""Batches of tensors cut from an `Encoded` by row, with no Python per row: flat tensors plus the
offsets of each row, as `EmbeddingBag` wants them; models that need a (B, T) grid get it from
`Batch.pad`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from textcls.encoded import IGNORE, Encoded
from textcls.tokenize import ragged_index


class TorchShuffler:
    """A sampling.Shuffler drawing from a torch.Generator (whose state a checkpoint saves)."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def permutation(self, n: int) -> np.ndarray:
        return torch.randperm(n, generator=self.generator).numpy()

    def integers(self, high: int, size: int) -> np.ndarray:
        return torch.randint(high, (size,), generator=self.generator).numpy()


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
    lexicon: torch.Tensor | None = None  # (N, K) lexicon valences
    chars: torch.Tensor | None = None  # (U, L) character ids of the batch's distinct words, 0 on padding
    char_lengths: torch.Tensor | None = None  # (U,) their lengths, on the CPU (for packing)
    char_index: torch.Tensor | None = None  # (N,) each token's row in `chars`
    groups: torch.Tensor | None = None  # (B,) each row's group
    weights: torch.Tensor | None = None  # (B,) how much each row's loss counts
    index: np.ndarray | None = None  # (N,) where these tokens sit in the Encoded they came from
    arity: int = 1  # texts per example: rows k*e .. k*e + k - 1 (of the rows batched in that order) are one example

    @classmethod
    def of(cls, items: Encoded, rows: np.ndarray | None = None) -> "Batch":
        """The given rows of `items` (default: all) as one batch, in that order."""
        rows = np.arange(len(items)) if rows is None else np.asarray(rows, dtype=np.int64)
        lengths = items.offsets[rows + 1] - items.offsets[rows]
        flat = ragged_index(items.offsets[rows], lengths)  # (N_b,) positions in the flat arrays
        starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        row_of = np.repeat(np.arange(len(rows)), lengths)
        position = np.arange(len(flat)) - starts[row_of]
        T = int(lengths.max(initial=0))

        def grid(values: np.ndarray, fill: int) -> torch.Tensor:  # (N_b,) -> (B, T)
            out = np.full((len(rows), T), fill, dtype=values.dtype)
            out[row_of, position] = values
            return torch.from_numpy(out)

        batch = cls(
            torch.from_numpy(items.ids[flat]),
            torch.from_numpy(starts[:-1]),
            torch.from_numpy(lengths),
            torch.from_numpy(row_of),
            torch.from_numpy(position),
            index=flat,
            arity=items.arity,
        )
        if items.labels is not None:
            if items.token_labels:
                batch.labels = grid(items.labels[flat], IGNORE)
            else:
                batch.labels = torch.from_numpy(items.labels[rows])
        if items.targets is not None:
            batch.targets = grid(items.targets[flat], IGNORE)
        if items.groups is not None:
            batch.groups = torch.from_numpy(items.groups[rows])
        if items.weights is not None:
            batch.weights = torch.from_numpy(items.weights[rows])
        if items.ngrams is not None:
            grams = items.ngrams[flat]
            present = grams != 0
            batch.ngrams = torch.from_numpy(grams)
            # The same n-grams as bags, one per row, without the zeros (row after row, as `flat` is).
            counts = np.bincount(row_of, weights=present.sum(1), minlength=len(rows)).astype(np.int64)
            gram_starts = np.zeros(len(rows), dtype=np.int64)
            np.cumsum(counts[:-1], out=gram_starts[1:])
            batch.ngram_bags, batch.ngram_offsets = torch.from_numpy(grams[present]), torch.from_numpy(gram_starts)
            batch.ngram_counts = torch.from_numpy(counts)
        if items.shapes is not None:
            batch.shapes = torch.from_numpy(items.shapes[flat])
        if items.lexicon is not None:
            batch.lexicon = torch.from_numpy(items.lexicon[flat])
        if items.subwords is not None:
            grams = items.subwords.gather(items.word_types[flat])
            batch.subwords, batch.subword_offsets = torch.from_numpy(grams.values), torch.from_numpy(grams.offsets[:-1])
        if items.chars is not None:  # each distinct word of the batch once; tokens point at theirs
            words, index = np.unique(items.char_types[flat], return_inverse=True)
            chars = items.chars[words]
            lengths = (chars != 0).sum(1)
            batch.chars = torch.from_numpy(chars[:, : max(int(lengths.max(initial=1)), 1)])
            batch.char_lengths, batch.char_index = torch.from_numpy(lengths), torch.from_numpy(index.reshape(-1))
        return batch

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
        return (
            torch.arange(self.max_length, device=self.ids.device)[None, :] < self.lengths.to(self.ids.device)[:, None]
        )
