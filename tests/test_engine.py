"""The compiled bag-of-words kernel (textcls/engine) against PyTorch: the forward pass against
BagOfWords, one update against autograd + torch.optim.SGD on a batch of one for every loss (with
and without rationale targets, word n-grams and character n-grams), the epoch loop against a
per-example torch loop with trainer.lr_factor's decay, and dropout / word dropout against torch
fed the same draws (the generator re-written here from its definition)."""

from __future__ import annotations

import copy
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from textcls.batching import Batch
from textcls.config import OptimConfig, model_config
from textcls.data import Example
from textcls.encoded import IGNORE
from textcls.engine import bow as engine
from textcls.features import Featurizer
from textcls.losses import LOSSES
from textcls.losses.classification import auto_pos_weight
from textcls.losses.rationale import rationale_loss
from textcls.models import build_model
from textcls.tasks import TASKS
from textcls.tokenize import Tokenizer
from textcls.trainer import lr_factor
from textcls.vocab import Vocabulary

VOCAB = ["the", "film", "was", "good", "bad", "plot", "and", "acting", "really", "a", "it"]
WORDS = VOCAB + ["zzyzx", "unseen", "qwerty"]  # the last three are unknown
FEATURES = {  # word n-grams, character n-grams
    "bigrams": (2, None),
    "trigrams": (3, None),
    "bigrams+chars": (2, (2, 3)),
    "trigrams+chars": (3, (2, 4)),
    "words+chars": (1, (3, 3)),
}
TOL = dict(atol=1e-5, rtol=1e-5)


def setup(features: str, outputs: int, seed: int = 0, rows: int = 7):
    """(encoded rows, a dense BagOfWords with weights large enough for differences to show)."""
    ngrams, chars = FEATURES[features]
    cfg = model_config(
        type="bow", embedding_dim=6, buckets=53, dropout=0.0, sparse=False, word_ngrams=ngrams, char_ngrams=chars
    )
    fz = Featurizer(TASKS["classification"], cfg, Tokenizer(), Vocabulary(VOCAB), [str(c) for c in range(outputs)])
    rng = random.Random(seed)
    sentences = [rng.choices(WORDS, k=rng.randint(1, 9)) for _ in range(rows)]
    sentences[0] = ["the", "film", "was", "really", "good", "unseen"]  # every n-gram length, an unknown word
    encoded = fz.encode_all([Example(s, None) for s in sentences])
    torch.manual_seed(seed)
    model = build_model(cfg, TASKS["classification"], fz.num_features, outputs)
    with torch.no_grad():
        model.embedding.weight.normal_(0, 0.5)
        model.embedding.weight[0].zero_()
        model.token_head.weight.normal_(0, 0.5)
        model.bias.normal_(0, 0.5)
    return encoded, model


