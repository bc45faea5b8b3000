"""The rows of each batch of an epoch, as index arrays: numpy only. Random draws come from a
`Shuffler`, so that whoever trains chooses the generator (the PyTorch trainer draws from a
torch.Generator whose state a checkpoint saves; see batching.TorchShuffler).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Shuffler(Protocol):
    def permutation(self, n: int) -> np.ndarray:
        """(n,) int64: 0 .. n - 1 in random order."""

    def integers(self, high: int, size: int) -> np.ndarray:
        """(size,) int64: uniform in [0, high), with replacement."""


def batch_order(
    lengths: np.ndarray, batch_size: int, shuffler: Shuffler | None, bucket: bool, arity: int = 1
) -> list[np.ndarray]:
    """Row indices of each batch for one epoch. Shuffled when a shuffler is given; with `bucket`,
    rows of similar length share a batch (little padding, so little wasted work) while the batch
    order stays random. With `arity` k > 1, `batch_size` examples of k consecutive rows each are
    batched whole, their rows in order."""
    if arity > 1:
        examples = batch_order(lengths.reshape(-1, arity).sum(1), batch_size, shuffler, bucket)
        return [(b[:, None] * arity + np.arange(arity)).ravel() for b in examples]
    n = len(lengths)
    order = shuffler.permutation(n) if shuffler is not None else np.arange(n)
    if bucket:
        chunk = np.arange(n) // (batch_size * 50)
        order = order[np.lexsort((lengths[order], chunk))]  # stable: by length within each chunk
    batches = [order[s : s + batch_size] for s in range(0, n, batch_size)]
    if bucket and shuffler is not None:
        batches = [batches[i] for i in shuffler.permutation(len(batches)).tolist()]
    return batches
