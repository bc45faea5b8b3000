"""The flat data path against plain references: column tokenisation against `Tokenizer.split`, the
flat encoder against per-row loops over the documented hashes, the bag of words against a
per-sentence loop (values and gradients), batching, reproducibility, sgd_linear, the run format
check, and predict's streaming."""

from __future__ import annotations

import json
import math
import random
import shutil
import string
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from typer.testing import CliRunner

from conftest import NEGATIVE, POSITIVE, _write_splits, checkpoint_weights, small_config_dict, write_csv
from textcls.batching import Batch, TorchShuffler
from textcls.cli import app
from textcls.config import DataConfig, OptimConfig, TrainConfig, config_from_dict, model_config
from textcls.data import Example, read_examples
from textcls.features import Featurizer
from textcls.losses import LOSSES
from textcls.losses.objective import plain_objective
from textcls.models import build_model
from textcls.run_folder import FORMAT_VERSION
from textcls.sampling import batch_order
from textcls.tasks import TASKS
from textcls.tokenize import Tokenizer, tokenize_column
from textcls.trainer import Optimizer, Trainer, lr_factor
from textcls.vocab import Vocabulary

# --- 1. tokenize_column = Tokenizer.split, row by row ----------------------------------------------

ASCII_PIECES = (
    list(string.ascii_letters + string.digits)
    + list("'-_.,;:!?()[]\"/#@&*+=<>~`$%^\\|{}")
    + [" ", " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x00", "\x7f"]
)
OTHER_PIECES = ["é", "É", "ß", "’", "😀", "漢", "字", "\u00a0", "\u3000", "ñ", "Ω"]
COMMON = ["the", "film", "don't", "well-made", "a-b'c", "x_y", "ok", "it's", "--", "''", "...", "_"]
LONG_WORDS = ["a" * 17, "supercalifragilistic", "antidisestablishmentarianism", "x1y2z3" * 4, "abcdefghijklmnopq"]


def random_text(rng: random.Random, allow_other: bool) -> str:
    pieces = ASCII_PIECES + (OTHER_PIECES if allow_other else [])
    parts = []
    for _ in range(rng.randint(0, 14)):
        r = rng.random()
        if r < 0.12:  # long tokens (more than 16 bytes), often repeated
            word = (
                rng.choice(LONG_WORDS)
                if rng.random() < 0.6
                else "".join(rng.choices(string.ascii_letters, k=rng.randint(17, 40)))
            )
            parts.append(word)
        elif r < 0.35:  # repeated tokens
            parts.append(rng.choice(COMMON))
        elif r < 0.5 and allow_other:
            parts.append("caf" + rng.choice(["é", "e"]) + rng.choice(["", "’s", "'s"]))
        else:
            parts.append("".join(rng.choices(pieces, k=rng.randint(1, 6))))
        parts.append(rng.choice([" ", " ", "\t", "\n", "", "'", "-", "\x1f"]))
    return "".join(parts)


def random_column(seed: int, n: int = 2500) -> list[str]:
    rng = random.Random(seed)
    texts = [random_text(rng, allow_other=rng.random() < 0.3) for _ in range(n)]
    return texts + ["", "   ", "\x1c\x1d", "'", "-", "a", "é"]


def assert_rows_split(texts: list[str], tokenizer: Tokenizer) -> None:
    tokens = tokenize_column(texts, tokenizer)
    assert len(tokens) == len(texts)
    for r, text in enumerate(texts):
        assert tokens.row(r) == tokenizer.split(text), (r, text)
    assert tokens.lengths.tolist() == [len(tokenizer.split(t)) for t in texts]
    assert len(set(tokens.types)) == len(tokens.types)  # equal tokens share one entry


@pytest.mark.parametrize("whitespace", [False, True])
@pytest.mark.parametrize("max_length", [None, 3])
def test_tokenize_column_equals_split_row_by_row(whitespace, max_length):
    texts = random_column(seed=7)
    assert sum(t.isascii() for t in texts) > 1000 and sum(not t.isascii() for t in texts) > 300
    assert any(len(w) > 16 for t in texts if t.isascii() for w in t.split())  # the path for long tokens
    tokenizer = Tokenizer(whitespace=whitespace, max_length=max_length)
    assert_rows_split(texts, tokenizer)
    assert_rows_split([t for t in texts if t.isascii()], tokenizer)  # all rows on the NumPy path
    assert_rows_split([t for t in texts if not t.isascii()], tokenizer)  # no row on it


def test_tokenize_column_with_many_repeated_tokens_takes_the_large_input_path():
    """Over 200 000 tokens: tokens are numbered with pandas instead of np.unique."""
    rng = random.Random(3)
    vocabulary = COMMON + LONG_WORDS + ["w%d" % i for i in range(300)]
    texts = [
        " ".join(rng.choices(vocabulary, k=rng.randint(5, 12))) + rng.choice(["", ".", " !"]) for _ in range(25_000)
    ]
    tokenizer = Tokenizer()
    tokens = tokenize_column(texts, tokenizer)
    assert len(tokens.codes) > 200_000
    split = [tokenizer.split(text) for text in texts]
    expected = [t for row in split for t in row]
    flat = np.asarray(tokens.types, dtype=object)[tokens.codes].tolist()
    assert flat == expected
    assert tokens.offsets.tolist() == np.cumsum([0] + [len(row) for row in split]).tolist()
    assert sorted(tokens.types) == sorted(set(expected))