def weights(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of (E, W, b) as numpy."""
    return tuple(p.detach().numpy().copy() for p in (model.embedding.weight, model.token_head.weight, model.bias))


def test_compiles_and_reports_how_long_it_took(capsys):
    """Runs every kernel entry once: compiles them, or loads them from numba's cache (the time is
    reported, not checked)."""
    encoded, model = setup("trigrams+chars", 3)
    inputs = engine.Inputs.of(labelled(encoded, "ce", seed=0))
    E, W, b = weights(model)
    start = time.perf_counter()
    engine.forward(inputs, E, W, b, token_scores=True)
    engine.sgd_step(inputs, E, W, b, 0, 0.1, engine.Loss("ce"))
    engine.train_epoch(
        inputs, E, W, b, np.arange(len(inputs)), 0.1, engine.Loss("ce"), dropout=0.1, rng=engine.seeded(0)
    )
    with capsys.disabled():
        print(f"\nengine kernels compiled or loaded from numba's cache in {time.perf_counter() - start:.1f} s")


# --- forward ------------------------------------------------------------------------------------


@pytest.mark.parametrize("features", list(FEATURES))
@pytest.mark.parametrize("outputs", [1, 3])
def test_forward_equals_the_model(features, outputs):
    encoded, model = setup(features, outputs, seed=outputs)
    model.eval()
    E, W, b = (p.detach().numpy() for p in (model.embedding.weight, model.token_head.weight, model.bias))
    rows = np.array([3, 0, 5, 5, 1])  # any order, repeats allowed
    logits, tokens = engine.forward(engine.Inputs.of(encoded), E, W, b, rows, token_scores=True)
    with torch.no_grad():
        out = model(Batch.of(encoded, rows))
        expected = out.sentence.numpy(), out.flat_tokens.numpy()
    np.testing.assert_allclose(logits, expected[0], **TOL)
    np.testing.assert_allclose(tokens, expected[1], **TOL)
    alone, none = engine.forward(engine.Inputs.of(encoded), E, W, b)
    assert none is None and alone.shape == (len(encoded), outputs)
    np.testing.assert_allclose(alone[rows], logits, **TOL)


# --- one update = autograd + torch.optim.SGD on a batch of one ----------------------------------

# name: (outputs, kernel loss, torch main loss on (logits, labels), labels for R rows)
LOSS_CASES = {
    "bce": (1, engine.Loss("bce", pos_weight=2.5), LOSSES["bce"](pos_weight=2.5).build(Counter(), 1)),
    "ce": (3, engine.Loss("ce"), LOSSES["ce"]().build(Counter(), 3)),
    "ce weighted smoothed": (
        3,
        engine.Loss("ce", class_weights=[0.5, 2.0, 1.3], label_smoothing=0.1),
        LOSSES["ce"](class_weights=[0.5, 2.0, 1.3], label_smoothing=0.1).build(Counter(), 3),
    ),
    "multilabel bce": (3, None, None),  # pos_weight per label: built in `loss_case`
    "mse": (1, engine.Loss("mse"), LOSSES["mse"]().build(Counter(), 1)),
    "huber": (1, engine.Loss("huber", beta=0.5), LOSSES["huber"](beta=0.5).build(Counter(), 1)),
}


def labelled(encoded, case: str, seed: int):
    """`encoded` with labels for `case` (one row without a label for the classification losses)."""
    rng = np.random.default_rng(seed)
    R, outputs = len(encoded), LOSS_CASES[case][0]
    if case == "multilabel bce":
        encoded.labels = (rng.random((R, outputs)) < 0.4).astype(np.float32)
    elif case in ("mse", "huber"):
        encoded.labels = rng.normal(0, 1.5, R).astype(np.float32)  # huber: both of its pieces
    else:
        encoded.labels = rng.integers(0, max(outputs, 2), R)
        encoded.labels[-1] = IGNORE
    return encoded


def loss_case(case: str, encoded):
    """(kernel Loss, torch main loss) for `case`; multi-label: pos_weight from counts ("auto")."""
    outputs, loss, main = LOSS_CASES[case]
    if case == "multilabel bce":
        counts = Counter()
        for label in range(outputs):
            positives = int(encoded.labels[:, label].sum())
            counts[(label, 1)], counts[(label, 0)] = positives + 1, len(encoded) - positives + 2
        pos_weight = [auto_pos_weight(counts[(c, 1)], counts[(c, 0)]) for c in range(outputs)]
        loss, main = engine.Loss("bce", pos_weight=pos_weight), LOSSES["bce"](pos_weight="auto").build(counts, outputs)
    return copy.copy(loss), main


def with_targets(encoded, classes: int, seed: int):
    """Word targets: a class, or IGNORE (row 1 has none labelled)."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, max(classes, 2), len(encoded.ids))
    targets[rng.random(len(targets)) < 0.35] = IGNORE
    targets[encoded.offsets[1] : encoded.offsets[2]] = IGNORE
    encoded.targets = targets
    return encoded


def torch_step(model, encoded, row: int, lr: float, main, r_weight=0.0, r_pos_weight=None, normalize="sentence"):
    """One step of torch.optim.SGD on the batch of `row` alone; returns (main loss, rationale loss)."""
    batch = Batch.of(encoded, np.array([row]))
    model.train()
    out = model(batch)
    labels = batch.labels
    keep = labels != IGNORE if labels.dim() == 1 and not labels.is_floating_point() else None
    if keep is not None and not keep.any():
        main_loss = out.sentence.sum() * 0.0
    else:
        main_loss = main(out.sentence if keep is None else out.sentence[keep], labels if keep is None else labels[keep])
    total, r = main_loss, torch.zeros(())
    if r_weight > 0 and batch.targets is not None:
        r = rationale_loss(out.tokens, batch.targets, r_pos_weight, normalize)
        total = total + r_weight * r
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return float(main_loss.detach()), float(r.detach())


