"""The numpy face of the compiled bag-of-words kernel: an `Encoded` as the kernel's arrays, the
loss as its tuple, and forward / one update / one epoch over numpy weights (views of a model's
parameters work: the updates write through them)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from textcls.encoded import Encoded
from textcls.engine import kernel

LOSS_KINDS = {"bce": kernel.BCE, "ce": kernel.CE, "mse": kernel.MSE, "huber": kernel.HUBER}


@dataclass
class Inputs:
    """The kernel's view of an `Encoded`: its flat arrays as contiguous int64, plus the labels as
    float32 (R, L) (L = 1: a class index or a value; multi-label: 0/1 per label) and the word
    targets (N,) (empty: none)."""

    data: tuple  # (offsets (R + 1,), ids (N,), ngrams (N, K), word_types (N,), sub_offsets, sub_values)
    labels: np.ndarray  # (R, L) float32
    targets: np.ndarray  # (N,) int64, IGNORE where a word has none; (0,) without targets

    @classmethod
    def of(cls, items: Encoded) -> "Inputs":
        as_int = lambda a: np.ascontiguousarray(a, dtype=np.int64)
        N = len(items.ids)
        ngrams = items.ngrams if items.ngrams is not None else np.zeros((N, 0))
        if items.subwords is not None:
            subwords = (as_int(items.word_types), as_int(items.subwords.offsets), as_int(items.subwords.values))
        else:
            subwords = (np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64))
        data = (as_int(items.offsets), as_int(items.ids), as_int(ngrams)) + subwords
        if items.labels is None:
            labels = np.full((len(items), 1), kernel.IGNORE, dtype=np.float32)
        else:
            labels = np.ascontiguousarray(items.labels, dtype=np.float32).reshape(len(items), -1)
        targets = as_int(items.targets) if items.targets is not None else np.zeros(0, np.int64)
        return cls(data, labels, targets)

    def __len__(self) -> int:
        return len(self.data[0]) - 1

    def longest(self) -> tuple[int, int]:
        """(most tokens in a row, at most how many table rows a row reads: each token its word, its
        character n-grams and the n-grams it starts). Bounds from the offsets alone: no array per token."""
        offsets, _, ngrams, _, sub_offsets, _ = self.data
        tokens = int(np.diff(offsets).max(initial=0))
        return tokens, tokens * (1 + ngrams.shape[1] + int(np.diff(sub_offsets).max(initial=0)))


@dataclass
class Loss:
    """What an update minimises: main loss (bce: one logit, or one per label when the labels are
    multi-label; ce; mse; huber) + rationale_weight * the rationale loss."""

    name: str = "ce"
    pos_weight: float | list[float] | None = None  # bce: on the positives (one, or one per label)
    class_weights: list[float] | None = None  # ce
    label_smoothing: float = 0.0  # ce
    beta: float = 1.0  # huber: where the loss turns from quadratic to linear
    rationale_weight: float = 0.0
    rationale_pos_weight: float | None = None  # rationale with one output: on the positive words

    def as_tuple(self, outputs: int, multilabel: bool) -> tuple:
        """The kernel's `loss` tuple, for `outputs` logits."""
        kind = kernel.MULTI_BCE if self.name == "bce" and multilabel else LOSS_KINDS[self.name]
        per_output = lambda value: np.broadcast_to(
            np.asarray(1.0 if value is None else value, dtype=np.float32), (outputs,)
        ).copy()
        return (
            kind,
            per_output(self.pos_weight),
            per_output(self.class_weights),
            float(self.label_smoothing),
            float(self.beta),
            float(self.rationale_weight),
            1.0 if self.rationale_pos_weight is None else float(self.rationale_pos_weight),
        )


def seeded(seed: int, streams: int = 1) -> np.ndarray:
    """Generator states (uint64 (streams,)) for dropout and word dropout, one per thread, from
    `seed` (splitmix64, never 0); the first is the same for every number of streams."""

    def mix(x: int) -> int:
        x = (x * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) % 2**64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) % 2**64
        return (x ^ (x >> 31)) or 1

    return np.array([mix(seed if i == 0 else mix(seed) + i) for i in range(streams)], dtype=np.uint64)