def test_tokenize_column_survives_two_tokens_with_the_same_key():
    """Two different 16-byte tokens whose 64-bit keys collide (found by a search, checked here with
    the documented key): the column falls back to the regular expression and still splits right."""
    a, b = "collisionsearch1", "JszD7mILQak6DhWL"

    def key(token: str) -> int:
        raw = token.encode("ascii")
        w0, w1 = int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:16], "little")
        return (w0 * 0x9E3779B97F4A7C15 + w1 * 0xC2B2AE3D27D4EB4F + len(raw)) % 2**64

    assert a != b and key(a) == key(b)
    texts = [f"{a} x, y", f"{b} {a} don't", "é z", f"{b}"]
    assert_rows_split(texts, Tokenizer())
    assert_rows_split(texts, Tokenizer(whitespace=True, max_length=2))


@pytest.mark.parametrize("whitespace", [False, True])
def test_tokenize_column_in_small_chunks_equals_split(monkeypatch, whitespace):
    """A column tokenised a few bytes at a time (chunks of rows, merged into one table of tokens),
    with a colliding pair in one chunk only: still the regex's tokens, row by row."""
    import textcls.tokenize as tokenize_module

    monkeypatch.setattr(tokenize_module, "CHUNK_BYTES", 64)
    texts = random_column(seed=5, n=400) + ["collisionsearch1 JszD7mILQak6DhWL", "JszD7mILQak6DhWL again"]
    assert len(tokenize_module._ascii_chunks(list(range(len(texts))), texts)) > 10
    assert_rows_split(texts, Tokenizer(whitespace=whitespace))
    assert_rows_split(texts, Tokenizer(whitespace=whitespace, max_length=3))


@pytest.mark.parametrize("text", ["--", "''", "'-"])
def test_a_column_of_two_joiner_characters(text):
    tokenizer = Tokenizer()
    assert tokenizer.split(text) == list(text)
    assert tokenize_column([text], tokenizer).row(0) == list(text)


# --- 2. the flat encoder against per-row loops ------------------------------------------------------

PRIME, MOD = 116_049_371, 2**31 - 1


def ref_ids(text: str, tokenizer: Tokenizer, vocab: Vocabulary) -> list[int]:
    return [vocab.stoi.get(tokenizer.normalize(t), 1) for t in tokenizer.split(text)]


def ref_ngrams(words: list[str], n_max: int, offset: int, buckets: int) -> list[list[int]]:
    """For each word, the ids of the n-grams of length 2..n_max starting there (0 past the row end)."""
    out = []
    for i in range(len(words)):
        h = zlib.crc32(words[i].encode("utf-8"))
        row = []
        for n in range(2, n_max + 1):
            if i + n <= len(words):
                h = (h * PRIME + zlib.crc32(words[i + n - 1].encode("utf-8"))) % MOD
                row.append(offset + h % buckets)
            else:
                row.append(0)
        out.append(row)
    return out


def ref_subwords(word: str, lo: int, hi: int, offset: int, buckets: int) -> list[int]:
    marked = f"<{word}>"
    grams = set()
    for n in range(lo, hi + 1):
        for i in range(len(marked) - n + 1):
            grams.add(marked[i : i + n])
    return sorted(offset + zlib.crc32(g.encode("utf-8")) % buckets for g in grams)