def assert_same_weights(model, E, W, b, before=None, moves=True):
    torch_E, torch_W, torch_b = weights(model)
    np.testing.assert_allclose(E, torch_E, **TOL, err_msg="embedding table")
    np.testing.assert_allclose(W, torch_W, **TOL, err_msg="head")
    np.testing.assert_allclose(b, torch_b, **TOL, err_msg="bias")
    if before is not None:  # the same rows moved (and some did, unless nothing is labelled)
        moved = np.flatnonzero(np.abs(E - before).max(1) > 1e-7)
        assert (len(moved) > 0) == moves
        assert moved.tolist() == np.flatnonzero(np.abs(torch_E - before).max(1) > 1e-7).tolist()


@pytest.mark.parametrize("case", list(LOSS_CASES))
@pytest.mark.parametrize("features", ["bigrams", "trigrams+chars"])
@pytest.mark.parametrize("rationale", [False, True])
def test_one_update_equals_torch_sgd(case, features, rationale):
    outputs = LOSS_CASES[case][0]
    encoded, base = setup(features, outputs, seed=len(case))
    encoded = labelled(encoded, case, seed=3)
    loss, main = loss_case(case, encoded)
    if rationale:
        encoded = with_targets(encoded, outputs, seed=4)
        loss.rationale_weight, loss.rationale_pos_weight = 0.7, 1.8
    inputs = engine.Inputs.of(encoded)
    for row in range(len(encoded)):  # unlabelled rows included (the last; row 1 has no word target)
        for normalize in ["sentence", "token"] if rationale else ["sentence"]:
            model = copy.deepcopy(base)
            before = weights(base)
            E, W, b = (a.copy() for a in before)
            parts = engine.sgd_step(inputs, E, W, b, row, 0.4, loss)
            expected = torch_step(model, encoded, row, 0.4, main, loss.rationale_weight, 1.8, normalize)
            unlabelled = encoded.labels.ndim == 1 and encoded.labels[row] == IGNORE
            assert_same_weights(model, E, W, b, before[0], moves=not unlabelled or parts["rationale_rows"] > 0)
            np.testing.assert_allclose([parts["main"], parts["rationale"]], expected, **TOL)


def test_one_update_writes_through_views_of_the_model_parameters():
    encoded, model = setup("bigrams+chars", 3)
    encoded = labelled(encoded, "ce", seed=0)
    reference = copy.deepcopy(model)
    E, W, b = (p.detach().numpy() for p in (model.embedding.weight, model.token_head.weight, model.bias))
    engine.sgd_step(engine.Inputs.of(encoded), E, W, b, 0, 0.3, engine.Loss("ce"))
    torch_step(reference, encoded, 0, 0.3, LOSSES["ce"]().build(Counter(), 3))
    assert_same_weights(model, *weights(reference))


# --- the epoch loop ----------------------------------------------------------------------------------


@pytest.mark.parametrize("features", ["trigrams", "trigrams+chars"])
def test_epoch_equals_per_example_torch_steps_with_linear_decay(features):
    encoded, base = setup(features, 3, seed=5, rows=6)
    encoded = with_targets(labelled(encoded, "ce weighted smoothed", seed=6), 3, seed=7)
    loss, main = loss_case("ce weighted smoothed", encoded)
    loss.rationale_weight, loss.rationale_pos_weight = 0.5, None
    order, lr, first, total = np.array([2, 0, 5, 1, 3, 0, 4]), 0.3, 4, 14
    E, W, b = weights(base)
    sums = engine.train_epoch(engine.Inputs.of(encoded), E, W, b, order, lr, loss, first_step=first, total_steps=total)

    model, main_sum, r_sum = copy.deepcopy(base), 0.0, 0.0
    optim = OptimConfig(name="sgd_linear", lr=lr)
    for i, row in enumerate(order):
        step_lr = lr * lr_factor(optim, first + i, total)
        m, r = torch_step(model, encoded, int(row), step_lr, main, loss.rationale_weight)
        main_sum, r_sum = main_sum + m, r_sum + r
    assert_same_weights(model, E, W, b)
    assert sums["rows"] == len(order)
    assert sums["rationale_rows"] == sum((encoded[r].targets != IGNORE).any() for r in order)
    np.testing.assert_allclose([sums["main"], sums["rationale"]], [main_sum, r_sum], **TOL)