def _check(E: np.ndarray, W: np.ndarray, b: np.ndarray) -> None:
    for name, a in [("E", E), ("W", W), ("b", b)]:
        if a.dtype != np.float32 or not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError(f"{name} must be a writable, C-contiguous float32 array")
    if W.shape[1] != E.shape[1] or b.shape != (W.shape[0],):
        raise ValueError(f"shapes E {E.shape}, W {W.shape}, b {b.shape}: want (F, D), (C, D), (C,)")


def forward(
    inputs: Inputs, E: np.ndarray, W: np.ndarray, b: np.ndarray, rows=None, token_scores: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """(logits (R, C), token scores (N_rows, C) row after row, or None) of `rows` (default: all)."""
    _check(E, W, b)
    rows = np.arange(len(inputs), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    logits, tokens = kernel.forward(inputs.data, E, W, b, rows, token_scores)
    return logits, tokens if token_scores else None


OPTIMIZERS = {"sgd": kernel.SGD, "adagrad": kernel.ADAGRAD}
DECAYS = {"constant": kernel.CONSTANT, "linear": kernel.LINEAR, "cosine": kernel.COSINE}


@dataclass
class Optimizer:
    """How each example moves the weights: the optimiser, its learning rate over the run, weight decay."""

    lr: float  # per example (fastText's -lr)
    total: int  # examples in the run: the schedule's decay ends there
    warmup: int = 0  # examples of linear warm-up first
    weight_decay: float = 0.0  # each update shrinks W, b and the rows it reads by lr * weight_decay
    name: str = "sgd"  # or adagrad: a rate per table row and per element of W and b
    decay: str = "linear"  # after the warm-up: linear (to 0 at `total`), cosine or constant
    eps: float = 1e-8  # adagrad: added to the root of the accumulated squares

    def schedule(self) -> tuple:
        return float(self.lr), int(self.total), int(self.warmup), DECAYS[self.decay]

    def accumulators(self, F: int, C: int, D: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """AdaGrad's sums of squared gradients, zero: E's (F, 1), W's (C, D), b's (C, 1); none for SGD."""
        F, C = (F, C) if self.name == "adagrad" else (0, 0)
        return np.zeros((F, 1), np.float32), np.zeros((C, D), np.float32), np.zeros((C, 1), np.float32)


def _drop(dropout: float, word_dropout: float, rng: np.ndarray | None) -> tuple[tuple, np.ndarray]:
    if (dropout > 0 or word_dropout > 0) and rng is None:
        raise ValueError("dropout and word_dropout draw from rng: pass one (engine.seeded(seed))")
    return (float(dropout), float(word_dropout)), seeded(0) if rng is None else rng


def sgd_step(
    inputs: Inputs,
    E: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    row: int,
    lr: float,
    loss: Loss,
    dropout: float = 0.0,
    word_dropout: float = 0.0,
    rng: np.ndarray | None = None,
    weight_decay: float = 0.0,
) -> dict[str, float]:
    """One SGD update of E, W, b (in place) on `row` at learning rate `lr`; returns its loss parts."""
    update = Updater(inputs, E, W, b, loss, Optimizer(lr, 1, 0, weight_decay), dropout, word_dropout, rng)
    return update(np.array([row]), 0)  # (the run's first example: lr itself)


class Updater:
    """Per-example updates of E, W, b (in place) over chosen rows of `inputs`, with the checks, the
    kernel's loss tuple and its buffers made once: a training run calls it for every step.

    threads > 1 splits each call's rows into `threads` consecutive parts trained at once, each
    thread on its own copy of the weights (taken now: change E, W, b only through this object);
    at the end of the call the copies' changes are summed into E, W, b in a fixed order (`kernel.merge`),
    so the result depends on the seed, the data and the thread count, never on timing. With
    `hogwild`, the threads update the table E itself, without copies or locks, as fastText does
    (faster, not reproducible); W and b, which every update writes, stay per-thread copies summed
    at the end of each call. `accumulators`: AdaGrad's (`Optimizer.accumulators`; updated in place)."""

    def __init__(
        self,
        inputs: Inputs,
        E: np.ndarray,
        W: np.ndarray,
        b: np.ndarray,
        loss: Loss,
        optimizer: Optimizer,
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        rng: np.ndarray | None = None,
        threads: int = 1,
        hogwild: bool = False,
        accumulators: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ):
        _check(E, W, b)
        self.drop, self.rngs = _drop(dropout, word_dropout, rng)
        if len(self.rngs) != threads:
            raise ValueError(f"{threads} threads draw from {threads} generator states; rng holds {len(self.rngs)}")
        self.spec = loss.as_tuple(W.shape[0], _multilabel(inputs, W))
        _check_labels(inputs.labels, self.spec, W.shape[0])
        (F, D), C = E.shape, W.shape[0]
        self.accumulators = accumulators or optimizer.accumulators(F, C, D)
        self.inputs, self.weights, self.optimizer, self.threads = inputs, (E, W, b), optimizer, threads
        self.kind = (OPTIMIZERS[optimizer.name], float(optimizer.eps))
        longest = inputs.longest()
        self.work = [kernel.workspace(inputs.data, D, C, F, *longest) for _ in range(threads)]
        # the arrays merged row by row (E and its accumulator) and whole (W, b, theirs), b as (C, 1)
        GE, GW, Gb = self.accumulators
        self.tables = (E,) + ((GE,) if len(GE) else ())
        self.dense = (W, b.reshape(-1, 1)) + ((GW, Gb) if len(GW) else ())
        self.copies = self.dense_copies = None
        if threads > 1:  # (Hogwild's threads share the table, but W and b, which every update writes, are
            # copies summed each step: threads writing the same few cache lines would wait on each other)
            self.dense_copies = tuple(np.stack([a] * threads) for a in self.dense)
            if not hogwild:
                self.copies = (tuple(np.stack([a] * threads) for a in self.tables), self.dense_copies)
        F = F if self.copies is not None else 0
        # per thread, the rows its copy changed since the last merge: (stamps, rows, (interval, count))
        self.track = (
            np.full((threads, F), -1, np.int64),
            np.empty((threads, F), np.int64),
            np.zeros((threads, 2), np.int64),
        )
        self.merged = np.full(F, -1, np.int64)  # merge's scratch
        self.pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="textcls-kernel") if threads > 1 else None

    def _part(self, i: int, rows: np.ndarray, first_step: int) -> np.ndarray:
        """Thread i's updates: on the weights themselves, or on its copy."""
        if self.threads == 1:
            (E, W, b), state, track = self.weights, self.accumulators, kernel.no_tracking()
        elif self.copies is None:  # Hogwild: the shared table, this thread's W and b
            dense = [a[i] for a in self.dense_copies]
            E, W, b, track = self.weights[0], dense[0], dense[1].reshape(-1), kernel.no_tracking()
            state = (self.accumulators[0], dense[2], dense[3]) if len(dense) > 2 else self.accumulators
        else:
            tables, dense = ([a[i] for a in arrays] for arrays in self.copies)
            E, W, b = tables[0], dense[0], dense[1].reshape(-1)
            state = (tables[1], dense[2], dense[3]) if len(tables) > 1 else self.accumulators
            track = tuple(a[i] for a in self.track)
        d, opt = self.inputs, self.optimizer
        return kernel.train_rows(
            *(d.data, d.labels, d.targets, E, W, b, rows, opt.schedule(), int(first_step), float(opt.weight_decay)),
            *(self.spec, self.drop, self.rngs[i : i + 1], (*self.kind, *state), self.work[i], track),
        )

    def __call__(self, rows: np.ndarray, first_step: int) -> dict[str, float]:
        """One update per row of `rows`, the i-th as the run's example first_step + i. Returns the
        summed loss parts and the rows they are over."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if self.threads == 1:
            sums = self._part(0, rows, first_step)
        else:
            cuts = np.linspace(0, len(rows), self.threads + 1).astype(int)
            parts = [
                self.pool.submit(self._part, i, rows[cuts[i] : cuts[i + 1]], first_step + cuts[i])
                for i in range(1, self.threads)
            ]
            try:
                sums = self._part(0, rows[: cuts[1]], first_step)
            finally:  # (never leave a thread writing after an error here)
                wait(parts)
            sums = sums + sum(p.result() for p in parts)
            if self.copies is not None:
                self._merge()
            else:
                kernel.merge_dense(self.dense, self.dense_copies)
        return {"main": float(sums[0]), "rationale": float(sums[1]), "rows": len(rows), "rationale_rows": int(sums[2])}

    def _merge(self) -> None:
        """The copies' changes into the weights, the rows split among the threads."""
        arrays = (self.tables, self.dense, *self.copies, self.track[1], self.track[2], self.merged)
        merge = lambda part: kernel.merge(*arrays, part, self.threads)
        parts = [self.pool.submit(merge, part) for part in range(1, self.threads)]
        merge(0)
        for part in parts:
            part.result()
        states = self.track[2]
        states[:, 0] += 1  # the next interval
        states[:, 1] = 0

    def refresh(self) -> None:
        """The threads' copies take E, W, b and the accumulators again, after they were changed
        outside this object (the processes' averaging under torchrun)."""
        for copies, arrays in ((self.dense_copies, self.dense), (self.copies and self.copies[0], self.tables)):
            for copy, array in zip(copies or (), arrays):
                copy[:] = array

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def train_epoch(
    inputs: Inputs,
    E: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    order: np.ndarray,
    lr: float,
    loss: Loss,
    first_step: int = 0,
    total_steps: int | None = None,
    dropout: float = 0.0,
    word_dropout: float = 0.0,
    rng: np.ndarray | None = None,
) -> dict[str, float]:
    """One update per row of `order`; the i-th at lr * (1 - (first_step + i) / total_steps)
    (default total: this epoch's rows). Returns the summed loss parts and the rows they are over."""
    optimizer = Optimizer(lr, len(order) if total_steps is None else total_steps)
    return Updater(inputs, E, W, b, loss, optimizer, dropout, word_dropout, rng)(order, first_step)


def _check_labels(labels: np.ndarray, spec: tuple, outputs: int) -> None:
    """Class indices in range (the kernel reads class weights at them unchecked)."""
    if spec[0] in (kernel.CE, kernel.BCE):
        classes = labels[:, 0][labels[:, 0] != kernel.IGNORE]
        if len(classes) and (classes.min() < 0 or classes.max() >= max(outputs, 2) or (classes % 1).any()):
            raise ValueError(f"labels must be class indices below {max(outputs, 2)} (or IGNORE) for {outputs} outputs")


def _multilabel(inputs: Inputs, W: np.ndarray) -> bool:
    return inputs.labels.shape[1] > 1 and inputs.labels.shape[1] == W.shape[0]


def load_kernel() -> None:
    """Compiles the training kernel (or loads it from numba's cache) with one update of a tiny model:
    what a process does once before the first real update."""
    ints = lambda *shape: np.zeros(shape, np.int64)
    data = (np.array([0, 1]), ints(1), ints(1, 1), ints(0), ints(1), ints(0))  # one row of one word
    tiny = Inputs(data, np.zeros((1, 1), np.float32), ints(0))
    E, W, b = np.zeros((2, 2), np.float32), np.zeros((1, 2), np.float32), np.zeros(1, np.float32)
    train_epoch(tiny, E, W, b, np.zeros(1, np.int64), 0.1, Loss("bce"))