ENCODER_TEXTS = [
    "The film was GOOD, really good",
    "solo",  # one word: no word n-gram
    'An unknownword and zzyzx appear; "quoted", with commas',
    "line one\nline two in the same cell",
    "Don't stop: well-made films aren't rare",
    "Café crème, naïve façade — 漢字 and ’curly’ quotes",
    "NA",
    "null null null null null null",
    "the the the The THE tHe",
]
ENCODER_VOCAB = [
    "the",
    "film",
    "was",
    "good",
    "really",
    "and",
    "don't",
    "well-made",
    "films",
    "café",
    "The",
    "GOOD",
    ",",
    "null",
    ".",
]


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("max_length", [None, 4])
def test_encoder_matches_per_row_reference_through_csv(tmp_path, lowercase, max_length):
    path = write_csv(
        tmp_path / "enc.csv", ["text", "label"], [[t, "pos" if i % 2 else "neg"] for i, t in enumerate(ENCODER_TEXTS)]
    )
    tokenizer = Tokenizer(lowercase=lowercase, max_length=max_length)
    vocab = Vocabulary(ENCODER_VOCAB)
    buckets, lo, hi = 101, 2, 4
    model = model_config(word_ngrams=3, char_ngrams=(lo, hi), buckets=buckets)
    fz = Featurizer(TASKS["classification"], model, tokenizer, vocab, ["neg", "pos"])
    dataset = read_examples(path, DataConfig(train=str(path)), TASKS["classification"], tokenizer)
    # encode twice: the second pass reads the featurizer's per-word caches
    for encoded in (fz.encode(dataset), fz.encode_all(list(dataset))):
        assert len(encoded) == len(ENCODER_TEXTS)
        assert encoded.labels.tolist() == [i % 2 for i in range(len(ENCODER_TEXTS))]
        for r, text in enumerate(ENCODER_TEXTS):
            words = [tokenizer.normalize(t) for t in tokenizer.split(text)]
            row = encoded[r]
            assert row.ids.tolist() == ref_ids(text, tokenizer, vocab)
            assert row.ngrams.tolist() == ref_ngrams(words, 3, len(vocab), buckets)
            assert [s.tolist() for s in row.subwords] == [ref_subwords(w, lo, hi, len(vocab), buckets) for w in words]
    # the cases the texts are there for
    one_word = encoded[1]
    assert one_word.ngrams.tolist() == [[0, 0]]
    assert 1 in encoded[2].ids.tolist()  # unknown words
    first = encoded[0].ids.tolist()
    assert (first[0] == vocab.stoi["the"]) == lowercase and (first[0] == vocab.stoi["The"]) != lowercase
    assert len(encoded[7].ids) == (max_length or 6)


def test_encoder_without_hashed_features_has_no_ngram_arrays():
    fz = Featurizer(TASKS["classification"], model_config(), Tokenizer(), Vocabulary(["a", "b"]), ["x", "y"])
    encoded = fz.encode_all([Example(["a", "c", "B"], "x"), Example(["b"], "y")])
    assert encoded.ngrams is None and encoded.subwords is None
    assert encoded.ids.tolist() == [2, 1, 3, 3] and encoded.offsets.tolist() == [0, 3, 4]
    assert fz.num_features == 4


# --- 3. fast bag of words = a per-sentence loop ----------------------------------------------------

BOW_VOCAB = ["the", "film", "was", "good", "bad", "plot", "and", "acting", "really", "a", "it"]
BOW_WORDS = BOW_VOCAB + ["zzyzx", "unseen", "qwerty"]  # the last three are unknown
BOW_VARIANTS = {
    "words": {},
    "word_ngrams": {"word_ngrams": 3},
    "char_ngrams": {"char_ngrams": (2, 3)},
    "both": {"word_ngrams": 3, "char_ngrams": (2, 3)},
}


def bow_setup(variant: str, sparse: bool, seed: int, outputs: int = 3):
    cfg = model_config(type="bow", embedding_dim=6, buckets=53, dropout=0.0, sparse=sparse, **BOW_VARIANTS[variant])
    fz = Featurizer(TASKS["classification"], cfg, Tokenizer(), Vocabulary(BOW_VOCAB), [str(c) for c in range(outputs)])
    torch.manual_seed(seed)
    model = build_model(cfg, TASKS["classification"], fz.num_features, outputs)
    with torch.no_grad():
        model.bias.copy_(torch.linspace(-0.5, 0.7, outputs))
        model.embedding.weight.normal_()  # larger than the init: differences show
        model.embedding.weight[0].zero_()
    rng = random.Random(seed)
    sentences = [rng.choices(BOW_WORDS, k=n) for n in rng.sample(range(1, 10), rng.randint(5, 6))]
    sentences[rng.randrange(len(sentences))][0] = "unseen"  # at least one unknown word
    return fz, model, sentences


def reference_bow(E, W, b, sentences, fz: Featurizer):
    """(sentence logits (B, C), token scores per sentence (T_i, C)), one sentence at a time, from the
    documented definitions (ids recomputed with the reference hashes above)."""
    cfg, V = fz.model, len(fz.vocab)
    logits, token_scores = [], []
    for words in sentences:
        text = " ".join(words)
        ids = ref_ids(text, fz.tokenizer, fz.vocab)
        vectors = []
        for word, i in zip(words, ids):
            v = E[i]
            if cfg.char_ngrams is not None:
                subs = ref_subwords(word, *cfg.char_ngrams, V, cfg.buckets)
                v = (v + sum((E[s] for s in subs), torch.zeros_like(v))) / (1 + len(subs))
            vectors.append(v)
        scores = [v @ W.T for v in vectors]
        grams = []
        if cfg.word_ngrams > 1:
            for t, row in enumerate(ref_ngrams(words, cfg.word_ngrams, V, cfg.buckets)):
                for k, g in enumerate(row):
                    if g:
                        n = k + 2
                        grams.append(E[g])
                        for o in range(n):
                            scores[t + o] = scores[t + o] + (E[g] @ W.T) / n
        units = torch.stack(vectors + grams)
        logits.append(units.mean(0) @ W.T + b)
        token_scores.append(torch.stack(scores))
    return torch.stack(logits), token_scores