def test_warm_up_then_decay_equals_per_example_torch_steps():
    encoded, base = setup("bigrams", 3, seed=12, rows=6)
    encoded = labelled(encoded, "ce", seed=13)
    loss, main = loss_case("ce", encoded)
    order, lr, first, total, warmup = np.array([1, 4, 0, 2, 5, 3, 0]), 0.4, 2, 12, 5
    E, W, b = weights(base)
    engine.Updater(engine.Inputs.of(encoded), E, W, b, loss, engine.Optimizer(lr, total, warmup))(order, first)

    model = copy.deepcopy(base)
    optim = OptimConfig(name="sgd_linear", lr=lr, warmup_steps=warmup)
    for i, row in enumerate(order):
        torch_step(model, encoded, int(row), lr * lr_factor(optim, first + i, total), main)
    assert_same_weights(model, E, W, b)


def rows_read(encoded, row: int) -> list[int]:
    """The embedding rows an example reads: its words, their character n-grams, its word n-grams."""
    start, end = encoded.offsets[row], encoded.offsets[row + 1]
    rows = set(encoded.ids[start:end].tolist())
    if encoded.ngrams is not None:
        rows |= set(encoded.ngrams[start:end].ravel().tolist()) - {0}
    if encoded.subwords is not None:
        for w in encoded.word_types[start:end]:
            rows |= set(encoded.subwords.values[encoded.subwords.offsets[w] : encoded.subwords.offsets[w + 1]].tolist())
    return sorted(rows)


@pytest.mark.parametrize("features", ["bigrams", "trigrams+chars"])
def test_weight_decay_shrinks_the_head_and_the_rows_read_before_the_gradient_step(features):
    """Hand-written: gradients from the weights as they were (autograd), then W, b and the rows
    the example reads times (1 - lr * weight_decay), minus lr * gradient; other rows untouched."""
    encoded, base = setup(features, 3, seed=14)
    encoded = with_targets(labelled(encoded, "ce", seed=15), 3, seed=16)
    loss, main = loss_case("ce", encoded)
    loss.rationale_weight = 0.5
    lr, decay = 0.3, 0.4
    for row in range(len(encoded)):
        E, W, b = weights(base)
        engine.sgd_step(engine.Inputs.of(encoded), E, W, b, row, lr, loss, weight_decay=decay)

        model = copy.deepcopy(base)
        batch = Batch.of(encoded, np.array([row]))
        out = model(batch)
        labels = batch.labels
        total = main(out.sentence[labels != IGNORE], labels[labels != IGNORE]) if (labels != IGNORE).any() else 0.0
        total = total + 0.5 * rationale_loss(out.tokens, batch.targets, None, "sentence")
        total.backward()
        with torch.no_grad():
            keep = 1 - lr * decay
            model.embedding.weight[rows_read(encoded, row)] *= keep
            for p in (model.embedding.weight, model.token_head.weight, model.bias):
                if p is not model.embedding.weight:
                    p *= keep
                if p.grad is not None:  # (None: nothing labelled in this row)
                    p -= lr * p.grad
        assert_same_weights(model, E, W, b)