def check_outputs(out, ref_logits, ref_tokens, tol=1e-5):
    torch.testing.assert_close(out.sentence, ref_logits, atol=tol, rtol=tol)
    padded = out.tokens
    assert padded.shape == (len(ref_tokens), max(len(t) for t in ref_tokens), ref_logits.shape[1])
    for i, scores in enumerate(ref_tokens):
        torch.testing.assert_close(padded[i, : len(scores)], scores, atol=tol, rtol=tol)
        assert torch.all(padded[i, len(scores) :] == 0)
    torch.testing.assert_close(out.flat_tokens, torch.cat(ref_tokens), atol=tol, rtol=tol)


def dense_grad(p: torch.Tensor) -> torch.Tensor:
    """A parameter's gradient as a dense tensor (zeros where nothing reached it)."""
    if p.grad is None:
        return torch.zeros_like(p)
    return p.grad.to_dense() if p.grad.is_sparse else p.grad


@pytest.mark.parametrize("variant", list(BOW_VARIANTS))
@pytest.mark.parametrize("sparse", [True, False])
def test_bow_matches_reference_loop_values_and_gradients(variant, sparse):
    for seed in (0, 1):
        fz, model, sentences = bow_setup(variant, sparse, seed)
        batch = Batch.of(fz.encode_all([Example(s, None) for s in sentences]))
        params = {"E": model.embedding.weight, "W": model.token_head.weight, "b": model.bias}
        model.train()
        for which in ("sentence", "tokens"):
            leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
            ref_logits, ref_tokens = reference_bow(leaves["E"], leaves["W"], leaves["b"], sentences, fz)
            model.zero_grad(set_to_none=True)
            out = model(batch)
            check_outputs(out, ref_logits.detach(), [t.detach() for t in ref_tokens])
            if which == "sentence":
                out.sentence.sum().backward()
                ref_logits.sum().backward()
            else:
                out.tokens.sum().backward()
                sum(t.sum() for t in ref_tokens).backward()
            assert model.embedding.weight.grad.is_sparse == sparse
            for k, p in params.items():
                expected = leaves[k].grad if leaves[k].grad is not None else torch.zeros_like(p)
                torch.testing.assert_close(dense_grad(p), expected, atol=1e-5, rtol=1e-5, msg=f"{which}: d/d{k}")


@pytest.mark.parametrize("variant", list(BOW_VARIANTS))
def test_bow_dropout_path_matches_reference_loop(variant):
    """Training with dropout > 0 takes another sum (vector by vector); with a vanishing rate it must
    give the same logits and gradients."""
    fz, model, sentences = bow_setup(variant, False, seed=2)
    model.dropout.p = 1e-9
    batch = Batch.of(fz.encode_all([Example(s, None) for s in sentences]))
    model.train()
    leaves = [
        p.detach().clone().requires_grad_(True) for p in (model.embedding.weight, model.token_head.weight, model.bias)
    ]
    ref_logits, _ = reference_bow(*leaves, sentences, fz)
    torch.manual_seed(0)
    out = model(batch)
    torch.testing.assert_close(out.sentence, ref_logits.detach(), atol=1e-5, rtol=1e-5)
    out.sentence.sum().backward()
    ref_logits.sum().backward()
    for p, leaf in zip((model.embedding.weight, model.token_head.weight, model.bias), leaves):
        torch.testing.assert_close(dense_grad(p), leaf.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", list(BOW_VARIANTS))
@pytest.mark.parametrize("sparse", [True, False])
def test_bow_eval_without_gradients_reads_fresh_weights(variant, sparse):
    fz, model, sentences = bow_setup(variant, sparse, seed=3)
    batch = Batch.of(fz.encode_all([Example(s, None) for s in sentences]))
    model.eval()

    def reference():
        with torch.no_grad():
            return reference_bow(model.embedding.weight, model.token_head.weight, model.bias, sentences, fz)

    with torch.no_grad():
        first = model(batch)
        check_outputs(first, *reference())
        first_tokens = first.flat_tokens.clone()
        model.embedding.weight.mul_(-1.5).add_(0.25)  # in place: the same tensor, new values
        second = model(batch)
        check_outputs(second, *reference())
        assert not torch.allclose(second.flat_tokens, first_tokens, atol=1e-3)
        model.token_head.weight.mul_(2.0).sub_(0.1)  # the head alone
        check_outputs(model(batch), *reference())
    with torch.inference_mode():  # as predict_items runs it
        check_outputs(model(batch), *reference())
    # an optimiser step changes the weights too
    model.train()
    optimizer = Optimizer(OptimConfig(name="sgd_linear", lr=0.5), model, batch_size=1)
    model(batch).tokens.sum().backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        check_outputs(model(batch), *reference())


def test_bow_eval_token_scores_follow_weights_changed_through_data():
    fz, model, sentences = bow_setup("words", False, seed=8)
    batch = Batch.of(fz.encode_all([Example(s, None) for s in sentences]))
    model.eval()
    with torch.no_grad():
        model(batch).flat_tokens  # fills the score table
        model.token_head.weight.data.mul_(2.0)
        out = model(batch)
        check_outputs(out, *reference_bow(model.embedding.weight, model.token_head.weight, model.bias, sentences, fz))


# --- 4. batches -------------------------------------------------------------------------------------


def test_batch_order_covers_every_row_once_and_ignores_thread_count():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=1003)
    previous = torch.get_num_threads()
    orders = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            orders.append(batch_order(lengths, 7, TorchShuffler(torch.Generator().manual_seed(5)), bucket=True))
    finally:
        torch.set_num_threads(previous)
    batches = orders[0]
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert sorted(len(b) for b in batches) == [len(lengths) % 7] + [7] * (len(lengths) // 7)
    assert [b.tolist() for b in orders[1]] == [b.tolist() for b in batches]
    # bucketing: much less padding than the same rows in random batches
    padding = lambda bs: sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in bs)
    unbucketed = batch_order(lengths, 7, TorchShuffler(torch.Generator().manual_seed(5)), bucket=False)
    assert padding(batches) < padding(unbucketed) / 3
    assert [b.tolist() for b in batch_order(lengths, 7, None, bucket=False)] == [
        list(range(s, min(s + 7, 1003))) for s in range(0, 1003, 7)
    ]


def test_encoded_batch_gathers_rows_and_pad_unpad_round_trip():
    fz, _, _ = bow_setup("both", True, seed=4)
    rng = random.Random(4)
    sentences = [rng.choices(BOW_WORDS, k=rng.randint(1, 8)) for _ in range(20)]
    encoded = fz.encode_all([Example(s, None) for s in sentences])
    rows = np.array([13, 2, 19, 7, 0, 8])
    batch = Batch.of(encoded, rows)
    T = max(len(sentences[r]) for r in rows)
    assert batch.tokens.shape == (len(rows), T)
    flat_ids, flat_grams, flat_subwords = [], [], []
    for i, r in enumerate(rows):
        words = sentences[r]
        ids = ref_ids(" ".join(words), fz.tokenizer, fz.vocab)
        assert batch.tokens[i].tolist() == ids + [0] * (T - len(ids))
        assert batch.mask[i].tolist() == [True] * len(ids) + [False] * (T - len(ids))
        flat_ids += ids
        flat_grams += [g for row in ref_ngrams(words, 3, len(fz.vocab), 53) for g in row if g]
        flat_subwords += [ref_subwords(w, 2, 3, len(fz.vocab), 53) for w in words]
    assert batch.ids.tolist() == flat_ids
    assert batch.lengths.tolist() == [len(sentences[r]) for r in rows]
    assert batch.ngram_bags.tolist() == flat_grams
    ends = batch.subword_offsets.tolist()[1:] + [len(batch.subwords)]
    assert [batch.subwords[s:e].tolist() for s, e in zip(batch.subword_offsets.tolist(), ends)] == flat_subwords
    assert encoded.ids[batch.index].tolist() == flat_ids
    values = torch.randn(len(flat_ids), 3)
    grid = batch.pad(values, fill=-7.0)
    assert grid.shape == (len(rows), T, 3)
    start = 0
    for i, r in enumerate(rows):
        n = len(sentences[r])
        assert torch.equal(grid[i, :n], values[start : start + n])
        assert torch.all(grid[i, n:] == -7.0)
        start += n
    assert torch.equal(batch.unpad(grid), values)