@pytest.mark.parametrize("features", ["bigrams", "trigrams+chars"])
@pytest.mark.parametrize("rationale", [False, True])
def test_adagrad_equals_a_hand_written_loop(features, rationale):
    """Row-wise AdaGrad: each table row an example reads keeps the sum of its gradients' mean
    square and moves by lr * g / (sqrt(sum) + eps); W and b the same per element. Gradients from
    autograd, the updates written out here, over a sequence of examples (the sums carry over)."""
    encoded, base = setup(features, 3, seed=22)
    encoded = labelled(encoded, "ce", seed=23)
    loss, main = loss_case("ce", encoded)
    if rationale:
        encoded = with_targets(encoded, 3, seed=24)
        loss.rationale_weight = 0.5
    order, lr, eps = np.array([0, 3, 1, 0, 5, 2, 6, 4]), 0.2, 1e-8
    E, W, b = weights(base)
    optimizer = engine.Optimizer(lr, len(order), name="adagrad", decay="constant", eps=eps)
    engine.Updater(engine.Inputs.of(encoded), E, W, b, loss, optimizer)(order, 0)

    model = copy.deepcopy(base)
    sums = [torch.zeros(len(model.embedding.weight)), torch.zeros_like(model.token_head.weight)]
    sums.append(torch.zeros_like(model.bias))
    for row in order:
        model.zero_grad()
        batch = Batch.of(encoded, np.array([row]))
        out = model(batch)
        labels = batch.labels
        total = main(out.sentence[labels != IGNORE], labels[labels != IGNORE]) if (labels != IGNORE).any() else 0.0
        if rationale:
            total = total + 0.5 * rationale_loss(out.tokens, batch.targets, None, "sentence")
        if not torch.is_tensor(total) or not total.requires_grad:
            continue
        total.backward()
        with torch.no_grad():
            for r in rows_read(encoded, row):
                g = model.embedding.weight.grad[r]
                sums[0][r] += (g * g).mean()
                model.embedding.weight[r] -= lr * g / (sums[0][r].sqrt() + eps)
            for p, acc in zip((model.token_head.weight, model.bias), sums[1:]):
                g = p.grad if p.grad is not None else torch.zeros_like(p)  # (None: the row's label is unknown)
                acc += g * g
                p -= lr * g / (acc.sqrt() + eps)
    assert_same_weights(model, E, W, b)


def test_threads_sum_the_changes_of_copies_trained_apart():
    """Two threads: each trains its half of the rows on a copy (its own random draws), and the
    weights become the old ones plus both changes; a second call starts from there. The reference
    trains the halves one after the other with the one-thread kernel and adds them with numpy."""
    encoded, base = setup("trigrams+chars", 3, seed=17, rows=9)
    encoded = with_targets(labelled(encoded, "ce", seed=18), 3, seed=19)
    loss, _ = loss_case("ce", encoded)
    loss.rationale_weight = 0.5
    inputs, schedule = engine.Inputs.of(encoded), engine.Optimizer(0.3, 40, 0, 0.1)
    calls = [(np.array([4, 0, 8, 2, 6, 1, 3]), 5), (np.array([7, 5, 0, 2, 1]), 12)]

    def threaded():
        E, W, b = weights(base)
        rngs = engine.seeded(3, 2)
        update = engine.Updater(inputs, E, W, b, loss, schedule, 0.2, 0.1, rngs, threads=2)
        for rows, first in calls:
            update(rows, first)
        update.close()
        return (E, W, b), rngs

    (E, W, b), rngs = threaded()
    expected, draws = weights(base), engine.seeded(3, 2)
    for rows, first in calls:
        cut = len(rows) // 2  # (the first thread takes the smaller half)
        changes = []
        for part, (lo, hi) in enumerate([(0, cut), (cut, len(rows))]):
            copy_ = [a.copy() for a in expected]
            one = engine.Updater(inputs, *copy_, loss, schedule, 0.2, 0.1, draws[part : part + 1])
            one(rows[lo:hi], first + lo)
            changes.append([c - a for c, a in zip(copy_, expected)])
        expected = [a + c0 + c1 for a, (c0, c1) in zip(expected, zip(*changes))]
    for got, want in zip((E, W, b), expected):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6)
    assert rngs.tolist() == draws.tolist()
    again, _ = threaded()
    for a, b_ in zip((E, W, b), again):
        np.testing.assert_array_equal(a, b_)  # bit for bit


def test_hogwild_threads_update_the_weights_themselves():
    """train.hogwild: no copies; every row the examples read moves, in the shared table."""
    encoded, base = setup("bigrams", 1, seed=20, rows=40)
    encoded = labelled(encoded, "bce", seed=21)
    E, W, b = weights(base)
    before = E.copy()
    update = engine.Updater(
        engine.Inputs.of(encoded),
        E,
        W,
        b,
        engine.Loss("bce"),
        engine.Optimizer(0.3, 40),
        threads=2,
        hogwild=True,
        rng=engine.seeded(0, 2),
    )
    assert update.copies is None
    update(np.arange(40), 0)
    update.close()
    read = sorted(set().union(*(rows_read(encoded, r) for r in range(39))))  # (the last row is unlabelled)
    assert set(np.flatnonzero(np.abs(E - before).max(1) > 0)) <= set(read + rows_read(encoded, 39))
    assert (np.abs(E - before).max(1) > 0).sum() > 0.5 * len(read)