def test_lstm_padded_batch_equals_each_row_alone():
    cfg = model_config(type="lstm", embedding_dim=6, hidden_dim=5, buckets=53, char_ngrams=(2, 3), sparse=False)
    fz = Featurizer(TASKS["classification"], cfg, Tokenizer(), Vocabulary(BOW_VOCAB), ["a", "b", "c"])
    torch.manual_seed(0)
    model = build_model(cfg, TASKS["classification"], fz.num_features, 3).eval()
    rng = random.Random(5)
    sentences = [rng.choices(BOW_WORDS, k=n) for n in (7, 1, 4, 9, 2, 4)]
    encoded = fz.encode_all([Example(s, None) for s in sentences])
    order = np.array([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        together = model(Batch.of(encoded, order))
        for i, r in enumerate(order):
            alone = model(Batch.of(encoded, np.array([r])))
            n = len(sentences[r])
            torch.testing.assert_close(together.sentence[i], alone.sentence[0], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(together.tokens[i, :n], alone.tokens[0], atol=1e-5, rtol=1e-5)


# --- 5. reproducibility -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("optim", ["adamw", "sgd_linear"])
def test_training_twice_gives_identical_metrics(make_config, tmp_path, threads, optim):
    from textcls.train import train

    csvs = _write_splits(tmp_path / "data", {"neg": NEGATIVE, "pos": POSITIVE}, sizes=(64, 30, 10))
    lr = {"adamw": 0.05, "sgd_linear": 0.5}[optim]
    config = make_config(
        csvs,
        train={"epochs": 2, "threads": threads, "batch_size": 8, "engine": "torch"},
        optim={"name": optim, "lr": lr},
        model={"word_ngrams": 2, "buckets": 1000},
    )
    previous = torch.get_num_threads()
    runs = [train(config, out=tmp_path / f"run{i}").run_dir for i in range(2)]
    assert torch.get_num_threads() == previous  # train() puts the caller's thread count back
    a, b = [json.loads((run / "metrics.json").read_text()) for run in runs]
    assert a == b
    assert (runs[0] / "metrics.json").read_bytes() == (runs[1] / "metrics.json").read_bytes()
    wa, wb = [load_file(str(checkpoint_weights(run, "last"))) for run in runs]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    # the model learnt something (better than chance), so these are not two untrained models
    assert a["valid"]["accuracy"] > 0.6 and a["valid"]["loss"] < math.log(2)


# --- 6. sgd_linear ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sparse", [True, False])
def test_sgd_linear_step_is_plain_sgd_at_lr_times_batch_size(sparse):
    fz, model, sentences = bow_setup("both", sparse, seed=6, outputs=3)
    labels = torch.tensor([i % 3 for i in range(len(sentences))])
    batch = Batch.of(fz.encode_all([Example(s, None) for s in sentences]))
    cfg = OptimConfig(name="sgd_linear", lr=0.03)
    total_steps = 10
    optimizer = Optimizer(cfg, model, batch_size=len(sentences))
    params = [model.embedding.weight, model.token_head.weight, model.bias]
    model.train()
    for step in (0, 3):  # the second step at 1 - 3/10 of the rate
        before = [p.detach().clone() for p in params]
        leaves = [p.clone().requires_grad_(True) for p in before]
        ref_logits, _ = reference_bow(*leaves, sentences, fz)
        F.cross_entropy(ref_logits, labels).backward()  # the batch-mean loss
        rate = 0.03 * len(sentences) * (1 - step / total_steps)
        expected = [x - rate * leaf.grad for x, leaf in zip(before, leaves)]

        optimizer.zero_grad()
        F.cross_entropy(model(batch).sentence, labels).backward()
        optimizer.set_lr_factor(lr_factor(cfg, step, total_steps))
        optimizer.step()
        for p, e in zip(params, expected):
            torch.testing.assert_close(p.detach(), e, atol=1e-6, rtol=1e-5)
        untouched = leaves[0].grad.abs().sum(1) == 0  # embedding rows the batch did not use
        assert untouched.any() and torch.equal(params[0].detach()[untouched], before[0][untouched])


def test_sgd_linear_rate_decays_linearly_to_zero_over_training():
    cfg = OptimConfig(name="sgd_linear", lr=0.1)  # schedule "constant": sgd_linear decays anyway
    assert [lr_factor(cfg, s, 8) for s in range(9)] == pytest.approx([1 - s / 8 for s in range(9)])
    assert lr_factor(cfg, 8, 8) == 0.0
    # and the trainer applies it at every step
    fz, model, _ = bow_setup("words", True, seed=7, outputs=2)
    rng = random.Random(7)
    items = fz.encode_all([Example(rng.choices(BOW_WORDS, k=rng.randint(1, 6)), str(i % 2)) for i in range(10)])
    train_cfg = TrainConfig(epochs=3, batch_size=4, seed=0, device="cpu", threads=1)
    objective = plain_objective(LOSSES["ce"](), TASKS["classification"], 2)
    trainer = Trainer(model, objective, cfg, train_cfg, torch.device("cpu"))
    seen = []
    step = trainer.optimizer.step
    trainer.optimizer.step = lambda: (seen.append([g["lr"] for g in trainer.optimizer.param_groups]), step())
    trainer.fit(items, lambda: {}, "accuracy", lambda *a: None)
    total = math.ceil(10 / 4) * 3
    assert len(seen) == total
    for s, lrs in enumerate(seen):
        assert lrs == pytest.approx([0.1 * 4 * (1 - s / total)] * len(lrs))
    assert len(seen[0]) == 2  # dense and sparse parameters, both decayed


# --- 7 and 8. the run format check and predict's streaming ------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from textcls.train import train

    root = tmp_path_factory.mktemp("flat")
    csvs = _write_splits(root / "data", {"neg": NEGATIVE, "pos": POSITIVE}, sizes=(120, 30, 20))
    config = config_from_dict(small_config_dict(csvs, root / "runs", train={"epochs": 3}))
    previous = torch.get_num_threads()
    try:
        return train(config, out=root / "run").run_dir
    finally:
        torch.set_num_threads(previous)


def invoke(*args, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


@pytest.mark.parametrize("edit", ["drop", "old"])
def test_run_without_format_version_is_refused_in_one_line(run_dir, tmp_path, edit):
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    info = json.loads((old / "model.json").read_text())
    assert info.pop("format_version") == FORMAT_VERSION
    if edit == "old":
        info["format_version"] = 1
    (old / "model.json").write_text(json.dumps(info))
    for args in (("predict", old, "good film"), ("eval", old, tmp_path / "unused.csv")):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1, result.output
        assert "train it again" in lines[0] and "Traceback" not in result.output
    assert invoke("predict", run_dir, "good film").exit_code == 0  # the untouched run still loads


def test_run_saved_with_every_model_field_still_loads(run_dir, tmp_path):
    """Runs written before model configs were per type saved every model field (an LSTM's
    `pooling` beside a bag of words): they load, and predict as before."""
    import yaml

    from textcls.checkpoint import load_run
    from textcls.predict import predict_texts

    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    saved = yaml.safe_load((old / "config.yaml").read_text())
    assert saved["model"]["type"] == "bow"
    saved["model"].update(num_layers=1, bidirectional=True, pooling="attention")  # the LSTM fields it held
    (old / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    texts = ["a good film", "dull and boring plot"]
    assert predict_texts(load_run(old), texts) == predict_texts(load_run(run_dir), texts)


def test_predict_tokens_do_not_depend_on_the_batch(run_dir):
    from textcls.checkpoint import load_run
    from textcls.predict import predict_texts

    run = load_run(run_dir)
    together = predict_texts(run, ["--", "good film"])[0]
    assert together["tokens"] == ["-", "-"]
    assert predict_texts(run, ["--"])[0] == together


class RecordingStdin:
    """An iterator over lines that records how far it has been read."""

    def __init__(self, lines: list[str], events: list):
        self.lines, self.events, self.read = lines, events, 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.read == len(self.lines):
            self.events.append("eof")
            raise StopIteration
        self.read += 1
        self.events.append(f"read {self.read}")
        return self.lines[self.read - 1]


def test_lines_reads_stdin_lazily(monkeypatch):
    from textcls.cli import _chunks, _lines

    stdin = RecordingStdin(["one\n", "\n", "two\r\n", "  \n", "three\n", "four\n", "five"], [])
    monkeypatch.setattr(sys, "stdin", stdin)
    lines = _lines([], None)
    assert stdin.read == 0  # nothing read before the first line is asked for
    assert next(lines) == "one"
    assert stdin.read == 1
    assert next(lines) == "" and stdin.read == 2  # blank lines too: results stay aligned with the input
    assert next(lines) == "two" and stdin.read == 3
    assert list(lines) == ["  ", "three", "four", "five"]
    stdin = RecordingStdin(["a\n", "b\n", "c\n", "d\n", "e\n"], [])
    monkeypatch.setattr(sys, "stdin", stdin)
    chunks = _chunks(_lines(["x", "-"], None), 2)
    assert next(chunks) == ["x", "a"] and stdin.read == 1
    assert next(chunks) == ["b", "c"] and stdin.read == 3
    assert list(chunks) == [["d", "e"]]


TEXTS5 = ["a good film", "awful and dull", "the plot was lovely", "terrible acting", "superb superb it really was"]


def test_predict_in_batches_of_two_equals_one_call(run_dir):
    from textcls.checkpoint import load_run
    from textcls.predict import predict_texts

    expected = predict_texts(load_run(run_dir), TEXTS5)
    result = invoke("predict", run_dir, "--batch-size", 2, "-f", "json", input="\n".join(TEXTS5) + "\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert [json.loads(line) for line in lines] == expected
    assert [p["label"] for p in expected] == ["pos", "neg", "pos", "neg", "pos"]


def test_predict_writes_each_batch_before_reading_the_next(run_dir, monkeypatch):
    """The command itself, with stdin and stdout replaced: batch k's lines go out before line
    2k + 1 is read; the texts are numbered on from batch to batch, the blank line included."""
    import textcls.predict
    from textcls.cli import Backend, Format, predict

    events: list = []

    class Out:
        def __init__(self):
            self.buffer = SimpleNamespace(
                write=lambda data: (events.append("write %d" % data.count(b"\n")), written.append(data))
            )

        def flush(self):
            events.append("flush")

        def write(self, text):  # nothing else may be printed
            raise AssertionError(f"unexpected text output {text!r}")

    written: list[bytes] = []
    calls = []
    real = textcls.predict.predict_texts
    monkeypatch.setattr(
        textcls.predict,
        "predict_texts",
        lambda run, chunk, size, first_line, top_k=None, as_json=False: (
            calls.append((list(chunk), first_line)),
            real(run, chunk, size, first_line, as_json=as_json),
        )[1],
    )
    monkeypatch.setattr(
        sys, "stdin", RecordingStdin([t + "\n" for t in TEXTS5[:2]] + ["\n"] + [t + "\n" for t in TEXTS5[2:]], events)
    )
    monkeypatch.setattr(sys, "stdout", Out())
    predict(
        run_dir=run_dir,
        texts=None,
        file=None,
        encoding="utf-8",
        fmt=Format.json,
        batch_size=2,
        checkpoint="best",
        sort=False,
        top_k=None,
        calibration=True,
        csv=None,
        column="text",
        out=None,
        word_scores=False,
        backend=Backend.torch,
        onnx=None,
        device="cpu",
    )
    assert events == [
        "read 1",
        "read 2",
        "write 2",
        "flush",
        "read 3",
        "read 4",
        "write 2",
        "flush",
        "read 5",
        "read 6",
        "write 2",
        "flush",
        "eof",
    ]
    lines = TEXTS5[:2] + [""] + TEXTS5[2:]
    assert calls == [(lines[:2], 1), (lines[2:4], 3), (lines[4:], 5)]
    from textcls.checkpoint import load_run

    assert [json.loads(line) for line in b"".join(written).splitlines()] == real(load_run(run_dir), lines)


# --- 9. Hogwild ---------------------------------------------------------------------------------------


def test_hogwild_child_updates_reach_the_parent_weights(monkeypatch):
    """Two processes, two batches over disjoint words: the parent trains the first, the child the
    second, and both sets of embedding rows have moved in the parent's model afterwards."""
    from textcls import trainer as trainer_module
    from textcls.encoded import Encoded, EncodedRow
    from textcls.losses.objective import plain_objective

    first, second = [2, 3, 4], [5, 6, 7]  # word ids of the two batches
    rows = [
        EncodedRow(np.array(first), 0),
        EncodedRow(np.array(first[::-1]), 1),
        EncodedRow(np.array(second), 0),
        EncodedRow(np.array(second[::-1]), 1),
    ]
    items = Encoded.from_rows(rows)
    monkeypatch.setattr(trainer_module, "batch_order", lambda *a, **k: [np.array([0, 1]), np.array([2, 3])])
    torch.manual_seed(0)
    model = build_model(model_config(type="bow", embedding_dim=4), TASKS["classification"], 10, 2)
    objective = plain_objective(LOSSES["ce"](), TASKS["classification"], 2)
    trainer = trainer_module.Trainer(
        model,
        objective,
        OptimConfig(name="sgd_linear", lr=1.0),
        TrainConfig(batch_size=2, threads=2, hogwild=True),
        torch.device("cpu"),
    )
    trainer.total_steps = 10  # as fit() sets it: the learning rate is not yet decayed to 0
    before = model.embedding.weight.detach().clone()
    record = trainer.train_epoch(items, 1)
    after = model.embedding.weight.detach()
    moved = (after - before).abs().sum(1)
    assert (moved[first] > 0).all() and (moved[second] > 0).all()  # the parent's rows and the child's
    assert (moved[[0, 1, 8, 9]] == 0).all()  # rows no batch used
    assert trainer.step_count == 2 and record["train_loss"] > 0


def test_hogwild_needs_sgd_linear(make_config):
    from textcls.errors import ConfigError
    from textcls.train import train

    with pytest.raises(ConfigError, match="sgd_linear"):
        train(make_config(train={"hogwild": True, "threads": 2}, optim={"name": "adamw"}))


# --- 10. small promises: threads, JSON Lines --------------------------------------------------------


def test_threads_auto_is_the_cores_this_process_may_use(monkeypatch):
    from textcls.config import resolve_threads

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 3, 5})
    assert resolve_threads("auto") == 3
    assert resolve_threads(7) == 7


def test_json_lines_keep_non_ascii_text_as_it_is(run_dir):
    text = "un café 😀 東京 good film"
    result = invoke("predict", run_dir, text, "--format", "json")
    assert result.exit_code == 0
    line = result.output.strip()
    assert text in line and "\\u" not in line  # UTF-8 as it is, not \u-escaped
    assert json.loads(line)["text"] == text


def test_weight_decay_reaches_sparse_rows():
    """With SparseAdam, weight decay shrinks the rows a batch uses by lr * weight_decay before each
    update (as AdamW decays dense weights), checked against a hand-written loop; other rows stay."""
    lr, wd = 0.05, 0.5
    results = []
    for decayed_by_hand in (False, True):
        fz, model, sentences = bow_setup("words", True, seed=8, outputs=2)
        model.train()
        labels = torch.tensor([i % 2 for i in range(len(sentences))])
        batch = Batch.of(fz.encode_all([Example(s, None) for s in sentences[:3]]))  # not every word
        optimizer = Optimizer(OptimConfig(name="adamw", lr=lr, weight_decay=wd), model)  # AdamW decays the dense head
        if decayed_by_hand:
            optimizer.weight_decay = 0.0  # only the sparse rows' decay, done below instead
        before = model.embedding.weight.detach().clone()
        for _ in range(3):
            optimizer.zero_grad()
            F.cross_entropy(model(batch).sentence, labels[:3]).backward()
            used = model.embedding.weight.grad.coalesce().indices()[0]
            if decayed_by_hand:
                with torch.no_grad():
                    model.embedding.weight[used] *= 1 - lr * wd
            optimizer.step()
        results.append((before, model.embedding.weight.detach().clone(), used))
    (before, after, used), (_, expected, _) = results
    torch.testing.assert_close(after, expected, atol=1e-7, rtol=1e-6)
    unused = torch.ones(len(before), dtype=torch.bool)
    unused[used] = False
    assert unused[1:].any() and torch.equal(after[unused], before[unused])  # no decay without use
    no_decay = Optimizer(OptimConfig(name="adamw", lr=lr), model)
    assert not no_decay.weight_decay and not torch.allclose(after[used], before[used])