def test_epoch_decays_to_zero_at_the_last_step():
    """An epoch whose steps all lie at or past total_steps changes nothing."""
    encoded, model = setup("bigrams", 1)
    encoded = labelled(encoded, "bce", seed=1)
    E, W, b = weights(model)
    before = [a.copy() for a in (E, W, b)]
    engine.train_epoch(engine.Inputs.of(encoded), E, W, b, np.arange(4), 1.0, engine.Loss("bce"), 10, 10)
    for now, then in zip((E, W, b), before):
        np.testing.assert_array_equal(now, then)


# --- dropout and word dropout: torch fed the same draws ---------------------------------------------

MASK64 = 2**64 - 1


class Draws:
    """The kernel's generator, from its definition: xorshift64* (12, 25, 27), 24 high bits."""

    def __init__(self, state: np.ndarray):
        self.x = int(state[0])

    def uniform(self) -> float:
        x = self.x
        x ^= x >> 12
        x ^= (x << 25) & MASK64
        x ^= x >> 27
        self.x = x
        return (((x * 2685821657736338717) & MASK64) >> 40) / 2**24


class FixedMasks(torch.nn.Module):
    """Dropout replaced by given masks, taken in order."""

    def __init__(self, p: float, masks: list[torch.Tensor]):
        super().__init__()
        self.p, self.masks = p, masks

    def forward(self, x):
        return x * self.masks.pop(0)


@pytest.mark.parametrize("features", ["trigrams", "trigrams+chars"])
def test_dropout_and_word_dropout_equal_torch_with_the_same_draws(features):
    encoded, base = setup(features, 3, seed=8)
    encoded = with_targets(labelled(encoded, "ce", seed=9), 3, seed=10)
    loss = engine.Loss("ce", rationale_weight=0.6)
    dropout, word_dropout, D = 0.3, 0.25, base.embedding.embedding_dim
    for row in range(len(encoded)):
        rng = engine.seeded(row)
        draws = Draws(rng)
        E, W, b = weights(base)
        engine.sgd_step(engine.Inputs.of(encoded), E, W, b, row, 0.4, loss, dropout, word_dropout, rng)

        # the same draws, in the kernel's order: word dropout per token, then dropout per element of
        # each word vector, then of each n-gram vector
        start, end = encoded.offsets[row], encoded.offsets[row + 1]
        dropped = encoded.ids.copy()
        for p in range(start, end):
            if draws.uniform() < word_dropout:
                dropped[p] = Vocabulary.unk_id
        G = int((encoded.ngrams[start:end] != 0).sum()) if encoded.ngrams is not None else 0
        keep = np.float32(1 / (1 - dropout))
        mask = [[keep if draws.uniform() >= dropout else 0.0 for _ in range(D)] for _ in range(end - start + G)]
        mask = torch.tensor(mask, dtype=torch.float32)
        model = copy.deepcopy(base)
        model.dropout = FixedMasks(dropout, [mask[: end - start], mask[end - start :]])
        torch_step(model, _with_ids(encoded, dropped), row, 0.4, LOSSES["ce"]().build(Counter(), 3), 0.6)
        assert_same_weights(model, E, W, b)
        assert draws.x == int(rng[0])  # and no other draw was made


def _with_ids(encoded, ids):
    changed = copy.copy(encoded)
    changed.ids = ids
    return changed


def test_dropout_is_reproducible_from_the_seed():
    encoded, model = setup("bigrams+chars", 3)
    encoded = labelled(encoded, "ce", seed=2)
    inputs, order = engine.Inputs.of(encoded), np.array([0, 1, 2, 3, 4, 5, 0])
    runs = []
    for seed in (1, 1, 2):
        E, W, b = weights(model)
        engine.train_epoch(inputs, E, W, b, order, 0.5, engine.Loss("ce"), 0, 7, 0.4, 0.2, engine.seeded(seed))
        runs.append(E)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    with pytest.raises(ValueError, match="rng"):
        engine.train_epoch(inputs, *weights(model), order, 0.5, engine.Loss("ce"), dropout=0.1)


def test_the_engine_imports_no_torch():
    code = "import sys, textcls.engine; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
